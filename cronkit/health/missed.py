"""Find the slots of a task that were due and that no run served.

- A **slot** of a task is an instant its schedule names in its zone (`schedule.slots_between`,
  DST included). A slot is **served** when the run log holds any run of the task with
  `scheduled_for` equal to it, whatever that run's status: a `skipped` run (lock held, slot
  already served elsewhere, task disabled) proves cron fired and cronkit looked at the slot; a
  failure is reported as a failure, not as a miss.
- A slot is **missed** when it is not served and `slot + grace <= now` (grace: the task's
  `grace=`, default 5 minutes). Only slots after the task was installed count (plus one minute,
  because cron picks up a changed crontab at the next minute), and only slots in the last
  MISSED_LOOKBACK (7 days), at most the latest MISSED_MAX_SLOTS (1440: one day of a per-minute
  task): a host that was off for a month costs the same as one off for a week.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronkit.plain import TYPE_CHECKING, record
from cronkit.registry import Task
from cronkit.runlog.pauses import covering, pauses_between
from cronkit.runlog.queries import SERVED_SLOTS
from cronkit.runlog.times import instant_iso, to_ms
from cronkit.runlog.writer import RunStore
from cronkit.schedule import slots_between

if TYPE_CHECKING:  # the metrics file of the run path uses candidate_slots without SQLAlchemy
    from typing import Any

    from sqlalchemy.engine import Engine

    from cronkit.runlog.queries import Execute

MISSED_LOOKBACK = timedelta(days=7)
MISSED_MAX_SLOTS = 1440
# Cron rereads a changed crontab at the start of the next minute: a slot within a minute of the
# install may not have been picked up yet.
INSTALL_SETTLE = timedelta(minutes=1)


@record(frozen=True)
class Window:
    """The slots of one task to check against the run log."""

    task: str
    slots: tuple[datetime, ...]
    since: datetime  # slots after this instant were examined
    capped: bool  # older slots in the lookback were not examined


def candidate_slots(expr: str, zone: str, *, installed_at: datetime, now: datetime, grace: float,
                    lookback: timedelta = MISSED_LOOKBACK, max_slots: int = MISSED_MAX_SLOTS,
                    task: str = "") -> Window:
    """Return the latest (at most `max_slots`) slots whose grace has passed, since install and lookback.

    Walks back from `now - grace` in windows that double in width, so a dense schedule stops
    after about `max_slots` slots and a sparse one after a few calls.
    """
    end = now.astimezone(UTC) - timedelta(seconds=grace)
    floor = max(installed_at.astimezone(UTC) + INSTALL_SETTLE, now - lookback)
    found: list[datetime] = []
    high, width = end, timedelta(hours=1)
    while high > floor and len(found) < max_slots:
        low = max(floor, high - width)
        found[:0] = list(slots_between(expr, zone, low, high))
        high, width = low, width * 2
    # Capped: older slots within the lookback exist that were not examined.
    capped = len(found) > max_slots or (high > floor and next(slots_between(expr, zone, floor, high), None) is not None)
    found = found[-max_slots:]
    since = found[0] - timedelta(seconds=1) if capped and found else floor
    return Window(task, tuple(found), since, capped)


@record(frozen=True)
class Missed:
    """How many slots of a window no run served, and the latest of them."""

    count: int
    latest: datetime | None
    since: datetime
    capped: bool

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape of a task's `missed` in `status --json`."""
        return {
            "count": self.count,
            "latest": instant_iso(self.latest),
            "since": instant_iso(self.since),
            "capped": self.capped,
        }


def count_missed(execute: Execute, window: Window) -> Missed:
    """Count the slots of `window` no run served and no pause covered, with two indexed queries."""
    if not window.slots:
        return Missed(0, None, window.since, window.capped)
    first, last = to_ms(window.slots[0]), to_ms(window.slots[-1])
    rows = execute(SERVED_SLOTS, {"task": window.task, "first": first, "last": last})
    served = {int(row[0]) for row in rows}
    paused = pauses_between(execute, window.task, first, last)  # a paused slot is not missed (issue 28)
    missed = [slot for slot in window.slots if to_ms(slot) not in served and covering(paused, to_ms(slot)) is None]
    return Missed(len(missed), missed[-1] if missed else None, window.since, window.capped)


def missed_slots(engine: Engine, task: Task, zone: str, *, installed_at: datetime, now: datetime,
                 lookback: timedelta = MISSED_LOOKBACK, max_slots: int = MISSED_MAX_SLOTS) -> Missed:
    """Return how many slots of `task` were missed since it was installed, and the latest."""
    window = candidate_slots(task.resolved_schedule, zone, installed_at=installed_at, now=now, grace=task.grace,
                             lookback=lookback, max_slots=max_slots, task=task.name)

    with RunStore.for_engine(engine, owned=False).connection() as execute:
        return count_missed(execute, window)
