"""The SQL of the read commands (`status`, `health`, `stats`) and of the `meta` table, written once.

Each query is plain SQL with named parameters, run through the Execute of an open run log
(`runlog.open`: sqlite3 on a SQLite run log, SQLAlchemy's `text()` on PostgreSQL). Each is served
by an index (schema.HEALTH_INDEXES and the runs indexes), whatever the log's size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager

from cronkit.plain import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Protocol

else:
    Protocol = object  # lazy: typing (a cron tick's 2 ms) for a class only the type checker reads

Execute = Callable[[str, Mapping[str, "Any"]], Sequence[Sequence["Any"]]]

# The columns of `runs`, in the table's order (schema.py asserts it): the keys of `show --json`.
RUN_COLUMNS = ("id", "task", "status", "trigger", "scheduled_for", "started_at", "finished_at", "duration_ms",
               "attempts", "exit_code", "host", "pid", "pid_start", "user", "heartbeat_at", "params", "dry_run",
               "error", "traceback", "result", "output", "cpu_user_ms", "cpu_system_ms", "max_rss_kb")
# What a list of runs shows: all but the long texts (`history --json`, the API's pages).
LISTED_COLUMNS = tuple(c for c in RUN_COLUMNS if c not in ("output", "traceback"))

# The summary of a task's latest run, as status shows it; the columns of RunSummary, in order.
_LATEST = ('SELECT id, status, "trigger", scheduled_for, started_at, finished_at, duration_ms, error'
           " FROM runs WHERE task = :task")
# A task's latest run that says how it went: a skipped run (lock held, slot served, paused) is no
# outcome, and started after a run that failed later it would hide that failure from `health`.
LATEST_RUN = _LATEST + " AND status != 'skipped' ORDER BY id DESC LIMIT 1"
LATEST_RUN_OF_STATUS = _LATEST + " AND status = :status ORDER BY id DESC LIMIT 1"
# (task, status, duration, CPU ms (user + system), peak RSS KiB) of the runs started in [since, until].
WINDOW_RUNS = ("SELECT task, status, duration_ms, cpu_user_ms + cpu_system_ms, max_rss_kb FROM runs"
               " WHERE started_at >= :since AND started_at <= :until")
ACTIVE_RUNS = "SELECT count(*) FROM runs WHERE status = 'running'"
# (task, count) of the open dead letters.
OPEN_DEAD_LETTERS = "SELECT task, count(*) FROM dead_letters WHERE resolved_at IS NULL GROUP BY task"
# The slots of a task in [first, last] that some run served.
SERVED_SLOTS = ("SELECT DISTINCT scheduled_for FROM runs"
                " WHERE task = :task AND scheduled_for >= :first AND scheduled_for <= :last")
READ_META = "SELECT value FROM meta WHERE key = :key"
SET_META = ("INSERT INTO meta (key, value) VALUES (:key, :value)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value")

# The meta keys `cronkit health` keeps: when it last ran and what it found.
LAST_HEALTH_CHECK = "last_health_check"
LAST_HEALTH_RESULT = "last_health_result"


def read_meta(execute: Execute, key: str) -> str | None:
    """Return the value of a `meta` key, None when unset."""
    rows = execute(READ_META, {"key": key})
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


class Reader(Protocol):
    """An open run log the read commands query (a writer.RunStore): a connection at a time, and the meta keys health writes."""

    def connection(self) -> AbstractContextManager[Execute]:
        """Return a context holding one connection; it gives the Execute that runs SQL on it."""

    def write_meta(self, values: Mapping[str, str]) -> None:
        """Set `meta` keys in one transaction."""

    def close(self) -> None:
        """Release the run log."""


__all__ = ["ACTIVE_RUNS", "LISTED_COLUMNS", "RUN_COLUMNS", "LAST_HEALTH_CHECK", "LAST_HEALTH_RESULT", "LATEST_RUN", "LATEST_RUN_OF_STATUS",
           "OPEN_DEAD_LETTERS", "READ_META", "SERVED_SLOTS", "SET_META", "WINDOW_RUNS", "Execute", "Reader",
           "read_meta"]
