"""Write `<metrics_dir>/cronkit_<task>.prom` for node_exporter's textfile collector (SPEC 11).

The values come from the run log, so counters stay cumulative across the short-lived `cronkit
run` processes: the run totals (runlog/totals.py) and a few indexed seeks, never an aggregate over
the task's runs (notify/figures.py). The families are `/metrics`' (notify/families.py), restricted
to the series of one task (a family the files shared, such as cronkit_build_info, would collide in
node_exporter). A crash between a run's end and this file's write leaves the file one run behind
until the next run or `cronkit check` rewrites it from the totals, which the run's end committed.
The file is written to a temp name in the same directory and renamed over the old one, so the
collector never reads half a file. Plain SQL and no prometheus_client: this runs after every run.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cronkit.config.settings import Settings
from cronkit.duties.missed import judged_slots
from cronkit.notify.families import render as render_families
from cronkit.notify.families import task_samples
from cronkit.notify.figures import task_figures
from cronkit.registry import Task
from cronkit.runlog import totals as run_totals
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore
from cronkit.safe.files import write_atomic
from cronkit.schedule import next_run


def render(store: RunStore, settings: Settings, task: Task, now: datetime) -> str:
    """Return the text exposition of one task's series, counting its newly missed slots on the way."""
    zone = task.zone(settings.timezone)
    judged, missed = judged_slots(store, settings, task, now)
    if judged:
        run_totals.advance_missed(store.sql, task.name, [to_ms(s) for s in missed], to_ms(judged[-1]))
    figures = task_figures(store.sql, task, zone, now, next_run=next_run(task.resolved_schedule, zone, now).timestamp(),
                           missed=len(missed))
    return render_families(task_samples(figures))


def write(store: RunStore, settings: Settings, task: Task, now: datetime) -> Path:
    """Rewrite the task's .prom file atomically (temp file in the same directory, then rename)."""
    directory = settings.metrics_path
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"cronkit_{task.name}.prom"
    # Its temp file is not *.prom (the collector skips it). No fsync: the file is rebuilt from the run
    # log at the next run or `cronkit check`, and an fsync per tick costs a busy disk tens of ms.
    write_atomic(target, render(store, settings, task, now), 0o644, sync=False)
    return target


__all__ = ["render", "write"]
