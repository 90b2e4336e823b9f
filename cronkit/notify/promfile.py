"""Write `<metrics_dir>/cronkit_<task>.prom` for node_exporter's textfile collector (SPEC 11).

The values come from the run log, so counters stay cumulative across the short-lived `cronkit
run` processes; the names are `/metrics`' (SPEC section 10), restricted to the series of one
task (a family the files shared, such as cronkit_build_info, would collide in node_exporter).
The file is written to a temp name in the same directory and renamed over the old one, so the
collector never reads half a file. Plain SQL and no prometheus_client: this runs after every run.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..fileutil import write_atomic
from ..registry import Task
from ..runlog.writer import RunStore
from ..status import RunStatus
from .missed import missed_slots

BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
HELP = {
    "cronkit_task_info": ("gauge", "A task of the registry, with its schedule and timezone."),
    "cronkit_task_last_run_timestamp_seconds": ("gauge", "When the task's latest run started."),
    "cronkit_task_last_success_timestamp_seconds": ("gauge", "When the task's latest successful run finished."),
    "cronkit_task_last_failure_timestamp_seconds": ("gauge", "When the task's latest failed, timed out or lost run finished."),
    "cronkit_task_next_run_timestamp_seconds": ("gauge", "The task's next scheduled instant."),
    "cronkit_task_runs_total": ("counter", "Runs of the task in the run log, by status."),
    "cronkit_task_run_duration_seconds": ("histogram", "Duration of the task's finished runs."),
    "cronkit_task_running": ("gauge", "Runs of the task running now."),
    "cronkit_task_missed_slots": ("gauge", "Slots of the task no run served (as cronkit status counts them)."),
    "cronkit_dead_letters_open": ("gauge", "Open dead letters of the task."),
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def _stats(store: RunStore, task: str) -> dict[str, Any]:
    finished = "status IN ('succeeded', 'failed', 'timed_out', 'interrupted') AND duration_ms IS NOT NULL"
    row = store.sql(
        f"SELECT MAX(started_at), MAX(CASE WHEN status = 'succeeded' THEN finished_at END),"
        f" MAX(CASE WHEN status IN ('failed', 'timed_out', 'lost') THEN COALESCE(finished_at, started_at) END),"
        f" SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {finished} THEN 1 ELSE 0 END), SUM(CASE WHEN {finished} THEN duration_ms ELSE 0 END),"
        f" {', '.join(f'SUM(CASE WHEN {finished} AND duration_ms <= {int(b * 1000)} THEN 1 ELSE 0 END)' for b in BUCKETS)}"
        f" FROM runs WHERE task = :task", {"task": task})[0]
    by_status = {str(s): int(n) for s, n in store.sql(
        "SELECT status, COUNT(*) FROM runs WHERE task = :task GROUP BY status", {"task": task})}
    letters = store.sql("SELECT COUNT(*) FROM dead_letters WHERE task = :task AND resolved_at IS NULL",
                        {"task": task})[0][0]
    return {"last_run": row[0], "last_success": row[1], "last_failure": row[2], "running": int(row[3] or 0),
            "count": int(row[4] or 0), "sum_ms": int(row[5] or 0), "buckets": [int(v or 0) for v in row[6:]],
            "by_status": by_status, "dead_letters": int(letters or 0)}


def render(store: RunStore, settings: Settings, task: Task, now: datetime) -> str:
    """Return the text exposition of one task's series."""
    from ..schedule import next_run

    stats = _stats(store, task.name)
    zone = task.zone(settings.timezone)
    t = f'task="{_label(task.name)}"'
    samples: dict[str, list[str]] = {name: [] for name in HELP}
    samples["cronkit_task_info"].append(
        f'cronkit_task_info{{{t},schedule="{_label(task.schedule)}",timezone="{_label(zone)}"}} 1')
    for key, name in (("last_run", "cronkit_task_last_run_timestamp_seconds"),
                      ("last_success", "cronkit_task_last_success_timestamp_seconds"),
                      ("last_failure", "cronkit_task_last_failure_timestamp_seconds")):
        if stats[key] is not None:
            samples[name].append(f"{name}{{{t}}} {_num(int(stats[key]) / 1000)}")
    nxt = next_run(task.resolved_schedule, zone, now)
    samples["cronkit_task_next_run_timestamp_seconds"].append(
        f"cronkit_task_next_run_timestamp_seconds{{{t}}} {_num(nxt.timestamp())}")
    for status in RunStatus:
        count = stats["by_status"].get(status.value, 0)
        samples["cronkit_task_runs_total"].append(f'cronkit_task_runs_total{{{t},status="{status.value}"}} {count}')
    hist = samples["cronkit_task_run_duration_seconds"]
    for bound, count in zip(BUCKETS, stats["buckets"], strict=True):
        hist.append(f'cronkit_task_run_duration_seconds_bucket{{{t},le="{_num(bound)}"}} {count}')
    hist.append(f'cronkit_task_run_duration_seconds_bucket{{{t},le="+Inf"}} {stats["count"]}')
    hist.append(f"cronkit_task_run_duration_seconds_sum{{{t}}} {_num(stats['sum_ms'] / 1000)}")
    hist.append(f"cronkit_task_run_duration_seconds_count{{{t}}} {stats['count']}")
    samples["cronkit_task_running"].append(f"cronkit_task_running{{{t}}} {stats['running']}")
    samples["cronkit_task_missed_slots"].append(
        f"cronkit_task_missed_slots{{{t}}} {len(missed_slots(store, settings, task, now))}")
    samples["cronkit_dead_letters_open"].append(f"cronkit_dead_letters_open{{{t}}} {stats['dead_letters']}")
    lines: list[str] = []
    for name, (kind, text) in HELP.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(lines) + "\n"


def write(store: RunStore, settings: Settings, task: Task, now: datetime) -> Path:
    """Rewrite the task's .prom file atomically (temp file in the same directory, then rename)."""
    directory = settings.metrics_path
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"cronkit_{task.name}.prom"
    write_atomic(target, render(store, settings, task, now), 0o644)  # its temp file is not *.prom: skipped
    return target


__all__ = ["BUCKETS", "HELP", "render", "write"]
