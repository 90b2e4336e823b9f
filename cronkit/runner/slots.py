"""Which slot a cron-started run serves: on time, late within the task's grace, or too late.

Cron starts a job at the first second of its minute when it keeps up; it starts it later when
it catches up (Debian's cron sleeps 10 s after each caught-up minute that ran jobs, so after a
spring-forward the seventh fixed-time job starts after its minute has passed) or when the
host is loaded. So a start does not always fall in its slot's minute. The rule:

* a start in a slot's minute serves that slot, unless a run holds it already; then it serves
  the latest earlier slot within the grace that no run holds (cron catching up several
  minutes starts them all in its latest one), else it is that slot's duplicate (recorded
  `skipped` by the slot claim, as before);
* a start in a minute that is not a slot serves the latest slot no run holds among those at
  most the grace plus LATE_REACH before it: run late when within the grace, recorded
  `skipped` with the reason when past it;
* a start with no unheld slot in that reach is an extra firing of a host line (a line that
  fires more often than the task needs, on a host in another zone): quiet, nothing recorded.

`held` answers whether a run holds a slot (the run log's slot claims); a start with no slot in
its reach (the extra firings) asks nothing, so it opens no run log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# How far past the grace a start is still taken for a slot's (too late) start rather than an
# extra firing: Debian's catch-up after a 3-hour gap sleeps at most 180 x 10 s = 30 minutes.
# (An extra firing of a host line within this reach after a slot no run served is taken for
# that slot's too-late start: recorded skipped, with the reason.)
LATE_REACH = timedelta(minutes=30)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
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
    from ..schedule import slots_between

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
        if not held(first.slot):
            return first
        for other in candidates[1:]:
            if other.too_late:
                break
            if not held(other.slot):
                return other
        return first  # a second start in the slot's minute: the claim records it skipped
    for other in candidates:
        if not held(other.slot):
            return other
    return None
