"""The missed slots of a task, by health/missed.py's definition, with plain SQL (no SQLAlchemy).

Used by the metrics file after each run and by `cronkit check`'s `missed` events.
"""

from __future__ import annotations

import json
from datetime import datetime

from cronkit.config.settings import Settings
from cronkit.health.missed import candidate_slots
from cronkit.plain import TYPE_CHECKING
from cronkit.registry import Task
from cronkit.runlog.pauses import covering, pauses_between
from cronkit.runlog.queries import SERVED_SLOTS
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore

if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "install-state.json"  # cronfile/state.py's, read here without importing the crontab I/O


def installed_at(settings: Settings) -> dict[str, datetime]:
    """Return when each task was installed, from the install state; empty when nothing is installed."""
    try:
        state: Any = json.loads((settings.home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict):
        return {}
    # lazy: the block's line parser (shlex, difflib), only on a host where tasks are installed
    from cronkit.cronfile.installed import installed_times

    return installed_times(state)


def judged_slots(store: RunStore, settings: Settings, task: Task, now: datetime,
                 since: dict[str, datetime] | None = None) -> tuple[tuple[datetime, ...], list[datetime]]:
    """Return the slots of `task` whose grace has passed (the window status judges) and those no run served."""
    installed = (installed_at(settings) if since is None else since).get(task.name)
    if installed is None:
        return (), []
    window = candidate_slots(task.resolved_schedule, task.zone(settings.timezone), installed_at=installed, now=now,
                             grace=task.grace, task=task.name)
    if not window.slots:
        return (), []
    first, last = to_ms(window.slots[0]), to_ms(window.slots[-1])
    served = {int(v) for (v,) in store.sql(SERVED_SLOTS, {"task": task.name, "first": first, "last": last})
              if v is not None}
    paused = pauses_between(store.sql, task.name, first, last)  # a paused slot is not missed (issue 28)
    return window.slots, [slot for slot in window.slots
                          if to_ms(slot) not in served and covering(paused, to_ms(slot)) is None]


def missed_slots(store: RunStore, settings: Settings, task: Task, now: datetime,
                 since: dict[str, datetime] | None = None) -> list[datetime]:
    """Return the slots of `task` no run served (status's `missed`), oldest first."""
    return judged_slots(store, settings, task, now, since)[1]


__all__ = ["installed_at", "judged_slots", "missed_slots"]
