"""`cronkit history` and `cronkit show`."""

from __future__ import annotations

from typing import Any

import typer

from ..errors import UsageError
from ..status import RunStatus
from .common import (
    JSON_OPTION,
    cli_errors,
    console,
    duration,
    get_settings,
    print_json,
    short_time,
    styled_status,
)
from .tables import print_history

STATUSES = tuple(s.value for s in RunStatus)  # running, succeeded, failed, timed_out, interrupted, skipped, lost


def open_runlog(ctx: typer.Context) -> Any:
    from ..runlog.reader import RunLog

    return RunLog.open(get_settings(ctx))


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
        from ..clock import now
        from ..runlog.reader import HistoryFilter
        from ..runlog.times import parse_since

        if status is not None and status not in STATUSES:
            raise UsageError(f"--status: {status!r} is not one of {', '.join(STATUSES)}")
        flt = HistoryFilter(task=task, status=status, since=parse_since(since, now()) if since else None, limit=limit)
        runs = open_runlog(ctx).history(flt)
        if task is not None and not runs:
            # A task no longer registered may still have runs; one with neither is a typo.
            from .common import get_registry

            get_registry(ctx)[task]  # UnknownTask (exit 2) with a hint
        if json:
            print_json(runs)
            return
        print_history(runs)

    @app.command("show")
    @cli_errors
    def show(
        ctx: typer.Context,
        run_id: int = typer.Argument(..., help="Run id, as `cronkit history` shows it."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show one run: attempts, error, traceback, result and captured output (redacted).

        Example: cronkit show 42
        """
        run = open_runlog(ctx).run(run_id)
        if run is None:
            raise UsageError(f"no run with id {run_id}")
        if json:
            print_json(run)
            return
        out = console()
        out.print(f"[bold]run {run['id']}[/bold]  {run['task']}  {styled_status(run['status'])}")
        fields = [
            ("trigger", run["trigger"]), ("scheduled for", short_time(run["scheduled_for"])),
            ("started", short_time(run["started_at"])), ("finished", short_time(run["finished_at"])),
            ("duration", duration(run["duration_ms"])), ("attempts", run["attempts"]),
            ("exit code", run["exit_code"]), ("host / pid", f"{run['host']} / {run['pid']}"),
            ("user", run["user"]), ("params", run["params"]), ("dry run", run["dry_run"]),
        ]
        for label, value in fields:
            if value not in (None, "-", "", {}):
                out.print(f"  {label:<14} {value}", markup=False)
        if run["dead_letter"]:
            letter = run["dead_letter"]
            state_ = f"resolved {short_time(letter['resolved_at'])}" if letter["resolved_at"] else "open"
            out.print(f"  {'dead letter':<14} {letter['id']} ({state_})", markup=False)
        if run["error"]:
            out.print(f"\n[bold]error[/bold]\n  {run['error']}", markup=True, highlight=False)
        if len(run["attempt_log"]) > 1 or any(a["error"] for a in run["attempt_log"]):
            out.print("\n[bold]attempts[/bold]")
            for a in run["attempt_log"]:
                out.print(f"  #{a['number']} {a['status']:<10} {short_time(a['started_at'])}  {a['error'] or ''}", markup=False)
        if run["result"] is not None:
            import json as json_

            out.print("\n[bold]result[/bold]")
            out.print(json_.dumps(run["result"], indent=2, sort_keys=True), markup=False)
        if run["traceback"]:
            out.print("\n[bold]traceback[/bold]")
            out.print(run["traceback"].rstrip(), markup=False)
        if run["output"]:
            out.print("\n[bold]output[/bold] (last 64 KiB)")
            out.print(run["output"].rstrip(), markup=False)
