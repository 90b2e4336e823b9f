"""Name the figures the weekly and monthly reports show, and the change record of each."""

from __future__ import annotations

from typing import Any

# (body name, window_stats field, number format, label) of the weekly report's figures.
WEEKLY_METRICS = (
    ("active_students", "active", "int", "Active students"),
    ("enrollments", "enrollments", "int", "New enrollments"),
    ("completions", "completions", "int", "Completions"),
    ("completion_rate", "completion_rate", "pct", "Completion rate"),
)

# (body name, number format, label) of the monthly summary's key figures.
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


def ratio(num: float, den: float) -> float:
    """Return num / den, 0.0 when den is 0."""
    return num / den if den else 0.0


def change(current: float, previous: float) -> dict[str, Any]:
    """Return a figure's current and previous values, its change and its change in percent."""
    return {
        "current": current,
        "previous": previous,
        "change": current - previous,
        "change_pct": (current - previous) / previous * 100 if previous else None,
    }
