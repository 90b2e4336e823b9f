"""`cronkit history` and `cronkit show`: the command bodies, and their reads of a SQLite run log by sqlite3.

A SQLite run log of the current schema with no `running` run is read with the standard sqlite3
module (no SQLAlchemy); any other (PostgreSQL, a schema to upgrade, a run whose process may be
gone, a read that fails) is opened the full way, by RunLog.open, with its checks and errors.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from cronkit.cli.commands import STATUSES
from cronkit.cli.state import CliState
from cronkit.cli.tables import print_history, print_json, print_run
from cronkit.clock import now
from cronkit.errors import UsageError
from cronkit.runlog.queries import open_sqlite
from cronkit.runlog.times import iso, parse_since, run_dict, to_ms
from cronkit.safe.encrypt import reveal
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
    runs = read_history(settings.db_url, task, status, None if started is None else to_ms(started), limit)
    if runs is None:
        runs = _full_history(state, task, status, started, limit)
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
    run = read_run(settings.db_url, run_id)
    if run is None:
        run = _full_run(state, run_id)
    if run is None:
        raise UsageError(f"no run with id {run_id}")
    if json:
        print_json(run)
    else:
        print_run(run)
    return 0


def _full_history(state: CliState, task: str | None, status: str | None, started: datetime | None,
                  limit: int) -> list[dict[str, Any]]:
    """Return the runs `history` shows, read by RunLog.open (SQLAlchemy)."""
    # lazy: SQLAlchemy only for a run log sqlite3 does not read (PostgreSQL, an upgrade, a running run)
    from cronkit.runlog.reader import HistoryFilter, RunLog

    return RunLog.open(state.settings()).history(HistoryFilter(task=task, status=status, since=started, limit=limit))


def _full_run(state: CliState, run_id: int) -> dict[str, Any] | None:
    """Return the run `show` shows, read by RunLog.open (SQLAlchemy)."""
    from cronkit.runlog.reader import RunLog  # lazy: as in _full_history

    return RunLog.open(state.settings()).run(run_id)


def _open(url: str) -> sqlite3.Connection | None:
    """Open a SQLite run log of the current schema read-only; None for anything else."""
    # With a `running` run, one may be a run whose process is gone: RunLog.open applies what the
    # journal holds, marks it lost and keeps its redacted output; the full path does that.
    conn = open_sqlite(url)
    if conn is not None:
        conn.row_factory = sqlite3.Row
    return conn


def read_run(url: str, run_id: int) -> dict[str, Any] | None:
    """Return what `show` shows (as RunLog.run does); None when there is no such run or sqlite3 cannot tell."""
    conn = _open(url)
    if conn is None:
        return None
    try:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        record = run_dict(row)
        record["attempt_log"] = [
            {"number": a["number"], "status": a["status"], "started_at": iso(a["started_at"]),
             "finished_at": iso(a["finished_at"]), "error": reveal(a["error"], "error"), "cpu_user_ms": a["cpu_user_ms"],
             "cpu_system_ms": a["cpu_system_ms"], "max_rss_kb": a["max_rss_kb"]}
            for a in conn.execute("SELECT * FROM attempts WHERE run_id = ? ORDER BY number", (run_id,))
        ]
        letter = conn.execute("SELECT id, resolved_at FROM dead_letters WHERE run_id = ?", (run_id,)).fetchone()
        record["dead_letter"] = ({"id": letter["id"], "resolved_at": iso(letter["resolved_at"])}
                                 if letter is not None else None)
        return record
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def read_history(url: str, task: str | None, status: str | None, since_ms: int | None,
                 limit: int) -> list[dict[str, Any]] | None:
    """Return the runs `history` shows (as RunLog.history does); None when sqlite3 cannot tell."""
    conn = _open(url)
    if conn is None:
        return None
    try:
        names = [row["name"] for row in conn.execute("PRAGMA table_info(runs)")
                 if row["name"] not in ("output", "traceback")]
        where, values = [], []
        for clause, value in (("task = ?", task), ("status = ?", status), ("started_at >= ?", since_ms)):
            if value is not None:
                where.append(clause)
                values.append(value)
        sql = (f"SELECT {', '.join(names)} FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
               + " ORDER BY id DESC LIMIT ?")
        return [run_dict(row) for row in conn.execute(sql, [*values, limit])]
    except sqlite3.Error:
        return None
    finally:
        conn.close()
