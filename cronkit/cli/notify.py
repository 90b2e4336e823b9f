"""`cronkit notify test NAME` and `cronkit notify log`: try a notifier, see what was sent."""

from __future__ import annotations

import os
import time
from json import dumps

import typer

from cronkit import runlog
from cronkit.cli.common import (
    JSON_OPTION,
    cli_errors,
    get_registry,
    get_settings,
    print_json,
    print_table,
    short_time,
    task_filter,
)
from cronkit.errors import UsageError
from cronkit.notify import hcsync
from cronkit.notify.deliver import send_once
from cronkit.notify.events import sample_event
from cronkit.notify.hcsync import tasks_using
from cronkit.notify.outbox import recent
from cronkit.safe.redact import redactor_for

app = typer.Typer(help="Notifications: send a test, list deliveries.\n\nExample: cronkit notify test ops-hook",
                  no_args_is_help=True)


@app.command("test")
@cli_errors
def test(ctx: typer.Context, name: str = typer.Argument(..., help="A [notify.<name>] table of the config."),
         json: bool = JSON_OPTION) -> None:
    """Send a sample event to one notifier now, outside the outbox; exit 1 if it was not delivered.

    Example: cronkit notify test ops-hook
    """
    settings = get_settings(ctx)
    notifier = settings.notifiers.get(name)
    if notifier is None:
        known = ", ".join(sorted(settings.notifiers)) or "none configured"
        raise UsageError(f"unknown notifier {name!r} (known: {known})")
    redact = redactor_for(settings, os.environ)
    task = None
    if notifier.kind == "healthchecks" and "{task}" in (notifier.url or ""):
        users = tasks_using(settings, get_registry(ctx), name)
        if not users:
            raise UsageError(f"notify test {name}: its url has {{task}} and no task scheduled here uses it")
        task = users[0].name
    event = redact.value(sample_event(name, settings.public_url, task))
    assert isinstance(event, dict)
    error = send_once(notifier, event, settings.notify_environ(os.environ), time.monotonic() + notifier.timeout * 2 + 1)
    if json:
        print_json({"notifier": name, "kind": notifier.kind, "delivered": error is None, "error": error})
    elif error is None and notifier.kind == "healthchecks":
        print(f"{name}: sent a test ping to /log (it shows in the check's events; its state does not change)")
    elif error is None:
        print(f"{name}: sent a test {notifier.kind} notification")
    else:
        typer.echo(f"cronkit: error: {name}: {error}", err=True)
    if error is not None:
        raise typer.Exit(1)


@app.command("sync")
@cli_errors
def sync(ctx: typer.Context, name: str = typer.Argument(..., help="A healthchecks [notify.<name>] table."),
         dry_run: bool = typer.Option(False, "--dry-run", help="Print the checks it would create or update; send nothing."),
         json: bool = JSON_OPTION) -> None:
    """Create or update one healthchecks check per task that uses NAME: schedule, zone, grace, description.

    Through healthchecks' API v3 (`api_url`, default the url's origin + /api/v3/) with the key in
    the variable `api_key_env`.

    Example: cronkit notify sync ops-checks --dry-run
    """
    settings = get_settings(ctx)
    notifier = settings.notifiers.get(name)
    if notifier is None or notifier.kind != "healthchecks":
        known = ", ".join(sorted(n for n, v in settings.notifiers.items() if v.kind == "healthchecks")) or "none configured"
        raise UsageError(f"notify sync: {name!r} is not a healthchecks notifier (known: {known})")
    specs = [hcsync.check_spec(task, settings) for task in hcsync.tasks_using(settings, get_registry(ctx), name)]
    if dry_run:
        plan = [{"url": hcsync.endpoint(notifier, spec)[0], "check": hcsync.endpoint(notifier, spec)[1]} for spec in specs]
        if json:
            print_json({"notifier": name, "dry_run": True, "checks": plan})
            return
        for item in plan:
            print(f"POST {item['url']} {dumps(item['check'], sort_keys=True)}")
        print(f"dry run: {len(plan)} check(s) of notifier {name} would be created or updated; nothing sent")
        return
    key = hcsync.api_key(notifier, settings.notify_environ(os.environ))
    results = [hcsync.push(notifier, spec, key) for spec in specs]
    if json:
        print_json({"notifier": name, "dry_run": False, "checks": results})
        return
    for item in results:
        print(f"{item['action']} check {item['task']}" + (f": pings go to {item['ping_url']}" if item["ping_url"] else ""))
    print(f"synced {len(results)} check(s) of notifier {name}")


@app.command("log")
@cli_errors
def log(ctx: typer.Context, limit: int = typer.Option(50, "--limit", min=1, max=100_000, help="How many deliveries, newest first."),
        task: str | None = typer.Option(None, "--task", help="Only this task's notifications."),
        json: bool = JSON_OPTION) -> None:
    """List notifications, newest first: delivered, pending in the outbox, or given up.

    Example: cronkit notify log --limit 20
    """
    task_filter(task)
    store = runlog.open(get_settings(ctx).db_url, settle=get_settings(ctx))  # a read command creates no run log (exit 78 without one)
    try:
        rows = recent(store, limit=limit, task=task)
    finally:
        store.close()
    if task is not None and not rows:
        get_registry(ctx)[task]  # a task with no notifications and not registered is a typo: exit 2, with a hint
    if json:
        print_json({"deliveries": [row.as_dict() for row in rows]})
        return
    style = {"delivered": "green", "pending": "yellow", "failed": "bold red", "dropped": "dim", "superseded": "dim"}
    print_table("notifications", [("id", "right", 1), ("created", "left", 2), ("notifier", "left", 1),
                                  ("task", "left", 1), ("event", "left", 1), ("run", "right", 3),
                                  ("state", "left", 1), ("tries", "right", 4), ("error", "left", 5)],
                [{"id": str(d.id), "created": short_time(d.as_dict()["created_at"]), "notifier": d.notifier,
                  "task": d.task, "event": d.event, "run": str(d.run_id or "-"),
                  "state": f"[{style[d.state]}]{d.state}[/{style[d.state]}]", "tries": str(d.tries),
                  "error": d.last_error or ""} for d in rows], wrap="error")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="notify")
