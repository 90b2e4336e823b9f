"""`cronkit notify test NAME` and `cronkit notify log`: try a notifier, see what was sent."""

from __future__ import annotations

import typer

from .common import (
    JSON_OPTION,
    cli_errors,
    get_registry,
    get_settings,
    print_json,
    print_table,
    short_time,
)

app = typer.Typer(help="Notifications: send a test, list deliveries.\n\nExample: cronkit notify test ops-hook",
                  no_args_is_help=True)


@app.command("test")
@cli_errors
def test(ctx: typer.Context, name: str = typer.Argument(..., help="A [notify.<name>] table of the config."),
         json: bool = JSON_OPTION) -> None:
    """Send a sample event to one notifier now, outside the outbox; exit 1 if it was not delivered.

    Example: cronkit notify test ops-hook
    """
    import os
    import time

    from ..errors import UsageError
    from ..notify.deliver import send_once
    from ..notify.events import sample_event
    from ..redact import redactor_for

    settings = get_settings(ctx)
    notifier = settings.notifiers.get(name)
    if notifier is None:
        known = ", ".join(sorted(settings.notifiers)) or "none configured"
        raise UsageError(f"unknown notifier {name!r} (known: {known})")
    redact = redactor_for(settings, os.environ)
    event = redact.value(sample_event(name, settings.public_url))
    assert isinstance(event, dict)
    error = send_once(notifier, event, settings.notify_environ(os.environ), time.monotonic() + notifier.timeout * 2 + 1)
    if json:
        print_json({"notifier": name, "kind": notifier.kind, "delivered": error is None, "error": error})
    elif error is None:
        print(f"{name}: sent a test {notifier.kind} notification")
    else:
        typer.echo(f"cronkit: error: {name}: {error}", err=True)
    if error is not None:
        raise typer.Exit(1)


@app.command("log")
@cli_errors
def log(ctx: typer.Context, limit: int = typer.Option(50, "--limit", min=1, max=100_000, help="How many deliveries, newest first."),
        task: str | None = typer.Option(None, "--task", help="Only this task's notifications."),
        json: bool = JSON_OPTION) -> None:
    """List notifications, newest first: delivered, pending in the outbox, or given up.

    Example: cronkit notify log --limit 20
    """
    from ..notify.outbox import recent
    from ..runlog.reader import RunLog
    from ..runlog.writer import RunStore

    RunLog.open(get_settings(ctx)).engine.dispose()  # a read command creates no run log (exit 78 without one)
    store = RunStore.open(get_settings(ctx).db_url)
    try:
        rows = recent(store, limit=limit, task=task)
    finally:
        store.close()
    if task is not None and not rows:
        get_registry(ctx)[task]  # a task with no notifications and not registered is a typo: exit 2, with a hint
    if json:
        print_json({"deliveries": [row.as_dict() for row in rows]})
        return
    style = {"delivered": "green", "pending": "yellow", "failed": "bold red", "dropped": "dim"}
    print_table("notifications", [("id", "right", 1), ("created", "left", 2), ("notifier", "left", 1),
                                  ("task", "left", 1), ("event", "left", 1), ("run", "right", 3),
                                  ("state", "left", 1), ("tries", "right", 4), ("error", "left", 5)],
                [{"id": str(d.id), "created": short_time(d.as_dict()["created_at"]), "notifier": d.notifier,
                  "task": d.task, "event": d.event, "run": str(d.run_id or "-"),
                  "state": f"[{style[d.state]}]{d.state}[/{style[d.state]}]", "tries": str(d.tries),
                  "error": d.last_error or ""} for d in rows], wrap="error")
