"""`GET /metrics`: Prometheus metrics computed from the run log at scrape time (SPEC 10's names).

A custom collector, no multiprocess mode: every scrape reads the run log. Per-task timestamps
are a few indexed lookups per task. Run counts and the duration histogram are counters over the
whole log: they are summed once, then only over the runs that finished since (the runs below the
oldest one still running are final), so a scrape costs the same at a thousand runs or a million,
and pruning old runs never makes a counter go down. Missed slots, drift and next runs come from
the status report, which the service refreshes in the background at most every STATUS_MAX_AGE.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ..clock import now
from ..config import Settings
from ..health.status import StatusReport
from ..registry import Registry, Task
from ..status import EXECUTED_STATUSES, FAILED_STATUSES, RunStatus

# Upper bounds (seconds) of the duration histogram's buckets: from a quick cleanup to a long report.
BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0)
STATUS_MAX_AGE = 30.0
_EXECUTED = tuple(s.value for s in EXECUTED_STATUSES)


@dataclass
class _Sums:
    """Counts per (task, status) and the duration histogram per task, over some runs."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    buckets: dict[str, list[int]] = field(default_factory=dict)  # per bound, non-cumulative
    observed: dict[str, int] = field(default_factory=dict)
    total_ms: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Sums) -> None:
        for key, value in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + value
        for task, values in other.buckets.items():
            mine = self.buckets.setdefault(task, [0] * (len(BUCKETS) + 1))
            for i, value in enumerate(values):
                mine[i] += value
        for task, value in other.observed.items():
            self.observed[task] = self.observed.get(task, 0) + value
        for task, value in other.total_ms.items():
            self.total_ms[task] = self.total_ms.get(task, 0) + value

    def copy(self) -> _Sums:
        out = _Sums()
        out.add(self)
        return out


def _bucket_sql() -> str:
    edges = [0.0, *BUCKETS]
    parts = []
    for low, high in itertools.pairwise(edges):
        lower = f"duration_ms > {int(low * 1000)} AND " if low else ""
        parts.append(f"SUM(CASE WHEN {lower}duration_ms <= {int(high * 1000)} THEN 1 ELSE 0 END)")
    parts.append(f"SUM(CASE WHEN duration_ms > {int(BUCKETS[-1] * 1000)} THEN 1 ELSE 0 END)")
    return ", ".join(parts)


_SUM_SQL = (
    "SELECT task, status, COUNT(*), COUNT(duration_ms), COALESCE(SUM(duration_ms), 0), " + _bucket_sql()
    + " FROM runs WHERE id > :low AND id <= :high AND status <> :running GROUP BY task, status"
)


def _sums(conn: Connection, low: int, high: int) -> _Sums:
    out = _Sums()
    for row in conn.execute(text(_SUM_SQL), {"low": low, "high": high, "running": RunStatus.RUNNING.value}):
        task, status, count, timed, total = row[0], row[1], int(row[2]), int(row[3] or 0), int(row[4] or 0)
        out.counts[(task, status)] = out.counts.get((task, status), 0) + count
        if status in _EXECUTED and timed:
            values = out.buckets.setdefault(task, [0] * (len(BUCKETS) + 1))
            for i, value in enumerate(row[5:]):
                values[i] += int(value or 0)
            out.observed[task] = out.observed.get(task, 0) + timed
            out.total_ms[task] = out.total_ms.get(task, 0) + total
    return out


class RunTotals:
    """The run counters, summed incrementally: final runs once, the recent tail at every scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._final_upto = 0  # every run with an id up to this is finished and counted in _base
        self._base = _Sums()

    def read(self, conn: Connection) -> _Sums:
        with self._lock:
            top = conn.execute(text("SELECT MAX(id) FROM runs")).scalar()
            if top is None:
                return self._base.copy()
            oldest_running = conn.execute(
                text("SELECT MIN(id) FROM runs WHERE status = :running AND id > :low"),
                {"running": RunStatus.RUNNING.value, "low": self._final_upto},
            ).scalar()
            final = int(top) if oldest_running is None else int(oldest_running) - 1
            if final > self._final_upto:
                self._base.add(_sums(conn, self._final_upto, final))
                self._final_upto = final
            out = self._base.copy()
            if int(top) > self._final_upto:
                out.add(_sums(conn, self._final_upto, int(top)))
            return out


def _latest_sql(count: int) -> str:
    """Return one statement for the ids of each task's latest run, success and failures (indexed seeks)."""

    def latest(i: int, status: str | None) -> str:
        where = f"task = :t{i}" + (f" AND status = '{status}'" if status else "")
        return f"(SELECT id FROM runs WHERE {where} ORDER BY id DESC LIMIT 1)"

    statuses = [None, RunStatus.SUCCEEDED.value, *(s.value for s in FAILED_STATUSES)]
    return " UNION ALL ".join(
        f"SELECT {i}, " + ", ".join(latest(i, status) for status in statuses) for i in range(count))


def interval_seconds(task: Task, zone: str) -> float:
    """Return the longest gap between the task's next few slots: how often it is due, at least."""
    from ..schedule import slots_between

    start = now()
    slots = list(itertools.islice(slots_between(task.resolved_schedule, zone, start, start + timedelta(days=800)), 4))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    return max(gaps) if gaps else 0.0


class RunLogCollector(Collector):
    """Collect SPEC 10's metrics from the run log and the latest status report."""

    def __init__(self, engine: Engine, settings: Settings, registry: Registry, version: str,
                 status: Callable[[], StatusReport | None]) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = registry
        self.version = version
        self.status = status
        self.totals = RunTotals()
        self._intervals = {t.name: interval_seconds(t, t.zone(settings.timezone)) for t in registry}
        self._latest = text(_latest_sql(len(registry)))

    def describe(self) -> Iterable[Metric]:
        return []  # computed at scrape time: nothing to collect when registering

    def collect(self) -> Iterator[Metric]:
        names = [t.name for t in self.registry]
        known = set(names)
        with self.engine.connect() as conn:
            latest = {names[int(row[0])]: tuple(row[1:]) for row in conn.execute(
                self._latest, {f"t{i}": name for i, name in enumerate(names)})} if names else {}
            ids = sorted({int(i) for row in latest.values() for i in row if i is not None})
            times: dict[int, tuple[int | None, int | None]] = {}
            for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
                placeholders = ", ".join(str(i) for i in chunk)  # integers from the database itself
                for row in conn.execute(text(f"SELECT id, started_at, finished_at FROM runs WHERE id IN ({placeholders})")):
                    times[int(row[0])] = (row[1], row[2])
            running = {row[0]: int(row[1]) for row in conn.execute(
                text("SELECT task, COUNT(*) FROM runs WHERE status = :running GROUP BY task"),
                {"running": RunStatus.RUNNING.value})}
            letters = {row[0]: int(row[1]) for row in conn.execute(
                text("SELECT task, COUNT(*) FROM dead_letters WHERE resolved_at IS NULL GROUP BY task"))}
            sums = self.totals.read(conn)
        report = self.status()
        yield from self._task_metrics(names, latest, times, running, letters, report)
        yield from self._run_metrics(known, sums)
        drift = GaugeMetricFamily("cronkit_crontab_drift",
                                  "Lines of the installed crontab block that differ from the registry.")
        drift.add_metric([], float(len(report.block.drift)) if report is not None else 0.0)
        yield drift
        insight = GaugeMetricFamily("cronkit_task_insight", "A finding of cronkit insights about the task (SPEC 16).",
                                    labels=["task", "kind", "severity"])
        for item in report.insights if report is not None else ():
            if item["task"] in known:  # the task label stays bounded by the registry
                insight.add_metric([item["task"], item["kind"], item["severity"]], 1.0)
        yield insight
        info = GaugeMetricFamily("cronkit_build_info", "cronkit's version.", labels=["version"])
        info.add_metric([self.version], 1.0)
        yield info

    def _task_metrics(self, names: list[str], latest: dict[str, Any], times: dict[int, tuple[int | None, int | None]],
                      running: dict[str, int], letters: dict[str, int], report: StatusReport | None) -> Iterator[Metric]:
        info = GaugeMetricFamily("cronkit_task_info", "A registered task: its schedule and zone.",
                                 labels=["task", "schedule", "timezone"])
        last_run = _gauge("cronkit_task_last_run_timestamp_seconds", "When the task's latest run started.")
        last_ok = _gauge("cronkit_task_last_success_timestamp_seconds", "When the task's latest successful run finished.")
        last_bad = _gauge("cronkit_task_last_failure_timestamp_seconds",
                          "When the task's latest failed, timed out or lost run finished.")
        next_run = _gauge("cronkit_task_next_run_timestamp_seconds", "When the task is next due (scheduled here only).")
        running_now = _gauge("cronkit_task_running", "Runs of the task running now.")
        missed = _gauge("cronkit_task_missed_slots", "Slots of the task that passed with no run (recent window).")
        open_letters = _gauge("cronkit_dead_letters_open", "Open dead letters of the task.")
        interval = _gauge("cronkit_task_interval_seconds",
                          "The longest gap between the task's slots (used by the stale alert).")
        statuses = {t.name: t for t in report.tasks} if report is not None else {}
        for task in self.registry:
            name = task.name
            info.add_metric([name, task.schedule, task.zone(self.settings.timezone)], 1.0)
            row = latest[name]
            if row[0] is not None:
                last_run.add_metric([name], _seconds(times.get(int(row[0]), (None, None))[0]))
            if row[1] is not None:
                last_ok.add_metric([name], _seconds(times.get(int(row[1]), (None, None))[1]))
            failures = [f for f in (times.get(int(i), (None, None))[1] for i in row[2:] if i is not None)
                        if f is not None]
            if failures:
                last_bad.add_metric([name], max(failures) / 1000)
            running_now.add_metric([name], float(running.get(name, 0)))
            open_letters.add_metric([name], float(letters.get(name, 0)))
            interval.add_metric([name], self._intervals[name])
            state = statuses.get(name)
            if state is not None and state.next_run is not None:
                next_run.add_metric([name], state.next_run.timestamp())
            if state is not None and state.missed is not None:
                missed.add_metric([name], float(state.missed.count))
        yield from (info, last_run, last_ok, last_bad, next_run, running_now, missed, open_letters, interval)

    def _run_metrics(self, known: set[str], sums: _Sums) -> Iterator[Metric]:
        total = CounterMetricFamily("cronkit_task_runs", "Runs of the task by final status.", labels=["task", "status"])
        for (task, status), count in sorted(sums.counts.items()):
            if task in known:  # the task label stays bounded by the registry
                total.add_metric([task, status], float(count))
        yield total
        duration = HistogramMetricFamily("cronkit_task_run_duration_seconds",
                                         "Wall time of the task's executed runs.", labels=["task"])
        for task in sorted(known):
            values = sums.buckets.get(task, [0] * (len(BUCKETS) + 1))
            cumulative, buckets = 0, []
            for bound, value in zip((*BUCKETS, float("inf")), values, strict=True):
                cumulative += value
                buckets.append(("+Inf" if bound == float("inf") else _le(bound), float(cumulative)))
            duration.add_metric([task], buckets, sum_value=sums.total_ms.get(task, 0) / 1000)
        yield duration


def _gauge(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=["task"])


def _seconds(ms: int | None) -> float:
    return (ms or 0) / 1000


def _le(bound: float) -> str:
    return f"{bound:.1f}"


__all__ = ["BUCKETS", "RunLogCollector", "RunTotals"]
