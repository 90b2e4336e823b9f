"""Which slot a cron-started run serves: on time, late within the task's grace, or too late.

Cron starts a job at the first second of its minute when it keeps up; it starts it later when
it catches up (Debian's cron sleeps 10 s after each caught-up minute that ran jobs, so after a
spring-forward the seventh fixed-time job starts after its minute has passed) or when the
host is loaded. So a start does not always fall in its slot's minute. The rule:

* a start in a slot's minute serves that slot (a second one is its duplicate, recorded
  `skipped` by the slot claim, as before);
* a start in a minute that is not a slot serves the latest slot before it, when that slot is
  at most the grace plus LATE_REACH before it and no run holds it: run late when within the
  grace, recorded `skipped` with the reason when past it;
* otherwise the start is an extra firing of a host line (a line that fires more often than
  the task needs, on a host in another zone): quiet, nothing recorded.

`held` answers whether a run holds a slot (the run log's slot claims); it is asked only for a
start outside a slot's minute that has slots in its reach, so neither an on-time start nor an
extra firing far from any slot queries the run log before the policy does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cronkit.plain import record
from cronkit.schedule import slots_between

# How far past the grace a start is still taken for a slot's (too late) start rather than an
# extra firing: Debian's catch-up after a 3-hour gap sleeps at most 180 x 10 s = 30 minutes.
# (An extra firing of a host line within this reach after a slot no run served is taken for
# that slot's too-late start: recorded skipped, with the reason.)
LATE_REACH = timedelta(minutes=30)
MINUTE = timedelta(minutes=1)


@record(frozen=True)
class SlotChoice:
    """The slot a start serves and how late it started (ms after the slot's first second)."""

    slot: datetime
    late_ms: int
    grace: float

    @property
    def too_late(self) -> bool:
        return self.late_ms > self.grace * 1000

    @property
    def in_minute(self) -> bool:
        """Whether the start is within the slot's own minute (on time for cron)."""
        return self.late_ms < 60_000

    def note(self) -> str:
        """Say how late the start was, for the run's output or its skip reason."""
        text = f"started {self.late_ms / 1000:.1f}s after its slot {self.slot.isoformat()}"
        if self.too_late:
            return f"{text}, past the task's grace of {self.grace:g}s"
        return f"{text}, within the task's grace of {self.grace:g}s"


def choose_slot(schedule: str, zone: str, started: datetime, grace: float,
                held: Callable[[datetime], bool]) -> SlotChoice | None:
    """Return the slot a cron run starting at `started` serves, or None when it serves none."""
    started = started.astimezone(UTC)
    floor = started.replace(second=0, microsecond=0)
    reach = timedelta(seconds=grace) + LATE_REACH
    recent = list(slots_between(schedule, zone, floor - reach - MINUTE, floor))
    recent.reverse()  # latest first

    def choice(slot: datetime) -> SlotChoice:
        return SlotChoice(slot, int((started - slot) / timedelta(milliseconds=1)), grace)

    candidates = [choice(slot) for slot in recent if started - slot <= reach]
    if not candidates:
        return None
    first = candidates[0]
    if first.in_minute:
        # A second start in the minute (a clock stepped back, a second host) is that slot's
        # duplicate, which the claim records skipped: never an older slot run late instead.
        return first
    # Cron starts a job's firings in order: once the latest slot is held, a start is no older one's.
    return None if held(first.slot) else first
