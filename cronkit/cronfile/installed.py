"""When each task was installed, read from the install record (cronfile/state.py's JSON).

The run path's metrics file reads it (duties/missed.py) for a task once installed: it needs the
block's line parser and nothing of the crontab I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cronkit.cronfile.block import task_of_line


def _parse_instant(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def installed_times(state: Mapping[str, Any]) -> dict[str, datetime]:
    """Return when each task was installed: its own entry in state, else the install's time."""
    installed_at: dict[str, datetime] = {}
    default = _parse_instant(state.get("installed_at"))
    per_task = state.get("tasks") or {}
    for name, info in per_task.items():
        when = _parse_instant(info.get("installed_at") if isinstance(info, Mapping) else info)
        if when is not None:
            installed_at[name] = when
    if default is not None:
        for line in state.get("lines") or []:
            text = line.rstrip("\n")
            name = task_of_line(text) if text.strip() and not text.lstrip().startswith("#") else None
            if name is not None:
                installed_at.setdefault(name, default)
    return installed_at


__all__ = ["installed_times"]
