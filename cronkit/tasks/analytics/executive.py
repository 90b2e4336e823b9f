"""monthly-executive-summaries: the KPI summary of a calendar month against the month before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select, true
from sqlalchemy.engine import Connection

from cronkit.context import TaskContext
from cronkit.tasks import platform as p
from cronkit.tasks.analytics.kpis import change, ratio
from cronkit.tasks.analytics.markdown import render_monthly_markdown
from cronkit.tasks.analytics.periods import Period, month_to_compute
from cronkit.tasks.analytics.report_store import int_config, run_report
from cronkit.tasks.analytics.sql import between, count_if
from cronkit.tasks.analytics.window_stats import PerCourse, window_stats

_SUMMARY_KPIS = (
    "total_users", "active_users", "signups", "enrollments", "completions", "time_spent_seconds",
)


def _user_kpis(conn: Connection, period: Period) -> dict[str, dict[str, Any]]:
    """Return the total users, sign-ups and verified share of the month and the one before."""
    u = p.users
    start, end, prev_start = period.start, period.end, period.previous_start
    verified = u.c.verified == true()
    row = conn.execute(
        select(
            func.count(),
            count_if(u.c.created_at < start),
            count_if(u.c.created_at >= start),
            count_if(between(u.c.created_at, prev_start, start)),
            count_if(verified),
            count_if(and_(verified, u.c.created_at < start)),
        ).where(u.c.created_at < end)
    ).one()
    total, total_prev, signups, signups_prev, verified_now, verified_prev = (int(v) for v in row)
    return {
        "total_users": change(total, total_prev),
        "signups": change(signups, signups_prev),
        "verified_share": change(ratio(verified_now, total), ratio(verified_prev, total_prev)),
    }


def _top_courses(per_course: PerCourse, top_courses: int) -> list[dict[str, Any]]:
    """Return the month's `top_courses` most active courses, most active students first."""
    ranked = sorted(
        (
            s | {"course_id": cid}
            for cid, s in per_course.items()
            if s["cur_active"] or s["cur_time_spent_seconds"]
        ),
        key=lambda s: (-s["cur_active"], -s["cur_time_spent_seconds"], s["course_id"]),
    )[:top_courses]
    return [
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


def build_monthly_report(conn: Connection, period: Period, top_courses: int) -> dict[str, Any]:
    """Return the monthly executive summary body for `period` (JSON-serialisable)."""
    users = _user_kpis(conn, period)
    overall, per_course = window_stats(conn, period.previous_start, period.start, period.end)
    cur, prev = overall["cur"], overall["prev"]
    kpis = {
        "total_users": users["total_users"],
        "active_users": change(cur["active"], prev["active"]),
        "signups": users["signups"],
        "verified_share": users["verified_share"],
        "enrollments": change(cur["enrollments"], prev["enrollments"]),
        "completions": change(cur["completions"], prev["completions"]),
        "completion_rate": change(cur["completion_rate"], prev["completion_rate"]),
        "time_spent_seconds": change(cur["time_spent_seconds"], prev["time_spent_seconds"]),
    }
    return {
        "kind": "monthly",
        "period": period.key,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "previous_period": period.previous_key,
        "kpis": kpis,
        "top_courses": _top_courses(per_course, top_courses),
    }


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    kpis = body["kpis"]
    return {
        **{name: kpis[name]["current"] for name in _SUMMARY_KPIS},
        "top_courses": len(body["top_courses"]),
    }


def monthly_executive_summaries(ctx: TaskContext) -> dict[str, Any]:
    """Write the KPI summary of the previous calendar month (or --date D's month)."""
    period = month_to_compute(ctx)
    top_courses = int_config(ctx, "top_courses", 10)
    return run_report(
        ctx,
        period,
        lambda conn: build_monthly_report(conn, period, top_courses),
        render_monthly_markdown,
        _summary,
    )
