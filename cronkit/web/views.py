"""What the dashboard's pages show, read from the run log and the status report (no HTML here).

Each function is synchronous (SQLAlchemy) and runs in a thread; `pages` turns the result into
HTML through the templates. Every value that came from a run (params, errors, output) goes
through the service's redactor once more on its way out, as the API does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select

from cronkit.clock import now
from cronkit.runlog.deadletters import list_letters
from cronkit.runlog.pausing import pauses_of
from cronkit.runlog.reader import run_record, runs_page
from cronkit.runlog.schema import runs
from cronkit.runlog.status import FAILED_STATUSES, RunStatus
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore
from cronkit.schedule import next_run
from cronkit.web.service import Service

STRIP = 30  # runs in each task's strip on the overview
RUNS_PER_PAGE = 25
CHART_DAYS = 30
CHART_MAX_POINTS = 3000


def utc_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def state_of(status: str | None) -> str:
    """Return the colour class of a run status: ok, bad, busy, idle."""
    if status is None:
        return "idle"
    if status == RunStatus.SUCCEEDED.value:
        return "ok"
    if status in FAILED_STATUSES:
        return "bad"
    if status == RunStatus.RUNNING.value:
        return "busy"
    return "idle"


@dataclass
class TaskCard:
    """One task on the overview."""

    name: str
    description: str
    schedule: str
    schedule_text: str
    timezone: str
    environments: list[str]
    scheduled_here: bool
    next_run: datetime | None
    last: dict[str, Any] | None
    missed: int | None
    drift: list[str]
    strip: list[dict[str, Any]] = field(default_factory=list)
    pause: dict[str, Any] | None = None  # the pause keys (runlog.pauses) of a paused task
    insights: list[dict[str, Any]] = field(default_factory=list)  # the task's findings (SPEC 16)


def strip_runs(service: Service, task: str, limit: int = STRIP) -> list[dict[str, Any]]:
    """Return a task's latest runs, oldest first (the strip reads left to right)."""
    query = (select(runs.c.id, runs.c.status, runs.c.started_at, runs.c.duration_ms, runs.c.trigger)
             .where(runs.c.task == task).order_by(runs.c.id.desc()).limit(limit))
    with service.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [{"id": r.id, "status": r.status, "state": state_of(r.status), "started_at": utc_ms(r.started_at),
             "duration_ms": r.duration_ms, "trigger": r.trigger} for r in reversed(rows)]


def overview(service: Service) -> list[TaskCard]:
    """Return a card per task of the registry, in registry order."""
    report = service.status.get(10.0)
    statuses = {t.name: t for t in report.tasks} if report is not None else {}
    at = now()
    pauses = paused(service, at)
    cards = []
    for task in service.registry:
        st = statuses.get(task.name)
        zone = task.zone(service.settings.timezone)
        upcoming = st.next_run if st is not None and st.next_run is not None else next_run(task.resolved_schedule, zone, at)
        last = None
        if st is not None and st.last_run is not None:
            lr = st.last_run
            last = {"id": lr.id, "status": lr.status, "state": state_of(lr.status), "trigger": lr.trigger,
                    "started_at": utc_ms(lr.started_at), "duration_ms": lr.duration_ms,
                    "error": service.redactor(lr.error) if lr.error else None}
        cards.append(TaskCard(
            name=task.name, description=task.description, schedule=task.schedule,
            schedule_text=st.schedule_text if st else task.schedule,
            timezone=zone, environments=list(task.environments),
            scheduled_here=bool(st and st.scheduled), next_run=upcoming, last=last,
            missed=st.missed.count if st is not None and st.missed is not None else None,
            drift=[d.kind for d in st.drift] if st else [],
            strip=strip_runs(service, task.name),
            pause=pauses[task.name].as_dict() if task.name in pauses else None,
            insights=_insights_of(report.insights if report is not None else (), task.name, service),
        ))
    return cards


def _insights_of(found: Any, task: str, service: Service) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], service.redactor.value([i for i in found if i["task"] == task]))


def task_insights(service: Service, task: str) -> list[dict[str, Any]]:
    """Return a task's findings from the status report (refreshed at most every 10 s)."""
    report = service.status.get(10.0)
    return _insights_of(report.insights if report is not None else (), task, service)


def paused(service: Service, at: datetime) -> dict[str, Any]:
    """Return the pauses in force, by task, read now (not from the cached status report)."""
    return pauses_of(RunStore.for_engine(service.engine, owned=False), at)


def health_summary(body: dict[str, Any]) -> dict[str, Any]:
    """Reduce the /health/deep answer to what the overview's banner shows."""
    parts = []
    for name, part in (body.get("components") or {}).items():
        state = part.get("state") if isinstance(part, dict) else part
        note = ""
        if isinstance(part, dict):
            note = part.get("error") or part.get("detail") or ""
            if name in ("missed_slots", "latest_failures") and part.get("tasks"):
                note = ", ".join(sorted(part["tasks"]))
        parts.append({"name": name.replace("_", " "), "state": state, "note": note})
    return {"healthy": bool(body.get("healthy")), "status": body.get("status", "unknown"),
            "checked_at": body.get("checked_at"), "components": parts, "reasons": body.get("reasons") or []}


@dataclass
class ChartPoint:
    at: datetime
    duration_s: float
    state: str
    run_id: int


def task_stats(service: Service, task: str, now: datetime) -> dict[str, Any]:
    """Return a task's last 30 days: chart points, p50/p95 (s), success rate, counts."""
    since = to_ms(now - timedelta(days=CHART_DAYS))
    query = (select(runs.c.id, runs.c.status, runs.c.started_at, runs.c.duration_ms,
                    (runs.c.cpu_user_ms + runs.c.cpu_system_ms).label("cpu_ms"), runs.c.max_rss_kb)
             .where(runs.c.task == task, runs.c.started_at >= since, runs.c.duration_ms.is_not(None))
             .order_by(runs.c.id.desc()).limit(CHART_MAX_POINTS))
    counts_q = (select(runs.c.status, func.count()).where(runs.c.task == task, runs.c.started_at >= since)
                .group_by(runs.c.status))
    with service.engine.connect() as conn:
        rows = conn.execute(query).all()
        counts = {status: int(n) for status, n in conn.execute(counts_q).all()}
    points = [ChartPoint(utc_ms(r.started_at) or now, r.duration_ms / 1000, state_of(r.status), r.id)
              for r in reversed(rows)]
    durations = sorted(p.duration_s for p in points)
    cpu = sorted(float(r.cpu_ms) for r in rows if r.cpu_ms is not None)
    rss = sorted(float(r.max_rss_kb) for r in rows if r.max_rss_kb is not None)
    finished = sum(n for s, n in counts.items() if s != RunStatus.RUNNING.value)
    succeeded = counts.get(RunStatus.SUCCEEDED.value, 0)
    return {
        "points": points, "p50": percentile(durations, 50), "p95": percentile(durations, 95),
        "runs": sum(counts.values()), "succeeded": succeeded, "finished": finished,
        "failed": sum(n for s, n in counts.items() if s in FAILED_STATUSES),
        "success_rate": (100.0 * succeeded / finished) if finished else None,
        "since": now - timedelta(days=CHART_DAYS), "now": now,
        "cpu_p50_ms": percentile(cpu, 50), "cpu_p95_ms": percentile(cpu, 95),
        "rss_p50_kb": percentile(rss, 50), "rss_p95_kb": percentile(rss, 95),
    }


def percentile(values: list[float], pct: float) -> float | None:
    """Return the nearest-rank percentile of sorted `values`, None when empty."""
    if not values:
        return None
    rank = max(1, -(-len(values) * pct // 100))
    return values[int(rank) - 1]


def task_runs(service: Service, task: str, before: int | None) -> tuple[list[dict[str, Any]], int | None]:
    """Return a page of a task's runs (newest first, redacted) and the cursor of the next page."""
    page = runs_page(service.engine, task=task, before_id=before, limit=RUNS_PER_PAGE)
    rows = cast(list[dict[str, Any]], service.redactor.value(page.runs))
    for row in rows:
        row["state"] = state_of(row["status"])
    return rows, page.next_before


def dead_letters(service: Service, task: str) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], service.redactor.value(list_letters(service.engine, task=task, limit=50)))


def one_run(service: Service, run_id: int) -> dict[str, Any] | None:
    """Return a run with its attempts, dead letter and output tail, redacted; None when unknown."""
    record = run_record(RunStore.for_engine(service.engine, owned=False), run_id)
    if record is None:
        return None
    record = cast(dict[str, Any], service.redactor.value(record))
    output = record.get("output") or ""
    record["output_tail"] = output[-4000:]
    record["output_cut"] = len(output) > 4000
    record["state"] = state_of(record["status"])
    return dict(record)


__all__ = ["TaskCard", "dead_letters", "health_summary", "one_run", "overview", "percentile", "state_of",
           "strip_runs", "task_insights", "task_runs", "task_stats"]
