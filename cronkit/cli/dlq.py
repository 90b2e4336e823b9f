"""`cronkit dlq list | show | retry | purge`: dead letters, runs that failed for good."""

from __future__ import annotations

import json as json_
import os
import sys
from typing import Any

import typer

from cronkit import runlog
from cronkit.cli.common import (
    JSON_OPTION,
    cli_errors,
    console,
    get_registry,
    get_settings,
    plural,
    print_json,
    short_time,
    task_filter,
)
from cronkit.cli.tables import escape, print_table
from cronkit.clock import now
from cronkit.errors import UsageError
from cronkit.runlog.deadletters import get_letter, list_letters, retry_fields
from cronkit.runlog.deadletters import purge as purge_letters
from cronkit.runlog.status import RunStatus, Trigger
from cronkit.runlog.times import parse_since
from cronkit.runner import RunRequest, run_task
from cronkit.safe.inputs import MAX_ROW_ID
from cronkit.safe.terminal import printable

app = typer.Typer(
    name="dlq",
    help="Dead letters: runs that failed for good, kept for a person to act on.\n\n"
    "Example: cronkit dlq list; cronkit dlq show 3; cronkit dlq retry 3",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _engine(ctx: typer.Context) -> Any:
    return runlog.open(get_settings(ctx).db_url, settle=get_settings(ctx)).sqlalchemy_engine()


def _first_line(text: str | None, width: int = 70) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


@app.command("list")
@cli_errors
def list_(
    ctx: typer.Context,
    all_: bool = typer.Option(False, "--all", help="Resolved letters too, not only open ones."),
    task: str | None = typer.Option(None, "--task", help="Only letters of this task."),
    limit: int = typer.Option(100, "--limit", min=1, max=100_000, help="At most this many letters."),
    json: bool = JSON_OPTION,
) -> None:
    """List dead letters, newest first: open ones unless --all.

    Example: cronkit dlq list --task daily-session-cleanup --all
    """
    task = task_filter(task)  # before the run log: a usage error first
    letters = list_letters(_engine(ctx), include_resolved=all_, task=task, limit=limit)
    if task is not None and not letters:
        get_registry(ctx)[task]  # a task with no letters and not registered is a typo: exit 2, with a hint
    if json:
        print_json(letters)
        return

    kind = "dead letter" if all_ else "open dead letter"
    # At 80 columns the table keeps which letter, of which task, why, and whether it is open.
    columns = [("id", "right", 0), ("task", "left", 0), ("run", "right", 3), ("created (UTC)", "left", 1),
               ("slot (UTC)", "left", 4), ("tries", "right", 5), ("state", "left", 2), ("error", "left", 0)]
    rows = [{
        "id": str(letter["id"]), "task": letter["task"], "run": str(letter["run_id"]),
        "created (UTC)": short_time(letter["created_at"]), "slot (UTC)": short_time(letter["scheduled_for"]),
        "tries": str(letter["attempts"]),
        "state": "open" if letter["status"] == "open" else f"resolved by run {letter['resolved_by']}",
        "error": escape(printable(_first_line(letter["error"]))),
    } for letter in letters]
    print_table(f"{plural(len(letters), kind)}, newest first", columns, rows, wrap="error")


@app.command("show")
@cli_errors
def show(
    ctx: typer.Context,
    letter_id: int = typer.Argument(..., min=1, max=MAX_ROW_ID, help="Dead letter id, as `cronkit dlq list` shows it."),
    json: bool = JSON_OPTION,
) -> None:
    """Show one dead letter: task, params, slot, error, traceback, attempts (redacted).

    Example: cronkit dlq show 3
    """
    letter = get_letter(_engine(ctx), letter_id)
    if json:
        print_json(letter)
        return
    out = console(soft_wrap=True)  # an error or a traceback whole, not wrapped with trailing spaces
    state = "open" if letter["status"] == "open" else (
        f"resolved {short_time(letter['resolved_at'])} by run {letter['resolved_by']}"
    )
    out.print(f"[bold]dead letter {letter['id']}[/bold]  {letter['task']}  {state}", highlight=False)
    fields = [
        ("run", f"{letter['run_id']} ({letter['run_status'] or 'pruned'}; cronkit show {letter['run_id']})"),
        ("created", short_time(letter["created_at"])), ("slot", short_time(letter["scheduled_for"])),
        ("attempts", letter["attempts"]), ("params", json_.dumps(letter["params"], sort_keys=True)),
    ]
    for label, value in fields:
        out.print(f"  {label:<10} {value}", markup=False, highlight=False)
    if letter["error"]:
        out.print("\n[bold]error[/bold]")
        out.print(f"  {printable(letter['error'])}", markup=False, highlight=False)
    if letter["traceback"]:
        out.print("\n[bold]traceback[/bold]")
        out.print(printable(letter["traceback"].rstrip()), markup=False, highlight=False)
    if letter["status"] == "open":
        out.print(f"\nRe-run it with: cronkit dlq retry {letter['id']}", markup=False, highlight=False)


@app.command("retry")
@cli_errors
def retry(
    ctx: typer.Context,
    letter_id: int = typer.Argument(..., min=1, max=MAX_ROW_ID, help="Dead letter id, as `cronkit dlq list` shows it."),
    force: bool = typer.Option(False, "--force", help="Retry even while the task is paused (cronkit pause)."),
    json: bool = JSON_OPTION,
) -> None:
    """Re-run a dead letter's task with the same params and slot (trigger retry); resolve it on success.

    The retry takes the task's locks like any run; when it fails the letter stays open. While the
    task is paused it refuses (exit 75) unless --force.

    Example: cronkit dlq retry 3
    """
    request = RunRequest(trigger=Trigger.RETRY, force=force,
                         **vars(retry_fields(get_letter(_engine(ctx), letter_id))))
    outcome = run_task(get_settings(ctx), get_registry(ctx), request, os.environ, adopt_orphans=True)
    if json:
        print_json({"run_id": outcome.run_id, "status": outcome.status, "exit_code": outcome.exit_code,
                    "duration_ms": outcome.duration_ms, "result": outcome.result, "dead_letter_id": letter_id,
                    "resolved": outcome.status == RunStatus.SUCCEEDED})
    elif outcome.exit_code == 0:
        print(outcome.summary)
    else:
        print(outcome.summary, file=sys.stderr)
    raise typer.Exit(outcome.exit_code)


@app.command("purge")
@cli_errors
def purge(
    ctx: typer.Context,
    before: str | None = typer.Option(None, "--before", help="Only letters created before: 2026-11-01, 2026-11-01T03:00, or 30d (ago)."),
    include_open: bool = typer.Option(False, "--include-open", help="Open letters too (they are never retried then)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be deleted; delete nothing."),
    json: bool = JSON_OPTION,
) -> None:
    """Delete resolved dead letters (and open ones with --include-open); the runs stay.

    Example: cronkit dlq purge --before 30d
    """
    try:
        cutoff = parse_since(before, now()) if before else None
    except UsageError as exc:
        raise UsageError(str(exc).replace("--since", "--before")) from None
    ids = purge_letters(_engine(ctx), before=cutoff, include_open=include_open, dry_run=dry_run)
    if json:
        print_json({"deleted": 0 if dry_run else len(ids), "ids": ids, "dry_run": dry_run,
                    "before": cutoff.isoformat(timespec="seconds") if cutoff else None})
        return

    kind = "dead letter" if include_open else "resolved dead letter"
    verb = "would delete" if dry_run else "deleted"
    print(f"{verb} {plural(len(ids), kind)}" + (f" created before {cutoff.isoformat(timespec='seconds')}" if cutoff else ""))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dlq")
