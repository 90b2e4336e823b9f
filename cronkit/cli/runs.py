"""`cronkit history` and `cronkit show`: the command bodies, reading through the one way into the run log.

`runlog.open` reads a SQLite run log with sqlite3 (no SQLAlchemy) and settles it first: what the
journal holds is applied and a run whose process is gone is marked lost, as every command that
shows runs does.
"""

from __future__ import annotations

from cronkit import runlog
from cronkit.cli.commands import STATUSES
from cronkit.cli.state import CliState
from cronkit.cli.tables import print_history, print_json, print_run
from cronkit.clock import now
from cronkit.errors import UsageError
from cronkit.runlog.reader import HistoryFilter, history, run_record
from cronkit.runlog.times import parse_since
from cronkit.safe.inputs import text_problem


def history_command(state: CliState, *, task: str | None, status: str | None, since: str | None, limit: int,
                    json: bool) -> int:
    """Show recent runs, newest first (`cronkit history`); return the exit code."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status: {status!r} is not one of {', '.join(STATUSES)}")
    if task is not None and (problem := text_problem(task)) is not None:
        raise UsageError(f"TASK: {task!r} {problem}")
    started = parse_since(since, now()) if since else None
    settings = state.settings()
    store = runlog.open(settings.db_url, settle=settings)
    try:
        runs = history(store, HistoryFilter(task=task, status=status, since=started, limit=limit))
    finally:
        store.close()
    if task is not None and not runs:
        # A task no longer registered may still have runs; one with neither is a typo.
        state.registry()[task]  # UnknownTask (exit 2) with a hint
    if json:
        print_json(runs)
    else:
        print_history(runs)
    return 0


def show_command(state: CliState, *, run_id: int, json: bool) -> int:
    """Show one run (`cronkit show RUN_ID`); return the exit code."""
    settings = state.settings()
    store = runlog.open(settings.db_url, settle=settings)
    try:
        run = run_record(store, run_id)
    finally:
        store.close()
    if run is None:
        raise UsageError(f"no run with id {run_id}")
    if json:
        print_json(run)
    else:
        print_run(run)
    return 0
