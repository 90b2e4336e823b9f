"""Figures per task over a window: runs, outcomes, success rate, duration, CPU and memory
percentiles, dead letters.

**Durations** are the runs that executed the task (succeeded, failed, timed_out, interrupted);
percentiles use the nearest-rank method: the p-th percentile of n sorted values is the value at
1-based rank ceil(p/100 * n).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cronkit import runlog
from cronkit.config.settings import Settings
from cronkit.registry import Registry
from cronkit.runlog.queries import (
    LATEST_RUN_OF_STATUS,
    OPEN_DEAD_LETTERS,
    WINDOW_RUNS,
    Execute,
)
from cronkit.runlog.status import EXECUTED_STATUSES, FAILED_STATUSES, RunStatus
from cronkit.runlog.times import instant_iso, to_ms


def percentile(values: Sequence[int], p: float) -> int | None:
    """Return the p-th percentile of sorted `values` by nearest rank (None when empty)."""
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


# The columns of queries.LATEST_RUN_OF_STATUS this module reads.
_ID, _STATUS, _STARTED_AT = 0, 1, 4


def _row(execute: Execute, name: str, by_status: dict[str, int], durations: list[int],
         open_letters: int, used: tuple[list[int], list[int]] = ([], [])) -> dict[str, Any]:
    """Return the stats row of one task from its counts by status and its durations in the window."""
    successes = by_status.get(RunStatus.SUCCEEDED, 0)
    failures = sum(by_status.get(s, 0) for s in FAILED_STATUSES)
    decided = successes + failures + by_status.get(RunStatus.INTERRUPTED, 0)
    values = sorted(durations)
    def latest(status: str) -> Sequence[Any] | None:
        rows = execute(LATEST_RUN_OF_STATUS, {"task": name, "status": status})
        return rows[0] if rows else None

    last_success = latest(RunStatus.SUCCEEDED)
    last_failures = [latest(s) for s in FAILED_STATUSES]
    last_failure = max((r for r in last_failures if r is not None), key=lambda r: r[_ID], default=None)
    return {
        "task": name,
        "runs": sum(by_status.values()),
        "successes": successes,
        "failures": failures,
        "skipped": by_status.get("skipped", 0),
        "interrupted": by_status.get(RunStatus.INTERRUPTED, 0),
        "running": by_status.get(RunStatus.RUNNING, 0),
        "success_rate": round(successes / decided, 4) if decided else None,
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        # What the runs' process trees used (recorded since schema version 8; None before).
        "cpu_p50_ms": percentile(sorted(used[0]), 50),
        "cpu_p95_ms": percentile(sorted(used[0]), 95),
        "rss_p50_kb": percentile(sorted(used[1]), 50),
        "rss_p95_kb": percentile(sorted(used[1]), 95),
        "last_success": instant_iso(last_success[_STARTED_AT]) if last_success is not None else None,
        "last_failure": instant_iso(last_failure[_STARTED_AT]) if last_failure is not None else None,
        "last_failure_status": last_failure[_STATUS] if last_failure is not None else None,
        "open_dead_letters": open_letters,
    }


def stats(settings: Settings, days: float, now: datetime, registry: Registry | None = None) -> list[dict[str, Any]]:
    """Return per task, over the last `days`: runs, outcomes, success rate, p50/p95, last success and failure.

    Reads only the runs of the window (index on started_at), plus one indexed lookup per task
    and status for the last success and failure, whenever they were.
    """
    now = now.astimezone(UTC)
    since = now - timedelta(days=days)
    log = runlog.open(settings.db_url, settle=settings)
    counts: dict[str, dict[str, int]] = {}
    durations: dict[str, list[int]] = {}
    used: dict[str, tuple[list[int], list[int]]] = {}
    try:
        with log.connection() as execute:
            for task, status_, duration_ms, cpu_ms, rss_kb in execute(
                    WINDOW_RUNS, {"since": to_ms(since), "until": to_ms(now)}):
                by_status = counts.setdefault(task, {})
                by_status[status_] = by_status.get(status_, 0) + 1
                if status_ in EXECUTED_STATUSES and duration_ms is not None:
                    durations.setdefault(task, []).append(int(duration_ms))
                if cpu_ms is not None or rss_kb is not None:
                    cpu, rss = used.setdefault(task, ([], []))
                    if cpu_ms is not None:
                        cpu.append(int(cpu_ms))
                    if rss_kb is not None:
                        rss.append(int(rss_kb))
            letters = {task: int(n) for task, n in execute(OPEN_DEAD_LETTERS, {})}
            names = list(registry.names()) if registry is not None else []
            names += sorted(set(counts) - set(names))
            return [_row(execute, name, counts.get(name, {}), durations.get(name, []), letters.get(name, 0),
                         used.get(name, ([], []))) for name in names]
    finally:
        log.close()
