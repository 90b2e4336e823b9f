"""The rows of `cronkit due`: one task's slots at a minute or in a window, in its zone and UTC."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..registry import Task


def task_rows(task: Task, default_zone: str, start: datetime, end: datetime | None, here: set[str],
              ) -> list[dict[str, Any]]:
    """Return one task's `due` rows: its slot at the minute `start`, or its slots in [start, end]."""
    # Imported here, as before this moved out of cli/crontab.py: the other commands there need neither.
    from zoneinfo import ZoneInfo

    from ..schedule import fires_at, slots_between

    zone = task.zone(default_zone)
    if end is None:
        slots = [start] if fires_at(task.resolved_schedule, zone, start) else []
    else:
        slots = list(slots_between(task.resolved_schedule, zone, start - timedelta(seconds=1), end))
    rows = []
    for slot in slots:
        rows.append({
            "task": task.name,
            "schedule": task.schedule,
            "timezone": zone,
            "slot": slot.isoformat(),
            "slot_local": slot.astimezone(ZoneInfo(zone)).isoformat(),
            "enabled": task.name in here,
        })
    return rows
