"""The analytics tasks: hourly metrics, daily stats, weekly trend and monthly executive reports.

Every task lets the database aggregate (INSERT ... SELECT with GROUP BY, a handful of statements
per period) and replaces its period's rows inside one transaction, so a re-run leaves identical
rows and memory does not grow with the number of events. Periods are half-open UTC intervals
`[start, end)`; the README lists the exact period rule and every metric's definition.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.engine import Connection, Engine

from cronkit.context import TaskContext
from cronkit.errors import ConfigError, UsageError

from . import platform as p
from .platform import UTCDateTime

UTC = UTC
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)

# --- periods -----------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _require_ended(task: str, end: datetime, now: datetime) -> None:
    if end > _utc(now):
        raise UsageError(f"{task}: the period ending {end.isoformat()} has not ended yet")


def parse_hour(text: str) -> datetime:
    """Parse `2026-11-20T13` (or `...T13:00`, optional offset) into the hour's start, UTC."""
    raw = text.strip()
    candidate = raw + ":00" if len(raw) == 13 else raw
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        raise UsageError(f"hour: {text!r} is not an hour such as 2026-11-20T13") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value.minute or value.second or value.microsecond:
        raise UsageError(f"hour: {text!r} is not on the hour")
    return _utc(value)


def hours_to_compute(ctx: TaskContext) -> list[datetime]:
    """Return the hour starts hourly-metrics computes.

    `--param hour=2026-11-20T13` names one hour; `--date D` names every full hour of D that has
    ended; otherwise the last full hour before the reference time (the slot, else now).
    """
    if "hour" in ctx.params:
        start = parse_hour(ctx.params["hour"])
        _require_ended(ctx.task, start + HOUR, ctx.now)
        return [start]
    if ctx.date is not None:
        first = _midnight(ctx.date)
        hours = [first + HOUR * i for i in range(24) if first + HOUR * (i + 1) <= _utc(ctx.now)]
        if not hours:
            raise UsageError(f"{ctx.task}: no hour of {ctx.date.isoformat()} has ended yet")
        return hours
    ref = _utc(ctx.reference_time)
    return [ref.replace(minute=0, second=0, microsecond=0) - HOUR]


def day_to_compute(ctx: TaskContext) -> date:
    """Return the UTC day to compute: `--date D`, else the day before the reference day."""
    day = ctx.date if ctx.date is not None else _utc(ctx.reference_time).date() - DAY
    _require_ended(ctx.task, _midnight(day) + DAY, ctx.now)
    return day


@dataclass(frozen=True)
class Period:
    """A report period `[start, end)`, compared with the period `[previous_start, start)`."""

    kind: str
    key: str
    start: datetime
    end: datetime
    previous_start: datetime
    previous_key: str

    @property
    def label(self) -> str:
        last = (self.end - DAY).date()
        return f"{self.start.date().isoformat()} to {last.isoformat()} (UTC)"


def week_key(start: date) -> str:
    """Name the Sunday-to-Saturday week starting `start` after the ISO week of its Monday."""
    year, week, _ = (start + timedelta(days=1)).isocalendar()
    return f"{year}-W{week:02d}"


def week_to_compute(ctx: TaskContext) -> Period:
    """Return the Sunday-to-Saturday week weekly-trend-reports covers.

    `--date D`: the week containing D. Otherwise the last full week before the reference day;
    for the scheduled Sunday 01:00 run that is exactly the 7 days before the run day.
    """
    if ctx.date is not None:
        day = ctx.date
        start = day - timedelta(days=(day.weekday() + 1) % 7)
    else:
        ref = _utc(ctx.reference_time).date()
        start = ref - timedelta(days=(ref.weekday() + 1) % 7) - WEEK
    period = Period(
        kind="weekly",
        key=week_key(start),
        start=_midnight(start),
        end=_midnight(start + WEEK),
        previous_start=_midnight(start - WEEK),
        previous_key=week_key(start - WEEK),
    )
    _require_ended(ctx.task, period.end, ctx.now)
    return period


def _month_start(year: int, month: int) -> date:
    while month < 1:
        year, month = year - 1, month + 12
    while month > 12:
        year, month = year + 1, month - 12
    return date(year, month, 1)


def month_to_compute(ctx: TaskContext) -> Period:
    """Return the calendar month to summarise: `--date D`'s month, else the previous one."""
    if ctx.date is not None:
        first = ctx.date.replace(day=1)
    else:
        ref = _utc(ctx.reference_time).date()
        first = _month_start(ref.year, ref.month - 1)
    nxt = _month_start(first.year, first.month + 1)
    prev = _month_start(first.year, first.month - 1)
    period = Period(
        kind="monthly",
        key=f"{first:%Y-%m}",
        start=_midnight(first),
        end=_midnight(nxt),
        previous_start=_midnight(prev),
        previous_key=f"{prev:%Y-%m}",
    )
    _require_ended(ctx.task, period.end, ctx.now)
    return period


# --- shared helpers ----------------------------------------------------------------------


def _open(ctx: TaskContext) -> Engine:
    engine = ctx.app_db
    p.create_all(engine)
    return engine


def _int_config(ctx: TaskContext, key: str, default: int) -> int:
    value = ctx.config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"tasks.{ctx.task}.{key}: must be a whole number >= 0")
    return value


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _between(column: Any, start: datetime, end: datetime) -> Any:
    return and_(column >= start, column < end)


def _ts(value: datetime) -> Any:
    return literal(value, UTCDateTime())


# --- hourly-metrics ----------------------------------------------------------------------


def _hour_metrics(conn: Connection, start: datetime) -> tuple[dict[str, Any], dict[str, int]]:
    end = start + HOUR
    ev = p.activity_events
    in_hour = _between(ev.c.occurred_at, start, end)
    row = conn.execute(
        select(
            select(func.count(ev.c.user_id.distinct())).where(in_hour).scalar_subquery(),
            select(func.count()).select_from(ev).where(in_hour).scalar_subquery(),
            select(func.coalesce(func.sum(ev.c.seconds_spent), 0)).where(in_hour).scalar_subquery(),
            select(func.count())
            .select_from(p.users)
            .where(_between(p.users.c.created_at, start, end))
            .scalar_subquery(),
            select(func.count())
            .select_from(p.enrollments)
            .where(_between(p.enrollments.c.enrolled_at, start, end))
            .scalar_subquery(),
            select(func.count())
            .select_from(p.enrollments)
            .where(_between(p.enrollments.c.completed_at, start, end))
            .scalar_subquery(),
        )
    ).one()
    metrics = {
        "hour_start": start,
        "active_users": int(row[0]),
        "events": int(row[1]),
        "time_spent_seconds": int(row[2]),
        "signups": int(row[3]),
        "enrollments": int(row[4]),
        "completions": int(row[5]),
    }
    by_kind = {
        kind: int(n)
        for kind, n in conn.execute(
            select(ev.c.kind, func.count()).where(in_hour).group_by(ev.c.kind).order_by(ev.c.kind)
        )
    }
    return metrics, by_kind


def hourly_metrics(ctx: TaskContext) -> dict[str, Any]:
    """Compute platform metrics for the previous full hour (or those of --param hour / --date)."""
    hours = hours_to_compute(ctx)
    engine = _open(ctx)
    ctx.logger.info("hourly-metrics: %d hour(s) from %s", len(hours), hours[0].isoformat())
    totals: dict[str, int] = {
        "active_users": 0,
        "events": 0,
        "signups": 0,
        "enrollments": 0,
        "completions": 0,
    }
    kinds: dict[str, int] = {}
    rows_written = 0
    for start in hours:
        ctx.check_cancelled()
        with engine.begin() as conn:
            metrics, by_kind = _hour_metrics(conn, start)
            if not ctx.dry_run:
                conn.execute(
                    delete(p.hourly_event_counts).where(p.hourly_event_counts.c.hour_start == start)
                )
                conn.execute(delete(p.hourly_metrics).where(p.hourly_metrics.c.hour_start == start))
                conn.execute(insert(p.hourly_metrics), [metrics])
                if by_kind:
                    conn.execute(
                        insert(p.hourly_event_counts),
                        [{"hour_start": start, "kind": k, "events": n} for k, n in by_kind.items()],
                    )
                rows_written += 1 + len(by_kind)
        for key in totals:
            totals[key] += metrics[key]
        for kind, n in by_kind.items():
            kinds[kind] = kinds.get(kind, 0) + n
    result: dict[str, Any] = {
        "hours": len(hours),
        "from": hours[0].isoformat(),
        "to": (hours[-1] + HOUR).isoformat(),
        **totals,
        "events_by_kind": dict(sorted(kinds.items())),
        "rows_written": rows_written,
    }
    if len(hours) > 1:
        # Distinct users do not add up across hours; the sum would mislead.
        result["active_user_hours"] = result.pop("active_users")
    if ctx.dry_run:
        result["dry_run"] = True
    return result


# --- daily-analytics-updates -------------------------------------------------------------


def daily_course_select(day: date) -> Any:
    """Return the SELECT of one daily_course_stats row per course existing by the end of `day`."""
    start, end = _midnight(day), _midnight(day) + DAY
    ev, en, c = p.activity_events, p.enrollments, p.courses
    events = (
        select(
            ev.c.course_id.label("course_id"),
            func.count(ev.c.user_id.distinct()).label("active_students"),
            _count_if(ev.c.kind == p.LESSON_VIEWED).label("lessons_viewed"),
            func.sum(ev.c.seconds_spent).label("time_spent_seconds"),
        )
        .where(_between(ev.c.occurred_at, start, end), ev.c.course_id.is_not(None))
        .group_by(ev.c.course_id)
        .subquery("ev")
    )
    enrolled = (
        select(
            en.c.course_id.label("course_id"),
            _count_if(en.c.enrolled_at >= start).label("new_enrollments"),
            _count_if(_between(en.c.completed_at, start, end)).label("completions"),
            func.count().label("enrolled_students"),
            func.avg(en.c.progress).label("avg_progress"),
        )
        .where(en.c.enrolled_at < end)
        .group_by(en.c.course_id)
        .subquery("en")
    )
    return (
        select(
            literal(day, Date()).label("day"),
            c.c.id.label("course_id"),
            func.coalesce(events.c.active_students, 0).label("active_students"),
            func.coalesce(enrolled.c.new_enrollments, 0).label("new_enrollments"),
            func.coalesce(enrolled.c.completions, 0).label("completions"),
            func.coalesce(events.c.lessons_viewed, 0).label("lessons_viewed"),
            func.coalesce(enrolled.c.enrolled_students, 0).label("enrolled_students"),
            func.coalesce(enrolled.c.avg_progress, literal(0.0, Float())).label("avg_progress"),
            func.coalesce(events.c.time_spent_seconds, 0).label("time_spent_seconds"),
        )
        .select_from(c)
        .outerjoin(events, events.c.course_id == c.c.id)
        .outerjoin(enrolled, enrolled.c.course_id == c.c.id)
        .where(c.c.created_at < end)
    )


def daily_student_select(day: date) -> Any:
    """Return the SELECT of one daily_student_stats row per student with an event on `day`."""
    start, end = _midnight(day), _midnight(day) + DAY
    ev = p.activity_events
    return (
        select(
            literal(day, Date()).label("day"),
            ev.c.user_id.label("user_id"),
            func.count().label("events"),
            func.sum(ev.c.seconds_spent).label("time_spent_seconds"),
            _count_if(ev.c.kind == p.LESSON_COMPLETED).label("lessons_completed"),
            func.count(ev.c.course_id.distinct()).label("courses_active"),
        )
        .where(_between(ev.c.occurred_at, start, end))
        .group_by(ev.c.user_id)
    )


def daily_analytics_updates(ctx: TaskContext) -> dict[str, Any]:
    """Compute per-course and per-student stats for the previous UTC day (or --date D)."""
    day = day_to_compute(ctx)
    engine = _open(ctx)
    ctx.logger.info("daily-analytics-updates: %s", day.isoformat())
    course_sel, student_sel = daily_course_select(day), daily_student_select(day)
    dcs, dss = p.daily_course_stats, p.daily_student_stats
    with engine.begin() as conn:
        if ctx.dry_run:
            course_rows = conn.execute(
                select(func.count()).select_from(course_sel.subquery())
            ).scalar_one()
            ctx.check_cancelled()
            sub = student_sel.subquery()
            totals = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(sub.c.events), 0),
                    func.coalesce(func.sum(sub.c.time_spent_seconds), 0),
                )
            ).one()
        else:
            conn.execute(delete(dcs).where(dcs.c.day == day))
            conn.execute(delete(dss).where(dss.c.day == day))
            ctx.check_cancelled()
            conn.execute(
                insert(dcs).from_select(
                    [col.name for col in course_sel.selected_columns], course_sel
                )
            )
            ctx.check_cancelled()
            conn.execute(
                insert(dss).from_select(
                    [col.name for col in student_sel.selected_columns], student_sel
                )
            )
            ctx.check_cancelled()
            course_rows = conn.execute(select(func.count()).where(dcs.c.day == day)).scalar_one()
            totals = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(dss.c.events), 0),
                    func.coalesce(func.sum(dss.c.time_spent_seconds), 0),
                ).where(dss.c.day == day)
            ).one()
    result: dict[str, Any] = {
        "day": day.isoformat(),
        "course_rows": int(course_rows),
        "student_rows": int(totals[0]),
        "active_students": int(totals[0]),
        "events": int(totals[1]),
        "time_spent_seconds": int(totals[2]),
    }
    if ctx.dry_run:
        result["dry_run"] = True
    return result


# --- window statistics shared by the weekly and monthly reports --------------------------


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def _change(current: float, previous: float) -> dict[str, Any]:
    return {
        "current": current,
        "previous": previous,
        "change": current - previous,
        "change_pct": (current - previous) / previous * 100 if previous else None,
    }


def _window_stats(
    conn: Connection, prev_start: datetime, start: datetime, end: datetime
) -> tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]]]:
    """Aggregate events and enrollments for [prev_start, start) ("prev") and [start, end) ("cur").

    Returns the overall figures and the figures per course (courses created before `end`).
    Rows fetched are bounded by the number of courses, never by events.
    """
    ev, en, c = p.activity_events, p.enrollments, p.courses
    cur_ev, prev_ev = ev.c.occurred_at >= start, ev.c.occurred_at < start

    def event_cols() -> list[Any]:
        return [
            func.count(case((cur_ev, ev.c.user_id), else_=null()).distinct()),
            func.count(case((prev_ev, ev.c.user_id), else_=null()).distinct()),
            func.coalesce(func.sum(case((cur_ev, ev.c.seconds_spent), else_=0)), 0),
            func.coalesce(func.sum(case((prev_ev, ev.c.seconds_spent), else_=0)), 0),
        ]

    window = _between(ev.c.occurred_at, prev_start, end)
    names = ("active", "time_spent_seconds")
    overall: dict[str, dict[str, Any]] = {"cur": {}, "prev": {}}
    row = conn.execute(select(*event_cols()).where(window)).one()
    for i, name in enumerate(names):
        overall["cur"][name], overall["prev"][name] = int(row[2 * i]), int(row[2 * i + 1])

    per_course: dict[int, dict[str, Any]] = {}
    for course_id, title in conn.execute(
        select(c.c.id, c.c.title).where(c.c.created_at < end).order_by(c.c.id)
    ):
        per_course[int(course_id)] = {
            "title": title,
            **{
                f"{s}_{n}": 0
                for s in ("cur", "prev")
                for n in (
                    "active",
                    "time_spent_seconds",
                    "enrollments",
                    "completions",
                    "in_progress",
                )
            },
        }
    for course_id, *vals in conn.execute(
        select(ev.c.course_id, *event_cols())
        .where(window, ev.c.course_id.is_not(None))
        .group_by(ev.c.course_id)
    ):
        stats = per_course.get(int(course_id))
        if stats is None:
            continue
        for i, name in enumerate(names):
            stats[f"cur_{name}"], stats[f"prev_{name}"] = int(vals[2 * i]), int(vals[2 * i + 1])

    # In progress during a window: enrolled before its end and not completed before its start.
    enr_cols = [
        _count_if(_between(en.c.enrolled_at, start, end)),
        _count_if(_between(en.c.enrolled_at, prev_start, start)),
        _count_if(_between(en.c.completed_at, start, end)),
        _count_if(_between(en.c.completed_at, prev_start, start)),
        _count_if(or_(en.c.completed_at.is_(None), en.c.completed_at >= start)),
        _count_if(
            and_(
                en.c.enrolled_at < start,
                or_(en.c.completed_at.is_(None), en.c.completed_at >= prev_start),
            )
        ),
    ]
    for key in ("enrollments", "completions", "in_progress"):
        overall["cur"][key] = overall["prev"][key] = 0
    for course_id, *vals in conn.execute(
        select(en.c.course_id, *enr_cols).where(en.c.enrolled_at < end).group_by(en.c.course_id)
    ):
        stats = per_course.get(int(course_id))
        for i, key in enumerate(("enrollments", "completions", "in_progress")):
            cur, prev = int(vals[2 * i]), int(vals[2 * i + 1])
            overall["cur"][key] += cur
            overall["prev"][key] += prev
            if stats is not None:
                stats[f"cur_{key}"], stats[f"prev_{key}"] = cur, prev
    for side in ("cur", "prev"):
        o = overall[side]
        o["completion_rate"] = _ratio(o["completions"], o["in_progress"])
    for stats in per_course.values():
        for side in ("cur", "prev"):
            stats[f"{side}_completion_rate"] = _ratio(
                stats[f"{side}_completions"], stats[f"{side}_in_progress"]
            )
    return overall, per_course


# --- reports: storage and files ----------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report_paths(reports_dir: Path, kind: str, key: str) -> tuple[Path, Path]:
    """Return the Markdown and JSON file paths of a report (`weekly-2026-W47.md`, `.json`)."""
    stem = f"{kind}-{key}"
    return reports_dir / f"{stem}.md", reports_dir / f"{stem}.json"


def _save_report(
    ctx: TaskContext, engine: Engine, period: Period, body: dict[str, Any], markdown: str
) -> list[str]:
    """Replace the period's row in `reports`, then (re)write its Markdown and JSON files."""
    body_text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    rep = p.reports
    with engine.begin() as conn:
        conn.execute(delete(rep).where(rep.c.kind == period.kind, rep.c.period == period.key))
        conn.execute(
            insert(rep),
            [
                {
                    "kind": period.kind,
                    "period": period.key,
                    "period_start": period.start,
                    "period_end": period.end,
                    "created_at": _utc(ctx.now),
                    "body": body_text,
                    "markdown": markdown,
                }
            ],
        )
    md_path, json_path = report_paths(ctx.settings.reports_dir, period.kind, period.key)
    _atomic_write(md_path, markdown)
    _atomic_write(json_path, body_text)
    return [str(md_path), str(json_path)]


def _run_report(
    ctx: TaskContext,
    period: Period,
    build: Callable[[Connection], dict[str, Any]],
    render: Callable[[dict[str, Any], Period], str],
    summary: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """Build a report body for `period`, store and write it (unless a dry run), return the counts."""
    engine = _open(ctx)
    ctx.logger.info("%s: %s", ctx.task, period.key)
    with engine.connect() as conn:
        body = build(conn)
    ctx.check_cancelled()
    files = [] if ctx.dry_run else _save_report(ctx, engine, period, body, render(body, period))
    result: dict[str, Any] = {
        "period": period.key,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        **summary(body),
        "files": files,
    }
    if ctx.dry_run:
        result["dry_run"] = True
    return result


def _fmt_num(value: float | None, kind: str = "int") -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "hours":
        return f"{value / 3600:,.1f} h"
    if kind == "share":
        return f"{value * 100:.1f}%"
    return f"{int(value):,}"


def _fmt_change(metric: Mapping[str, Any], kind: str, with_pct: bool = True) -> str:
    delta = metric["change"]
    if kind in ("pct", "share"):
        text = f"{delta * 100:+.1f} pp"
    elif kind == "hours":
        text = f"{delta / 3600:+,.1f} h"
    else:
        text = f"{int(delta):+,}"
    pct = metric["change_pct"]
    if with_pct and kind not in ("pct", "share"):
        text += f" ({pct:+.1f}%)" if pct is not None else " (new)" if delta else ""
    return text


def _kpi_table(rows: list[tuple[str, Mapping[str, Any], str]], this: str, last: str) -> list[str]:
    lines = [f"| metric | {this} | {last} | change |", "|---|---:|---:|---:|"]
    for label, metric, kind in rows:
        lines.append(
            f"| {label} | {_fmt_num(metric['current'], kind)} "
            f"| {_fmt_num(metric['previous'], kind)} "
            f"| {_fmt_change(metric, kind)} |"
        )
    return lines


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --- weekly-trend-reports ----------------------------------------------------------------

WEEKLY_METRICS = (
    ("active_students", "active", "int", "Active students"),
    ("enrollments", "enrollments", "int", "New enrollments"),
    ("completions", "completions", "int", "Completions"),
    ("completion_rate", "completion_rate", "pct", "Completion rate"),
)


def build_weekly_report(conn: Connection, period: Period, top_movers: int) -> dict[str, Any]:
    """Return the weekly trend report body for `period` (JSON-serialisable)."""
    overall, per_course = _window_stats(conn, period.previous_start, period.start, period.end)
    courses = []
    for course_id, s in per_course.items():
        entry: dict[str, Any] = {"course_id": course_id, "title": s["title"]}
        for name, field, _, _ in WEEKLY_METRICS:
            entry[name] = _change(s[f"cur_{field}"], s[f"prev_{field}"])
        courses.append(entry)

    def delta(entry: dict[str, Any]) -> float:
        return float(entry["active_students"]["change"])

    up = sorted((e for e in courses if delta(e) > 0), key=lambda e: (-delta(e), e["course_id"]))[
        :top_movers
    ]
    down = sorted((e for e in courses if delta(e) < 0), key=lambda e: (delta(e), e["course_id"]))[
        :top_movers
    ]

    def mover(entry: dict[str, Any]) -> dict[str, Any]:
        a = entry["active_students"]
        return {
            "course_id": entry["course_id"],
            "title": entry["title"],
            "active_students": a["current"],
            "previous": a["previous"],
            "change": a["change"],
            "change_pct": a["change_pct"],
        }

    return {
        "kind": "weekly",
        "period": period.key,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "previous_period": period.previous_key,
        "previous_start": period.previous_start.isoformat(),
        "overall": {
            name: _change(overall["cur"][field], overall["prev"][field])
            for name, field, _, _ in WEEKLY_METRICS
        },
        "top_movers": {"up": [mover(e) for e in up], "down": [mover(e) for e in down]},
        "courses": courses,
    }


def render_weekly_markdown(body: Mapping[str, Any], period: Period) -> str:
    """Render the weekly report body as Markdown."""
    lines = [
        f"# Weekly trend report {period.key}",
        "",
        f"Week: {period.label}, compared with {period.previous_key} "
        f"({period.previous_start.date().isoformat()} to "
        f"{(period.start - DAY).date().isoformat()}).",
        "",
        "## Overall",
        "",
        *_kpi_table(
            [(label, body["overall"][name], kind) for name, _, kind, label in WEEKLY_METRICS],
            "this week",
            "previous week",
        ),
        "",
    ]
    for direction, title in (("up", "Top movers up"), ("down", "Top movers down")):
        lines += [f"## {title} (active students)", ""]
        movers = body["top_movers"][direction]
        if not movers:
            lines += ["None.", ""]
            continue
        lines += ["| course | this week | previous week | change |", "|---|---:|---:|---:|"]
        for m in movers:
            pct = f" ({m['change_pct']:+.1f}%)" if m["change_pct"] is not None else " (new)"
            lines.append(
                f"| {_md_cell(m['title'])} | {m['active_students']:,} | {m['previous']:,} "
                f"| {int(m['change']):+,}{pct} |"
            )
        lines.append("")
    active = [
        c
        for c in body["courses"]
        if any(c[name]["current"] or c[name]["previous"] for name, _, _, _ in WEEKLY_METRICS)
    ]
    active.sort(key=lambda c: (-c["active_students"]["current"], c["course_id"]))
    lines += ["## Per course", ""]
    if not active:
        lines += ["No course activity in either week.", ""]
    else:
        lines += [
            "| course | active students | new enrollments | completions | completion rate |",
            "|---|---:|---:|---:|---:|",
        ]
        for c in active:
            cells = [
                f"{_fmt_num(c[name]['current'], kind)} "
                f"({_fmt_change(c[name], kind, with_pct=False)})"
                for name, _, kind, _ in WEEKLY_METRICS
            ]
            lines.append(f"| {_md_cell(c['title'])} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def weekly_trend_reports(ctx: TaskContext) -> dict[str, Any]:
    """Write the week-over-week trend report of the previous Sunday-Saturday week (or --date's)."""
    period = week_to_compute(ctx)
    top_movers = _int_config(ctx, "top_movers", 5)

    def summary(body: dict[str, Any]) -> dict[str, Any]:
        overall = body["overall"]
        return {
            "courses": len(body["courses"]),
            "active_students": overall["active_students"]["current"],
            "enrollments": overall["enrollments"]["current"],
            "completions": overall["completions"]["current"],
            "movers_up": len(body["top_movers"]["up"]),
            "movers_down": len(body["top_movers"]["down"]),
        }

    return _run_report(
        ctx, period, lambda conn: build_weekly_report(conn, period, top_movers), render_weekly_markdown, summary
    )


# --- monthly-executive-summaries ---------------------------------------------------------

MONTHLY_METRICS = (
    ("total_users", "int", "Total users"),
    ("active_users", "int", "Active users"),
    ("signups", "int", "Sign-ups"),
    ("verified_share", "share", "Verified share"),
    ("enrollments", "int", "New enrollments"),
    ("completions", "int", "Completions"),
    ("completion_rate", "pct", "Completion rate"),
    ("time_spent_seconds", "hours", "Time spent"),
)


def build_monthly_report(conn: Connection, period: Period, top_courses: int) -> dict[str, Any]:
    """Return the monthly executive summary body for `period` (JSON-serialisable)."""
    u = p.users
    start, end, prev_start = period.start, period.end, period.previous_start
    verified = u.c.verified == true()
    row = conn.execute(
        select(
            func.count(),
            _count_if(u.c.created_at < start),
            _count_if(u.c.created_at >= start),
            _count_if(_between(u.c.created_at, prev_start, start)),
            _count_if(verified),
            _count_if(and_(verified, u.c.created_at < start)),
        ).where(u.c.created_at < end)
    ).one()
    total, total_prev, signups, signups_prev, verified_now, verified_prev = (int(v) for v in row)
    ctx_overall, per_course = _window_stats(conn, prev_start, start, end)
    cur, prev = ctx_overall["cur"], ctx_overall["prev"]
    kpis = {
        "total_users": _change(total, total_prev),
        "active_users": _change(cur["active"], prev["active"]),
        "signups": _change(signups, signups_prev),
        "verified_share": _change(_ratio(verified_now, total), _ratio(verified_prev, total_prev)),
        "enrollments": _change(cur["enrollments"], prev["enrollments"]),
        "completions": _change(cur["completions"], prev["completions"]),
        "completion_rate": _change(cur["completion_rate"], prev["completion_rate"]),
        "time_spent_seconds": _change(cur["time_spent_seconds"], prev["time_spent_seconds"]),
    }
    ranked = sorted(
        (
            s | {"course_id": cid}
            for cid, s in per_course.items()
            if s["cur_active"] or s["cur_time_spent_seconds"]
        ),
        key=lambda s: (-s["cur_active"], -s["cur_time_spent_seconds"], s["course_id"]),
    )[:top_courses]
    top = [
        {
            "course_id": s["course_id"],
            "title": s["title"],
            "active_students": s["cur_active"],
            "active_students_previous": s["prev_active"],
            "enrollments": s["cur_enrollments"],
            "completions": s["cur_completions"],
            "completion_rate": s["cur_completion_rate"],
            "time_spent_seconds": s["cur_time_spent_seconds"],
        }
        for s in ranked
    ]
    return {
        "kind": "monthly",
        "period": period.key,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "previous_period": period.previous_key,
        "kpis": kpis,
        "top_courses": top,
    }


def render_monthly_markdown(body: Mapping[str, Any], period: Period) -> str:
    """Render the monthly executive summary body as Markdown."""
    lines = [
        f"# Executive summary {period.key}",
        "",
        f"Month: {period.label}, compared with {period.previous_key}.",
        "",
        "## Key figures",
        "",
        *_kpi_table(
            [(label, body["kpis"][name], kind) for name, kind, label in MONTHLY_METRICS],
            period.key,
            period.previous_key,
        ),
        "",
        "## Top courses (by active students)",
        "",
    ]
    if not body["top_courses"]:
        lines += ["No course activity this month.", ""]
    else:
        lines += [
            "| # | course | active students | new enrollments | completions | completion rate "
            "| time spent |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for i, c in enumerate(body["top_courses"], 1):
            lines.append(
                f"| {i} | {_md_cell(c['title'])} | {c['active_students']:,} | {c['enrollments']:,} "
                f"| {c['completions']:,} | {_fmt_num(c['completion_rate'], 'pct')} "
                f"| {_fmt_num(c['time_spent_seconds'], 'hours')} |"
            )
        lines.append("")
    return "\n".join(lines)


def monthly_executive_summaries(ctx: TaskContext) -> dict[str, Any]:
    """Write the KPI summary of the previous calendar month (or --date D's month)."""
    period = month_to_compute(ctx)
    top_courses = _int_config(ctx, "top_courses", 10)
    kpi_names = ("total_users", "active_users", "signups", "enrollments", "completions", "time_spent_seconds")

    def summary(body: dict[str, Any]) -> dict[str, Any]:
        kpis = body["kpis"]
        return {**{name: kpis[name]["current"] for name in kpi_names}, "top_courses": len(body["top_courses"])}

    return _run_report(
        ctx, period, lambda conn: build_monthly_report(conn, period, top_courses), render_monthly_markdown, summary
    )
