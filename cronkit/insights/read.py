"""Read what the insights need from the run log, in bounded time: per task, its newest finished runs
of the window (at most MAX_RUNS), by the index on (task, started_at).

Plain SQL with named parameters through a queries.Execute, so the lean sqlite3 reader of
`status` and SQLAlchemy run the same text. However long the history, a task costs one indexed
range read of at most MAX_RUNS rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cronkit import runlog
from cronkit.config.insights import DEFAULT_RULES, KINDS, Rules
from cronkit.insights.detect import Finding, Limits, Run, detect
from cronkit.registry import Registry, Task
from cronkit.runlog.queries import Execute
from cronkit.runlog.times import to_ms

if TYPE_CHECKING:
    from cronkit.config.settings import Settings

DEFAULT_DAYS = 30.0
MAX_RUNS = 200  # the newest finished runs of a task the insights read, at most
# A task's finished, real (not dry) runs started in [since, until], newest first (ix_runs_task_started_at).
RECENT_RUNS = (
    'SELECT id, started_at, status, "trigger", scheduled_for, duration_ms, max_rss_kb FROM runs'
    " WHERE task = :task AND started_at >= :since AND started_at <= :until AND status <> 'running'"
    " AND dry_run = :dry ORDER BY started_at DESC LIMIT :limit"
)


def recent_runs(execute: Execute, task: str, since_ms: int, until_ms: int, limit: int = MAX_RUNS) -> list[Run]:
    """Return a task's finished runs of [since_ms, until_ms], oldest first, at most `limit` (the newest)."""
    rows = execute(RECENT_RUNS, {"task": task, "since": since_ms, "until": until_ms, "dry": False, "limit": limit})
    return [Run(int(r[0]), int(r[1]), str(r[2]), str(r[3]), _int(r[4]), _int(r[5]), _int(r[6])) for r in reversed(rows)]


def limits_of(task: Task) -> Limits:
    """Return a task's timeout, grace and memory limit (`limits={"memory": ...}`, SPEC 18: bytes of address
    space, which a process's resident memory never exceeds: a trend of RSS toward it is a lower bound)."""
    memory = task.limits.memory
    return Limits(task.timeout, task.grace, memory // 1024 if memory else None)


def find(execute: Execute, tasks: Iterable[Task], rules: Mapping[str, Rules], now: datetime,
         days: float = DEFAULT_DAYS) -> list[Finding]:
    """Return the findings of `tasks` over the last `days`, task by task in the given order."""
    until = to_ms(now)
    since = to_ms(now - timedelta(days=days))
    found: list[Finding] = []
    for task in tasks:
        task_rules = rules.get(task.name, DEFAULT_RULES)
        if set(KINDS) <= set(task_rules.disabled):
            continue  # nothing to read
        found.extend(detect(task.name, recent_runs(execute, task.name, since, until), limits_of(task), task_rules))
    return found


def find_for(settings: Settings, execute: Execute, tasks: Iterable[Task], now: datetime,
             days: float = DEFAULT_DAYS) -> list[Finding]:
    """Return `find` with the per-task Rules of `settings`."""
    return find(execute, tasks, settings.task_insights, now, days)


def insights(settings: Settings, registry: Registry, now: datetime, *, days: float = DEFAULT_DAYS,
             task: str | None = None) -> list[Finding]:
    """Open the run log of `settings` and return the findings of the registry's tasks (or of `task`).

    An unknown `task` is UnknownTask (exit 2, with a hint).
    """
    tasks = [registry[task]] if task is not None else list(registry)
    log = runlog.open(settings.db_url, settle=settings)
    try:
        with log.connection() as execute:
            return find_for(settings, execute, tasks, now, days)
    finally:
        log.close()


def as_dicts(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Return the JSON shape of a list of findings."""
    return [f.as_dict() for f in findings]


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


__all__ = ["DEFAULT_DAYS", "MAX_RUNS", "RECENT_RUNS", "as_dicts", "find", "find_for", "insights", "limits_of",
           "recent_runs"]
