"""`cronkit history` and `cronkit show`."""

from __future__ import annotations

from typing import Any

import typer

from cronkit.cli.common import (
    JSON_OPTION,
    cli_errors,
    get_settings,
    print_json,
    task_filter,
)
from cronkit.cli.tables import print_history, print_run
from cronkit.errors import UsageError
from cronkit.runlog.status import RunStatus
from cronkit.safe.inputs import MAX_ROW_ID

STATUSES = tuple(s.value for s in RunStatus)  # running, succeeded, failed, timed_out, interrupted, skipped, lost


def open_runlog(ctx: typer.Context) -> Any:
    from cronkit import runlog

    return runlog.open(get_settings(ctx).db_url, settle=get_settings(ctx))


def register(app: typer.Typer) -> None:
    @app.command("history")
    @cli_errors
    def history(
        ctx: typer.Context,
        task: str | None = typer.Argument(None, help="Only runs of this task."),
        status: str | None = typer.Option(None, "--status", help=f"Only runs with this status: {', '.join(STATUSES)}."),
        since: str | None = typer.Option(None, "--since", help="Only runs started since: 2026-11-28, 2026-11-28T03:00, or 2h / 7d ago."),
        limit: int = typer.Option(20, "--limit", min=1, max=100_000, help="At most this many runs."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show recent runs, newest first.

        Example: cronkit history daily-session-cleanup --status failed --since 7d
        """
        from cronkit.clock import now
        from cronkit.runlog.reader import HistoryFilter, history
        from cronkit.runlog.times import parse_since

        if status is not None and status not in STATUSES:
            raise UsageError(f"--status: {status!r} is not one of {', '.join(STATUSES)}")
        flt = HistoryFilter(task=task_filter(task, "TASK"), status=status, since=parse_since(since, now()) if since else None, limit=limit)
        runs = history(open_runlog(ctx), flt)
        if task is not None and not runs:
            # A task no longer registered may still have runs; one with neither is a typo.
            from cronkit.cli.common import get_registry

            get_registry(ctx)[task]  # UnknownTask (exit 2) with a hint
        if json:
            print_json(runs)
            return
        print_history(runs)

    @app.command("show")
    @cli_errors
    def show(
        ctx: typer.Context,
        run_id: int = typer.Argument(..., min=1, max=MAX_ROW_ID, help="Run id, as `cronkit history` shows it."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show one run: attempts, error, traceback, result and captured output (redacted).

        Example: cronkit show 42
        """
        from cronkit.runlog.reader import run_record

        run = run_record(open_runlog(ctx), run_id)
        if run is None:
            raise UsageError(f"no run with id {run_id}")
        if json:
            print_json(run)
            return
        print_run(run)
