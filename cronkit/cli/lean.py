"""A lean path for `cronkit history` and `cronkit show` on a SQLite run log: no typer, no SQLAlchemy
(`list`, `status`, `health`, `stats` and `insights` take theirs in cli/leanops.py).

typer (with pydantic) and SQLAlchemy cost most of a read command's start; reading a SQLite
log needs neither. main() hands `[global options] history [TASK] [--status S] [--limit N]
[--json]` and `[global options] show RUN_ID [--json]` here; anything else, or anything unusual (another database, a schema
to upgrade, an unknown option, no runs of the named task, a bad value), returns None and the
typer command answers, with its checks and errors.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from cronkit.cli.run import (
    GLOBAL_OPTIONS,
    GlobalOptions,
    Option,
    _Fallback,
    _take,
    parse_command_line,
    report_error,
)
from cronkit.errors import CronkitError
from cronkit.safe.inputs import row_id, text_problem

HISTORY_OPTIONS: tuple[Option, ...] = (
    Option("--status", "status", ""),
    Option("--limit", "limit", ""),
    Option("--json", "json", "", flag=True),
)


@dataclass
class HistoryArgs:
    task: str | None = None
    status: str | None = None
    limit: str = "20"
    json: bool = False


def parse_history_line(argv: list[str]) -> tuple[GlobalOptions, HistoryArgs] | None:
    """Parse `[global options] history [TASK] [options]`; None for anything else."""
    hist = HistoryArgs()
    opts = parse_command_line(argv, "history", HISTORY_OPTIONS, hist)
    return None if opts is None else (opts, hist)


def _open(url: str) -> sqlite3.Connection | None:
    """Open a SQLite run log of the current schema read-only; None for anything else."""
    from cronkit.runlog.queries import open_sqlite

    # With a `running` run, one may be a run whose process is gone: RunLog.open applies what the
    # journal holds, marks it lost and keeps its redacted output; the full path does that.
    conn = open_sqlite(url)
    if conn is not None:
        conn.row_factory = sqlite3.Row
    return conn


def read_run(url: str, run_id: int) -> dict[str, Any] | None:
    """Return what `show` shows (as RunLog.run does); None when there is no such run or it cannot tell."""
    from cronkit.runlog.times import iso, run_dict
    from cronkit.safe.encrypt import reveal

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


def read_history(url: str, hist: HistoryArgs, limit: int) -> list[dict[str, Any]] | None:
    """Return the runs `history` shows from a current SQLite run log; None when it cannot tell."""
    from cronkit.runlog.times import run_dict

    conn = _open(url)
    if conn is None:
        return None
    try:
        names = [row["name"] for row in conn.execute("PRAGMA table_info(runs)")
                 if row["name"] not in ("output", "traceback")]
        where, values = [], []
        for column, value in (("task", hist.task), ("status", hist.status)):
            if value is not None:
                where.append(f"{column} = ?")
                values.append(value)
        sql = (f"SELECT {', '.join(names)} FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
               + " ORDER BY id DESC LIMIT ?")
        return [run_dict(row) for row in conn.execute(sql, [*values, limit])]
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def show_main(argv: list[str]) -> int | None:
    """Answer `show RUN_ID [--json]` on a SQLite run log; None hands the command line to typer."""
    opts, args, as_json = GlobalOptions(), list(argv), False
    try:
        while args and args[0] != "show":
            if not _take(args, GLOBAL_OPTIONS, opts):
                return None
        # Not a run id (too large, not ASCII digits): typer answers with its usage error.
        run_id = row_id(args[1]) if len(args) >= 2 else None
        if run_id is None or any(a != "--json" for a in args[2:]):
            return None
        as_json = "--json" in args[2:]
    except _Fallback:
        return None
    settings = None
    try:
        settings = opts.settings()
        run = read_run(settings.db_url, run_id)
    except CronkitError as exc:
        return report_error(exc, opts.wants_debug(settings))
    if run is None:
        return None
    if as_json:
        from cronkit.cli.tables import print_json

        print_json(run)
        return 0
    from cronkit.cli.tables import print_run

    print_run(run)
    return 0


def main(argv: list[str]) -> int | None:
    """Answer `history`, `show`, `list`, `status`, `health` or `stats`; None hands the command line to typer."""
    if "history" not in argv:
        code = show_main(argv)
        if code is not None:
            return code
        from cronkit.cli.leanops import main as ops_main

        return ops_main(argv)
    parsed = parse_history_line(argv)
    if parsed is None:
        return None
    opts, hist = parsed
    from cronkit.runlog.status import RunStatus

    if not (hist.limit.isascii() and hist.limit.isdigit()) or not 1 <= int(hist.limit) <= 100_000:
        return None
    if hist.status is not None and hist.status not in {s.value for s in RunStatus}:
        return None
    if hist.task is not None and text_problem(hist.task) is not None:
        return None  # typer's command says what is wrong with it
    settings = None
    try:
        settings = opts.settings()
        runs = read_history(settings.db_url, hist, int(hist.limit))
    except CronkitError as exc:
        return report_error(exc, opts.wants_debug(settings))
    if runs is None or (hist.task is not None and not runs):
        return None
    if hist.json:
        from cronkit.cli.tables import print_json

        print_json(runs)
        return 0
    from cronkit.cli.tables import print_history

    print_history(runs)
    return 0
