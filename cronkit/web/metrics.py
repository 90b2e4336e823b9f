"""`GET /metrics`: Prometheus metrics read from the run log at scrape time (SPEC sections 10 and 19).

A custom collector, no multiprocess mode. The families, their HELP, TYPE, buckets and labels are
the `.prom` files' (notify/families.py), and so are the reads (notify/figures.py): the run totals
(one row per task, kept as runs end: counters that never go down, exact after pruning), a few
indexed seeks per task for the latest runs, and the runs still `running` through the status
index. A scrape reads a bounded number of rows however large the log, and however old the oldest
run still running is. Missed slots, drift and next runs come from the status report, which the
service refreshes in the background at most every STATUS_MAX_AGE; the missed-slots counter is
advanced here at most as often.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from cronkit.clock import now
from cronkit.config.settings import Settings
from cronkit.duties.missed import installed_at, judged_slots
from cronkit.health.report import StatusReport
from cronkit.notify.families import COUNTER, FAMILIES, Sample, merge, task_samples
from cronkit.notify.figures import (
    interval_seconds,
    latest_by_task,
    letters_by_task,
    running_by_task,
    task_figures,
)
from cronkit.registry import Registry
from cronkit.runlog import totals as run_totals
from cronkit.runlog.enginelink import execute_on
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore

STATUS_MAX_AGE = 30.0
START_FAILURES = "start-failures"  # startfail.DIRECTORY: <home>/start-failures/<block>.json


class RunLogCollector(Collector):
    """Collect the families of notify/families.py from the run log and the latest status report."""

    def __init__(self, engine: Engine, settings: Settings, registry: Registry, version: str,
                 status: Callable[[], StatusReport | None]) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = registry
        self.version = version
        self.status = status
        self._zones = {t.name: t.zone(settings.timezone) for t in registry}
        start = now()
        self._intervals = {t.name: interval_seconds(t, self._zones[t.name], start) for t in registry}
        self._judged_at = 0.0
        self._judging = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        return []  # computed at scrape time: nothing to collect when registering

    def collect(self) -> Iterator[Metric]:
        at = now()
        if time.monotonic() - self._judged_at >= STATUS_MAX_AGE and not self._judging.locked():
            # In the background: judging every task's recent slots must not hold up this scrape.
            threading.Thread(target=self.judge_missed, args=(at,), name="cronkit-missed", daemon=True).start()
        report = self.status()
        states = {t.name: t for t in report.tasks} if report is not None else {}
        names = [t.name for t in self.registry]
        with self.engine.connect() as conn:
            execute = execute_on(conn)
            totals = run_totals.read_all(execute)
            running = running_by_task(execute)
            letters = letters_by_task(execute)
            latest = latest_by_task(execute, names)
            parts = []
            for task in self.registry:
                state = states.get(task.name)
                figures = task_figures(
                    execute, task, self._zones[task.name], at,
                    next_run=state.next_run.timestamp() if state is not None and state.next_run is not None else None,
                    missed=state.missed.count if state is not None and state.missed is not None else None,
                    totals=totals.get(task.name) or run_totals.Totals(task.name),
                    running=running.get(task.name, (0, None)), letters=letters.get(task.name, 0),
                    interval=self._intervals[task.name], latest=latest.get(task.name, (None, None, None)))
                parts.append(task_samples(figures))
        parts.append(self._service_samples(report))
        yield from as_metrics(merge(parts))

    def judge_missed(self, at: datetime) -> None:
        """Count newly missed slots into the totals, at most every STATUS_MAX_AGE (each a bounded read)."""
        if time.monotonic() - self._judged_at < STATUS_MAX_AGE or not self._judging.acquire(blocking=False):
            return
        try:
            self._judged_at = time.monotonic()
            since = installed_at(self.settings)
            if not since:
                return
            store = RunStore.for_engine(self.engine)
            for task in self.registry:
                with contextlib.suppress(Exception):  # a busy run log: the next scrape judges again
                    judged, missed = judged_slots(store, self.settings, task, at, since)
                    if judged:
                        run_totals.advance_missed(store.sql, task.name, [to_ms(s) for s in missed], to_ms(judged[-1]))
        finally:
            self._judging.release()

    def _service_samples(self, report: StatusReport | None) -> dict[str, list[Sample]]:
        drift = float(len(report.block.drift)) if report is not None else 0.0
        return {
            "cronkit_crontab_drift": [("cronkit_crontab_drift", (), drift)],
            "cronkit_start_failure_timestamp_seconds": [
                ("cronkit_start_failure_timestamp_seconds", (("block", block),), at)
                for block, at in start_failures(self.settings.home).items()],
            "cronkit_build_info": [("cronkit_build_info", (("version", self.version),), 1.0)],
            "cronkit_task_insight": [  # the task label stays bounded by the registry
                ("cronkit_task_insight", (("kind", i["kind"]), ("severity", i["severity"]), ("task", i["task"])), 1.0)
                for i in (report.insights if report is not None else ()) if i["task"] in self._zones],
        }


def start_failures(home: Path) -> dict[str, float]:
    """Return, per block whose cron runs cannot start, when the latest failed (startfail's records)."""
    out: dict[str, float] = {}
    directory = home / START_FAILURES
    with contextlib.suppress(OSError):
        for path in sorted(directory.glob("*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
                record = json.loads(path.read_text())
                out[str(record.get("key") or path.stem)] = datetime.fromisoformat(str(record["at"])).timestamp()
    return out


def as_metrics(samples: Mapping[str, Sequence[Sample]]) -> Iterator[Metric]:
    """Turn the shared samples into prometheus_client families, in FAMILIES' order."""
    for name, (kind, text) in FAMILIES.items():
        if name not in samples:
            continue
        # prometheus_client names a counter family without its _total, and writes it back on exposition.
        family = Metric(name.removesuffix("_total") if kind == COUNTER else name, text, kind)
        for sample, labels, value in samples[name]:
            family.add_sample(sample, dict(labels), value)
        yield family


__all__ = ["STATUS_MAX_AGE", "RunLogCollector", "as_metrics", "start_failures"]
