"""hourly-metrics: platform metrics for the previous full hour (or --param hour / --date)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from cronkit.context import TaskContext
from cronkit.tasks import platform as p
from cronkit.tasks.analytics.periods import HOUR, hours_to_compute
from cronkit.tasks.analytics.sql import between, open_app_db


def _hour_metrics(conn: Connection, start: datetime) -> tuple[dict[str, Any], dict[str, int]]:
    end = start + HOUR
    ev = p.activity_events
    in_hour = between(ev.c.occurred_at, start, end)
    row = conn.execute(
        select(
            select(func.count(ev.c.user_id.distinct())).where(in_hour).scalar_subquery(),
            select(func.count()).select_from(ev).where(in_hour).scalar_subquery(),
            select(func.coalesce(func.sum(ev.c.seconds_spent), 0)).where(in_hour).scalar_subquery(),
            select(func.count())
            .select_from(p.users)
            .where(between(p.users.c.created_at, start, end))
            .scalar_subquery(),
            select(func.count())
            .select_from(p.enrollments)
            .where(between(p.enrollments.c.enrolled_at, start, end))
            .scalar_subquery(),
            select(func.count())
            .select_from(p.enrollments)
            .where(between(p.enrollments.c.completed_at, start, end))
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


def _replace_hour(
    conn: Connection, start: datetime, metrics: dict[str, Any], by_kind: dict[str, int]
) -> int:
    """Replace the hour's rows by `metrics` and `by_kind`; return the number of rows written."""
    conn.execute(delete(p.hourly_event_counts).where(p.hourly_event_counts.c.hour_start == start))
    conn.execute(delete(p.hourly_metrics).where(p.hourly_metrics.c.hour_start == start))
    conn.execute(insert(p.hourly_metrics), [metrics])
    if by_kind:
        conn.execute(
            insert(p.hourly_event_counts),
            [{"hour_start": start, "kind": k, "events": n} for k, n in by_kind.items()],
        )
    return 1 + len(by_kind)


def hourly_metrics(ctx: TaskContext) -> dict[str, Any]:
    """Compute platform metrics for the previous full hour (or those of --param hour / --date)."""
    hours = hours_to_compute(ctx)
    engine = open_app_db(ctx)
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
                rows_written += _replace_hour(conn, start, metrics, by_kind)
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
