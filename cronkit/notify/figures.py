"""Read what the Prometheus families say about tasks, in a bounded number of rows (issue 24).

Per task: its totals row (runs per status, the duration histogram, missed slots: runlog/totals.py),
its latest run, success and failure (indexed seeks, `ORDER BY id DESC LIMIT 1`), its runs still
`running` (served by the status index: as many rows as runs in progress, however old the oldest
is) and its open dead letters. Nothing here aggregates a task's history, so a `.prom` file after
a run and a scrape of `/metrics` cost the same on a log of a thousand runs or ten million.
Plain SQL through an Execute: the run path uses it without SQLAlchemy.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from cronkit.notify.families import TaskFigures
from cronkit.plain import TYPE_CHECKING
from cronkit.registry import Task
from cronkit.runlog import totals as run_totals
from cronkit.runlog.status import FAILED_STATUSES, RunStatus
from cronkit.schedule import slots_between

if TYPE_CHECKING:
    from typing import Any

Execute = Callable[[str, Mapping[str, "Any"]], Sequence[Sequence["Any"]]]

# The latest run, success and failures of each task: indexed seeks (ix_runs_task_id, ix_runs_task_status_id).
_SEEK = "(SELECT id FROM runs WHERE task = :t{i}{where} ORDER BY id DESC LIMIT 1)"
_STATUSES = (None, RunStatus.SUCCEEDED.value, *(s.value for s in FAILED_STATUSES))
_CHUNK = 100  # tasks per statement
_RUNNING = ("SELECT COUNT(*), MIN(started_at) FROM runs WHERE task = :task AND status = :running")
_RUNNING_ALL = ("SELECT task, COUNT(*), MIN(started_at) FROM runs WHERE status = :running GROUP BY task")
_LETTERS = "SELECT COUNT(*) FROM dead_letters WHERE task = :task AND resolved_at IS NULL"
_LETTERS_ALL = "SELECT task, COUNT(*) FROM dead_letters WHERE resolved_at IS NULL GROUP BY task"


def interval_seconds(task: Task, zone: str, now: datetime) -> float:
    """Return the longest gap between the task's next few slots: how often it is due, at least."""
    slots = list(itertools.islice(slots_between(task.resolved_schedule, zone, now, now + timedelta(days=800)), 4))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    return max(gaps) if gaps else 0.0


def _seconds(ms: Any) -> float | None:
    return None if ms is None else int(ms) / 1000


def _latest_sql(count: int) -> str:
    def seek(i: int, status: str | None) -> str:
        return _SEEK.format(i=i, where=f" AND status = '{status}'" if status else "")

    return " UNION ALL ".join(f"SELECT {i}, " + ", ".join(seek(i, s) for s in _STATUSES) for i in range(count))


Latest = tuple[float | None, float | None, float | None]


def latest_by_task(execute: Execute, names: Sequence[str]) -> dict[str, Latest]:
    """Return per task when its latest run started, its latest success finished, its latest failure finished.

    Two statements per hundred tasks, each an indexed seek per task and status.
    """
    out: dict[str, Latest] = {}
    for start in range(0, len(names), _CHUNK):
        chunk = list(names[start:start + _CHUNK])
        seeks = {chunk[int(row[0])]: row[1:] for row in execute(
            _latest_sql(len(chunk)), {f"t{i}": name for i, name in enumerate(chunk)})}
        ids = sorted({int(i) for row in seeks.values() for i in row if i is not None})
        times: dict[int, tuple[Any, Any]] = {}
        if ids:
            listed = ", ".join(str(i) for i in ids)  # integers from the database itself
            times = {int(r[0]): (r[1], r[2]) for r in execute(
                f"SELECT id, started_at, finished_at FROM runs WHERE id IN ({listed})", {})}
        for name, row in seeks.items():
            got = [times.get(int(i)) if i is not None else None for i in row]
            failures = [t[1] if t[1] is not None else t[0] for t in got[2:] if t is not None]
            out[name] = (_seconds(got[0][0]) if got[0] else None, _seconds(got[1][1]) if got[1] else None,
                         _seconds(max(failures)) if failures else None)
    return out


def task_figures(execute: Execute, task: Task, zone: str, now: datetime, *, next_run: float | None,
                 missed: int | None, totals: run_totals.Totals | None = None,
                 running: tuple[int, float | None] | None = None, letters: int | None = None,
                 interval: float | None = None, latest: Latest | None = None) -> TaskFigures:
    """Read one task's figures; what the caller read for many tasks at once it passes in."""
    name = task.name
    if totals is None:
        totals = run_totals.read(execute, name)
    if running is None:
        row = execute(_RUNNING, {"task": name, "running": RunStatus.RUNNING.value})[0]
        running = (int(row[0] or 0), _seconds(row[1]))
    if letters is None:
        letters = int(execute(_LETTERS, {"task": name})[0][0] or 0)
    if latest is None:
        latest = latest_by_task(execute, [name]).get(name, (None, None, None))
    last_run, last_success, last_failure = latest
    return TaskFigures(
        task=name, schedule=task.schedule, timezone=zone,
        interval=interval_seconds(task, zone, now) if interval is None else interval,
        timeout=float(task.timeout), totals=totals, last_run=last_run, last_success=last_success,
        last_failure=last_failure, next_run=next_run, running=running[0], running_since=running[1],
        missed=missed, dead_letters=letters,
    )


def running_by_task(execute: Execute) -> dict[str, tuple[int, float | None]]:
    """Return, per task with runs in progress, how many and when the oldest started (one row per such task)."""
    return {str(row[0]): (int(row[1]), _seconds(row[2]))
            for row in execute(_RUNNING_ALL, {"running": RunStatus.RUNNING.value})}


def letters_by_task(execute: Execute) -> dict[str, int]:
    """Return the open dead letters per task."""
    return {str(row[0]): int(row[1]) for row in execute(_LETTERS_ALL, {})}


__all__ = ["Latest", "interval_seconds", "latest_by_task", "letters_by_task", "running_by_task", "task_figures"]
