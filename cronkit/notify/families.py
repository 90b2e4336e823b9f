"""The Prometheus families cronkit exports: one definition for `/metrics` and the `.prom` files.

SPEC sections 10 and 19: both exports carry the same families with the same HELP, TYPE,
buckets and label formatting (`le` as "0.5", "1", "+Inf"; labels sorted by name), because they
are built here from the same figures (`TaskFigures`). Counters come from the run totals
(runlog/totals.py): they are exported at 0 for every final status and never go down; runs in
progress are the gauge `cronkit_task_running`. Standard library only: the run path writes the
`.prom` file after every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from cronkit.plain import record
from cronkit.runlog.totals import BUCKETS, FINAL_STATUSES, Totals

GAUGE, COUNTER, HISTOGRAM = "gauge", "counter", "histogram"

# name -> (type, help), in the order of the exposition. A counter's name ends in _total.
TASK_FAMILIES: dict[str, tuple[str, str]] = {
    "cronkit_task_info": (GAUGE, "A task of the registry, with its schedule and timezone."),
    "cronkit_task_interval_seconds": (GAUGE, "The longest gap between the task's next slots (the stale alert's unit)."),
    "cronkit_task_timeout_seconds": (GAUGE, "The task's timeout: a run still going after it is stopped."),
    "cronkit_task_last_run_timestamp_seconds": (GAUGE, "When the task's latest run started."),
    "cronkit_task_last_success_timestamp_seconds": (GAUGE, "When the task's latest successful run finished."),
    "cronkit_task_last_failure_timestamp_seconds": (GAUGE,
                                                    "When the task's latest failed, timed out or lost run finished."),
    "cronkit_task_last_duration_seconds": (GAUGE, "Duration of the task's latest run that executed it."),
    "cronkit_task_next_run_timestamp_seconds": (GAUGE, "When the task is next due."),
    "cronkit_task_runs_total": (COUNTER, "Runs of the task that ended, by final status (pruning keeps the count)."),
    "cronkit_task_run_duration_seconds": (HISTOGRAM, "Duration of the task's runs that executed it."),
    "cronkit_task_running": (GAUGE, "Runs of the task running now."),
    "cronkit_task_running_since_timestamp_seconds": (GAUGE, "When the oldest run of the task still running started."),
    "cronkit_task_missed_slots": (GAUGE, "Slots of the task that passed with no run (recent window, as status counts)."),
    "cronkit_task_missed_slots_total": (COUNTER, "Slots of the task seen missed, ever (counted once each)."),
    "cronkit_dead_letters_open": (GAUGE, "Open dead letters of the task."),
}
# Families of the service as a whole: /metrics only (in the .prom files of several tasks they would collide).
SERVICE_FAMILIES: dict[str, tuple[str, str]] = {
    "cronkit_crontab_drift": (GAUGE, "Lines of the installed crontab block that differ from the registry."),
    "cronkit_start_failure_timestamp_seconds": (GAUGE, "When a cron run of the block last failed to start."),
    "cronkit_build_info": (GAUGE, "cronkit's version."),
    # Insights (issue 29): one sample per finding of the status report, /metrics only (`cronkit insights`).
    "cronkit_task_insight": (GAUGE, "A finding of cronkit insights about the task (SPEC 16)."),
}
FAMILIES = {**TASK_FAMILIES, **SERVICE_FAMILIES}

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels, float]  # the sample's full name, its labels sorted by name, its value


@record
class TaskFigures:
    """What the families say about one task, each read in O(1) (see notify/figures.py)."""

    task: str
    schedule: str
    timezone: str
    interval: float
    timeout: float
    totals: Totals
    last_run: float | None = None  # epoch seconds
    last_success: float | None = None
    last_failure: float | None = None
    next_run: float | None = None
    running: int = 0
    running_since: float | None = None
    missed: int | None = None  # the gauge; None when nobody counted it
    dead_letters: int = 0


def le(bound: float) -> str:
    """Return a bucket's `le` label as both exports write it: "0.5", "1", "7200"."""
    return number(bound)


def number(value: float) -> str:
    """Return a sample value in the shortest exact text: integers without ".0"."""
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        return {"inf": "+Inf", "-inf": "-Inf"}.get(str(value), "NaN")
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _labels(**labels: str) -> Labels:
    return tuple(sorted(labels.items()))


def task_samples(fig: TaskFigures) -> dict[str, list[Sample]]:
    """Return one task's samples, by family."""
    t = fig.task
    out: dict[str, list[Sample]] = {name: [] for name in TASK_FAMILIES}

    def put(name: str, value: float | None, **labels: str) -> None:
        if value is not None:
            out[name].append((name, _labels(task=t, **labels), float(value)))

    put("cronkit_task_info", 1.0, schedule=fig.schedule, timezone=fig.timezone)
    put("cronkit_task_interval_seconds", fig.interval)
    put("cronkit_task_timeout_seconds", fig.timeout)
    put("cronkit_task_last_run_timestamp_seconds", fig.last_run)
    put("cronkit_task_last_success_timestamp_seconds", fig.last_success)
    put("cronkit_task_last_failure_timestamp_seconds", fig.last_failure)
    last = fig.totals.last_duration_ms
    put("cronkit_task_last_duration_seconds", None if last is None else last / 1000)
    put("cronkit_task_next_run_timestamp_seconds", fig.next_run)
    for status in FINAL_STATUSES:
        put("cronkit_task_runs_total", fig.totals.runs.get(status, 0), status=status)
    hist = "cronkit_task_run_duration_seconds"
    for bound, count in zip(BUCKETS, fig.totals.buckets, strict=True):
        out[hist].append((f"{hist}_bucket", _labels(task=t, le=le(bound)), float(count)))
    out[hist].append((f"{hist}_bucket", _labels(task=t, le="+Inf"), float(fig.totals.duration_count)))
    out[hist].append((f"{hist}_sum", _labels(task=t), fig.totals.duration_sum_ms / 1000))
    out[hist].append((f"{hist}_count", _labels(task=t), float(fig.totals.duration_count)))
    put("cronkit_task_running", fig.running)
    put("cronkit_task_running_since_timestamp_seconds", fig.running_since)
    put("cronkit_task_missed_slots", fig.missed)
    put("cronkit_task_missed_slots_total", fig.totals.missed_slots)
    put("cronkit_dead_letters_open", fig.dead_letters)
    return out


def merge(parts: Iterable[Mapping[str, Sequence[Sample]]]) -> dict[str, list[Sample]]:
    """Merge the samples of several tasks (or the service's) family by family."""
    out: dict[str, list[Sample]] = {}
    for part in parts:
        for name, samples in part.items():
            out.setdefault(name, []).extend(samples)
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(samples: Mapping[str, Sequence[Sample]]) -> str:
    """Return the text exposition (format 0.0.4) of the families in FAMILIES' order."""
    lines: list[str] = []
    for name, (kind, text) in FAMILIES.items():
        if name not in samples:
            continue
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for sample, labels, value in samples[name]:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            lines.append(f"{sample}{{{inner}}} {number(value)}" if inner else f"{sample} {number(value)}")
    return "\n".join(lines) + "\n"


__all__ = ["FAMILIES", "SERVICE_FAMILIES", "TASK_FAMILIES", "TaskFigures", "le", "merge", "number", "render",
           "task_samples"]
