"""Aggregate a report period and the one before it, overall and per course.

The two windows are `[prev_start, start)` ("prev") and `[start, end)` ("cur"). Rows fetched
are bounded by the number of courses, never by events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, null, or_, select
from sqlalchemy.engine import Connection

from cronkit.tasks import platform as p
from cronkit.tasks.analytics.kpis import ratio
from cronkit.tasks.analytics.sql import between, count_if

Overall = dict[str, dict[str, Any]]
PerCourse = dict[int, dict[str, Any]]

_EVENT_FIGURES = ("active", "time_spent_seconds")
_ENROLLMENT_FIGURES = ("enrollments", "completions", "in_progress")


def _event_columns(start: datetime) -> list[Any]:
    ev = p.activity_events
    cur_ev, prev_ev = ev.c.occurred_at >= start, ev.c.occurred_at < start
    return [
        func.count(case((cur_ev, ev.c.user_id), else_=null()).distinct()),
        func.count(case((prev_ev, ev.c.user_id), else_=null()).distinct()),
        func.coalesce(func.sum(case((cur_ev, ev.c.seconds_spent), else_=0)), 0),
        func.coalesce(func.sum(case((prev_ev, ev.c.seconds_spent), else_=0)), 0),
    ]


def _course_skeleton(conn: Connection, end: datetime) -> PerCourse:
    """Return every course created before `end` with all its figures at 0."""
    c = p.courses
    per_course: PerCourse = {}
    for course_id, title in conn.execute(
        select(c.c.id, c.c.title).where(c.c.created_at < end).order_by(c.c.id)
    ):
        per_course[int(course_id)] = {
            "title": title,
            **{
                f"{s}_{n}": 0
                for s in ("cur", "prev")
                for n in ("active", "time_spent_seconds", *_ENROLLMENT_FIGURES)
            },
        }
    return per_course


def _add_event_figures(
    conn: Connection, prev_start: datetime, start: datetime, end: datetime,
    overall: Overall, per_course: PerCourse,
) -> None:
    ev = p.activity_events
    window = between(ev.c.occurred_at, prev_start, end)
    row = conn.execute(select(*_event_columns(start)).where(window)).one()
    for i, name in enumerate(_EVENT_FIGURES):
        overall["cur"][name], overall["prev"][name] = int(row[2 * i]), int(row[2 * i + 1])
    for course_id, *vals in conn.execute(
        select(ev.c.course_id, *_event_columns(start))
        .where(window, ev.c.course_id.is_not(None))
        .group_by(ev.c.course_id)
    ):
        stats = per_course.get(int(course_id))
        if stats is None:
            continue
        for i, name in enumerate(_EVENT_FIGURES):
            stats[f"cur_{name}"], stats[f"prev_{name}"] = int(vals[2 * i]), int(vals[2 * i + 1])


def _add_enrollment_figures(
    conn: Connection, prev_start: datetime, start: datetime, end: datetime,
    overall: Overall, per_course: PerCourse,
) -> None:
    en = p.enrollments
    # In progress during a window: enrolled before its end and not completed before its start.
    enr_cols = [
        count_if(between(en.c.enrolled_at, start, end)),
        count_if(between(en.c.enrolled_at, prev_start, start)),
        count_if(between(en.c.completed_at, start, end)),
        count_if(between(en.c.completed_at, prev_start, start)),
        count_if(or_(en.c.completed_at.is_(None), en.c.completed_at >= start)),
        count_if(
            and_(
                en.c.enrolled_at < start,
                or_(en.c.completed_at.is_(None), en.c.completed_at >= prev_start),
            )
        ),
    ]
    for key in _ENROLLMENT_FIGURES:
        overall["cur"][key] = overall["prev"][key] = 0
    for course_id, *vals in conn.execute(
        select(en.c.course_id, *enr_cols).where(en.c.enrolled_at < end).group_by(en.c.course_id)
    ):
        stats = per_course.get(int(course_id))
        for i, key in enumerate(_ENROLLMENT_FIGURES):
            cur, prev = int(vals[2 * i]), int(vals[2 * i + 1])
            overall["cur"][key] += cur
            overall["prev"][key] += prev
            if stats is not None:
                stats[f"cur_{key}"], stats[f"prev_{key}"] = cur, prev


def window_stats(
    conn: Connection, prev_start: datetime, start: datetime, end: datetime
) -> tuple[Overall, PerCourse]:
    """Aggregate events and enrollments for [prev_start, start) ("prev") and [start, end) ("cur").

    Returns the overall figures and the figures per course (courses created before `end`).
    Rows fetched are bounded by the number of courses, never by events.
    """
    overall: Overall = {"cur": {}, "prev": {}}
    per_course = _course_skeleton(conn, end)
    _add_event_figures(conn, prev_start, start, end, overall, per_course)
    _add_enrollment_figures(conn, prev_start, start, end, overall, per_course)
    for side in ("cur", "prev"):
        o = overall[side]
        o["completion_rate"] = ratio(o["completions"], o["in_progress"])
    for stats in per_course.values():
        for side in ("cur", "prev"):
            stats[f"{side}_completion_rate"] = ratio(
                stats[f"{side}_completions"], stats[f"{side}_in_progress"]
            )
    return overall, per_course
