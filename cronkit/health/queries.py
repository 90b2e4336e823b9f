"""Build the run-log queries the read commands share, and read and write their meta keys.

Every query here is served by an index of schema version 2 (`tests/test_stats.py` checks the
plans): the latest run of a task (by status), the runs started in a window, the running runs,
open dead letters per task, the slots of a task some run served.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection, Engine

from ..runlog import _set_meta, dead_letters, iso, meta, runs

FAILED_STATUSES = ("failed", "timed_out", "lost")
EXECUTED_STATUSES = ("succeeded", "failed", "timed_out", "interrupted")
LAST_HEALTH_CHECK = "last_health_check"
LAST_HEALTH_RESULT = "last_health_result"


def latest_run_query(task: str, status: str | None = None) -> Select[Any]:
    """Return the query for the summary of the latest run of `task` (with `status`, if given)."""
    cols = [runs.c.id, runs.c.status, runs.c.trigger, runs.c.scheduled_for, runs.c.started_at,
            runs.c.finished_at, runs.c.duration_ms, runs.c.error]
    query = select(*cols).where(runs.c.task == task)
    if status is not None:
        query = query.where(runs.c.status == status)
    return query.order_by(runs.c.id.desc()).limit(1)


def window_runs_query(since_ms: int, until_ms: int) -> Select[Any]:
    """Return the query for (task, status, duration) of the runs started in [since, until]."""
    return select(runs.c.task, runs.c.status, runs.c.duration_ms).where(
        runs.c.started_at >= since_ms, runs.c.started_at <= until_ms
    )


def active_runs_query() -> Select[Any]:
    """Return the query for the number of runs still running."""
    return select(func.count()).select_from(runs).where(runs.c.status == "running")


def open_dead_letters_query() -> Select[Any]:
    """Return the query for (task, count) of the dead letters not resolved yet."""
    return (
        select(dead_letters.c.task, func.count())
        .where(dead_letters.c.resolved_at.is_(None))
        .group_by(dead_letters.c.task)
    )


def served_slots_query(task: str, first_ms: int, last_ms: int) -> Select[Any]:
    """Return the query for the slots of `task` in [first, last] that some run served."""
    return (
        select(runs.c.scheduled_for)
        .where(runs.c.task == task, runs.c.scheduled_for >= first_ms, runs.c.scheduled_for <= last_ms)
        .distinct()
    )


def read_meta(conn: Connection, key: str) -> str | None:
    """Return the value of a meta key, None when unset."""
    value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
    return str(value) if value is not None else None


def write_meta(engine: Engine, values: Mapping[str, str]) -> None:
    """Set meta keys in one transaction."""
    with engine.begin() as conn:
        for key, value in values.items():
            _set_meta(conn, key, value)


def instant_iso(value: datetime | int | None) -> str | None:
    """Format an instant (aware datetime or epoch milliseconds) as ISO 8601 in UTC, to the second."""
    if value is None:
        return None
    if isinstance(value, int):
        return iso(value)
    return value.astimezone(UTC).isoformat(timespec="seconds")
