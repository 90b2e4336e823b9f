"""weekly-trend-reports: the week-over-week trend report of a Sunday-to-Saturday week."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from cronkit.context import TaskContext
from cronkit.tasks.analytics.kpis import WEEKLY_METRICS, change
from cronkit.tasks.analytics.markdown import render_weekly_markdown
from cronkit.tasks.analytics.periods import Period, week_to_compute
from cronkit.tasks.analytics.report_store import int_config, run_report
from cronkit.tasks.analytics.window_stats import window_stats


def _mover(entry: dict[str, Any]) -> dict[str, Any]:
    a = entry["active_students"]
    return {
        "course_id": entry["course_id"],
        "title": entry["title"],
        "active_students": a["current"],
        "previous": a["previous"],
        "change": a["change"],
        "change_pct": a["change_pct"],
    }


def build_weekly_report(conn: Connection, period: Period, top_movers: int) -> dict[str, Any]:
    """Return the weekly trend report body for `period` (JSON-serialisable)."""
    overall, per_course = window_stats(conn, period.previous_start, period.start, period.end)
    courses = []
    for course_id, s in per_course.items():
        entry: dict[str, Any] = {"course_id": course_id, "title": s["title"]}
        for name, field, _, _ in WEEKLY_METRICS:
            entry[name] = change(s[f"cur_{field}"], s[f"prev_{field}"])
        courses.append(entry)

    def delta(entry: dict[str, Any]) -> float:
        return float(entry["active_students"]["change"])

    up = sorted((e for e in courses if delta(e) > 0), key=lambda e: (-delta(e), e["course_id"]))[
        :top_movers
    ]
    down = sorted((e for e in courses if delta(e) < 0), key=lambda e: (delta(e), e["course_id"]))[
        :top_movers
    ]
    return {
        "kind": "weekly",
        "period": period.key,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "previous_period": period.previous_key,
        "previous_start": period.previous_start.isoformat(),
        "overall": {
            name: change(overall["cur"][field], overall["prev"][field])
            for name, field, _, _ in WEEKLY_METRICS
        },
        "top_movers": {"up": [_mover(e) for e in up], "down": [_mover(e) for e in down]},
        "courses": courses,
    }


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    overall = body["overall"]
    return {
        "courses": len(body["courses"]),
        "active_students": overall["active_students"]["current"],
        "enrollments": overall["enrollments"]["current"],
        "completions": overall["completions"]["current"],
        "movers_up": len(body["top_movers"]["up"]),
        "movers_down": len(body["top_movers"]["down"]),
    }


def weekly_trend_reports(ctx: TaskContext) -> dict[str, Any]:
    """Write the week-over-week trend report of the previous Sunday-Saturday week (or --date's)."""
    period = week_to_compute(ctx)
    top_movers = int_config(ctx, "top_movers", 5)
    return run_report(
        ctx,
        period,
        lambda conn: build_weekly_report(conn, period, top_movers),
        render_weekly_markdown,
        _summary,
    )
