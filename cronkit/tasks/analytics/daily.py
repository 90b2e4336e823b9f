"""daily-analytics-updates: per-course and per-student stats of the previous UTC day (or --date D)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, Float, delete, func, insert, literal, select
from sqlalchemy.engine import Connection

from cronkit.context import TaskContext
from cronkit.tasks import platform as p
from cronkit.tasks.analytics.periods import DAY, day_to_compute, midnight
from cronkit.tasks.analytics.sql import between, count_if, open_app_db


def daily_course_select(day: date) -> Any:
    """Return the SELECT of one daily_course_stats row per course existing by the end of `day`."""
    start, end = midnight(day), midnight(day) + DAY
    ev, en, c = p.activity_events, p.enrollments, p.courses
    events = (
        select(
            ev.c.course_id.label("course_id"),
            func.count(ev.c.user_id.distinct()).label("active_students"),
            count_if(ev.c.kind == p.LESSON_VIEWED).label("lessons_viewed"),
            func.sum(ev.c.seconds_spent).label("time_spent_seconds"),
        )
        .where(between(ev.c.occurred_at, start, end), ev.c.course_id.is_not(None))
        .group_by(ev.c.course_id)
        .subquery("ev")
    )
    enrolled = (
        select(
            en.c.course_id.label("course_id"),
            count_if(en.c.enrolled_at >= start).label("new_enrollments"),
            count_if(between(en.c.completed_at, start, end)).label("completions"),
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
    start, end = midnight(day), midnight(day) + DAY
    ev = p.activity_events
    return (
        select(
            literal(day, Date()).label("day"),
            ev.c.user_id.label("user_id"),
            func.count().label("events"),
            func.sum(ev.c.seconds_spent).label("time_spent_seconds"),
            count_if(ev.c.kind == p.LESSON_COMPLETED).label("lessons_completed"),
            func.count(ev.c.course_id.distinct()).label("courses_active"),
        )
        .where(between(ev.c.occurred_at, start, end))
        .group_by(ev.c.user_id)
    )


def _count_only(
    ctx: TaskContext, conn: Connection, course_sel: Any, student_sel: Any
) -> tuple[Any, Any]:
    """Return (course rows, student totals) the day would get, writing nothing (dry run)."""
    course_rows = conn.execute(select(func.count()).select_from(course_sel.subquery())).scalar_one()
    ctx.check_cancelled()
    sub = student_sel.subquery()
    totals = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(sub.c.events), 0),
            func.coalesce(func.sum(sub.c.time_spent_seconds), 0),
        )
    ).one()
    return course_rows, totals


def _replace_day(
    ctx: TaskContext, conn: Connection, day: date, course_sel: Any, student_sel: Any
) -> tuple[Any, Any]:
    """Replace the day's stats rows by the SELECTs' rows; return (course rows, student totals)."""
    dcs, dss = p.daily_course_stats, p.daily_student_stats
    conn.execute(delete(dcs).where(dcs.c.day == day))
    conn.execute(delete(dss).where(dss.c.day == day))
    ctx.check_cancelled()
    conn.execute(
        insert(dcs).from_select([col.name for col in course_sel.selected_columns], course_sel)
    )
    ctx.check_cancelled()
    conn.execute(
        insert(dss).from_select([col.name for col in student_sel.selected_columns], student_sel)
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
    return course_rows, totals


def daily_analytics_updates(ctx: TaskContext) -> dict[str, Any]:
    """Compute per-course and per-student stats for the previous UTC day (or --date D)."""
    day = day_to_compute(ctx)
    engine = open_app_db(ctx)
    ctx.logger.info("daily-analytics-updates: %s", day.isoformat())
    course_sel, student_sel = daily_course_select(day), daily_student_select(day)
    with engine.begin() as conn:
        if ctx.dry_run:
            course_rows, totals = _count_only(ctx, conn, course_sel, student_sel)
        else:
            course_rows, totals = _replace_day(ctx, conn, day, course_sel, student_sel)
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
