"""Cron schedules: Debian-cron validation, slots in a zone, plain-language text."""

from __future__ import annotations

from .errors import ScheduleError

NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def validate_schedule(expr: str, where: str = "schedule") -> str:
    """Return `expr` normalised if Debian's cron accepts it; raise ScheduleError naming the field."""
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text not in NICKNAMES:
            raise ScheduleError(f"{where}: unknown nickname {text!r}")
        return text
    fields = text.split(" ")
    if len(fields) != 5:
        raise ScheduleError(f"{where}: expected 5 fields, got {len(fields)}")
    from cronsim import CronSim, CronSimError
    from datetime import datetime

    try:
        CronSim(text, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ScheduleError(f"{where}: {exc}") from None
    return text
