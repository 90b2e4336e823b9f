"""Debian cron 3.0pl1's reading of a schedule, and the minutes at which its daemon runs it.

Written from cron's source (Debian 3.0pl1-162): `entry.c` (`load_entry`, `get_list`,
`get_range`, `get_number`) for the syntax, and `cron.c` (`main`'s loop, `find_jobs`,
`set_time`) for when a job runs. cron keeps a "virtual time" in local wall-clock minutes and
compares it with the wall clock once a minute (`timeDiff = clock - virtual`):

* 1: a normal minute, every job matching it runs;
* 2 to 5: a late wake-up, every job matching each skipped minute runs;
* 6 to 180 (a spring-forward gap): wildcard jobs (minute or hour field starting with `*`)
  matching the current minute run, and fixed-time jobs matching any skipped minute or the
  current one run now, at the end of the gap;
* -179 to 0 (a fall-back): only wildcard jobs matching the current minute run, and virtual
  time waits until the clock catches up, so fixed-time jobs run in the first pass only;
* beyond: virtual time jumps to the clock and the jobs matching the current minute run.

This module computes the instants (UTC minutes) at which that loop runs a job in a zone,
assuming a daemon that wakes up on time. Every loop is bounded; a bound that is hit raises
ScheduleError. It imports only the standard library: `cronkit run` loads it on every tick.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache

from cronkit.errors import ScheduleError
from cronkit.plain import record

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# get_range adds the step to an int: a larger step would overflow in cron itself.
MAX_STEP = 2**31 - 1 - 60

MINUTES_PER_DAY = 1440
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# cron.c's thresholds, in minutes of difference between the clock and virtual time.
LATE_LIMIT = 5
JUMP_LIMIT = 180
# Transitions are searched by sampling the offset this often (no zone changes twice an hour).
SAMPLE = 60
WEEK = 7 * MINUTES_PER_DAY
# Bounds: how far back a window looks for the state of cron's loop, how long one DST
# episode may keep the loop out of its normal state, how many windows a search may scan.
LOOKBACK_DAYS = 14
EPISODE_LIMIT = 3 * MINUTES_PER_DAY
SEARCH_YEARS = 401


# --- the syntax (entry.c) -------------------------------------------------------------------


def _number(token: str, index: int, prefix: str) -> int:
    """get_number: a name of the field (any case) or digits; then the range check of get_range."""
    low, high = FIELD_RANGES[index]
    names = MONTH_NAMES if index == 3 else DAY_NAMES if index == 4 else ()
    if token.lower() in names:
        return names.index(token.lower()) + (1 if index == 3 else 0)
    if not (token.isdigit() and token.isascii()):
        letters = "".join(ch for ch in token.upper() if not ch.isdigit())
        if letters in ("L", "W", "LW"):
            # Quartz's last-day and weekday extensions (5L, 15W, LW); Debian has neither.
            raise ScheduleError(f"{prefix}: {letters[0]!r} is not accepted by Debian cron")
        if token == "":
            raise ScheduleError(f"{prefix}: a number is missing")
        raise ScheduleError(f"{prefix}: {token!r} is not a number")
    value = int(token)
    if not low <= value <= high:
        raise ScheduleError(f"{prefix}: {value} is out of range {low}-{high}")
    return value


def parse_field(text: str, index: int, where: str) -> frozenset[int]:
    """Return the values a field sets, as Debian's get_list reads it.

    Names (jan-dec, sun-sat, any case) stand for numbers anywhere a number may stand,
    ranges and lists included; `a-b/s` sets a, a+s, ... up to b, so a step wider than the
    range sets its first value alone (`*/60` is minute 0, `4-4/1` is 4). cronkit refuses
    two things cron tolerates, because cron's reading of them is a trap: a reversed range
    (cron sets nothing for `fri-mon`) and characters cron skips after a valid element
    (cron reads `1-5.3` as `1-5`).
    """
    prefix = f"{where}: {FIELD_NAMES[index]}"
    low, high = FIELD_RANGES[index]
    for bad in ("?", "#"):
        if bad in text:
            raise ScheduleError(f"{prefix}: {bad!r} is not accepted by Debian cron")
    values: set[int] = set()
    for item in text.split(","):
        if item == "":
            raise ScheduleError(f"{prefix}: {text!r} has an empty list element")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if step_text == "":
                raise ScheduleError(f"{prefix}: {item!r} has no step after '/'")
            if not (step_text.isdigit() and step_text.isascii()):
                raise ScheduleError(f"{prefix}: step {step_text!r} in {item!r} is not a number")
            step = int(step_text)
            if step == 0:
                raise ScheduleError(f"{prefix}: step 0 in {item!r} must be at least 1")
            if step > MAX_STEP:
                raise ScheduleError(f"{prefix}: step {step} in {item!r} is too large")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, index, prefix), _number(last, index, prefix)
            if start > end:
                hint = " (Sunday is 7 at the end of a range)" if index == 4 and end == 0 else ""
                raise ScheduleError(f"{prefix}: range {base!r} is reversed{hint}")
        else:
            start = end = _number(base, index, prefix)
            if slash:
                raise ScheduleError(
                    f"{prefix}: {item!r}: a step needs a range or '*' before it, as in '*/{step}'"
                )
        values.update(range(start, end + 1, step))
    return frozenset(values)


@record(frozen=True)
class CronSpec:
    """A schedule as cron's `entry` holds it: the bit sets and the *_STAR flags."""

    minutes: frozenset[int]
    hours: frozenset[int]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]  # 0-6, Sunday 0 (7 folded into 0, as load_entry does)
    dom_star: bool
    dow_star: bool
    wild: bool  # MIN_STAR or HR_STAR: runs in both passes of a fall-back, not in a gap
    day_minutes: tuple[int, ...]  # sorted hour * 60 + minute

    def day_ok(self, day: int) -> bool:
        """find_jobs' test of a local day (days since 1970-01-01)."""
        when = date.fromordinal(EPOCH_ORDINAL + day)
        if when.month not in self.months:
            return False
        dom = when.day in self.doms
        dow = when.isoweekday() % 7 in self.dows
        return (dom and dow) if (self.dom_star or self.dow_star) else (dom or dow)

    def matches(self, local: int) -> bool:
        """find_jobs' test of a local wall-clock minute (minutes since 1970-01-01 00:00)."""
        day, minute = divmod(local, MINUTES_PER_DAY)
        return divmod(minute, 60)[1] in self.minutes and minute // 60 in self.hours and self.day_ok(day)

    def first_match(self, low: int, high: int) -> int | None:
        """Return the first local minute in [low, high) that matches, or None."""
        for found in self.local_matches(low, high):
            return found
        return None

    def local_matches(self, low: int, high: int) -> Iterator[int]:
        """Yield the local minutes in [low, high) that match, ascending."""
        day = low // MINUTES_PER_DAY
        last_day = (high - 1) // MINUTES_PER_DAY
        while day <= last_day:
            when = date.fromordinal(EPOCH_ORDINAL + day)
            if when.month not in self.months:
                # Skip to the first day of the next month.
                following = date(when.year + when.month // 12, when.month % 12 + 1, 1)
                day = following.toordinal() - EPOCH_ORDINAL
                continue
            if self.day_ok(day):
                base = day * MINUTES_PER_DAY
                start = bisect_left(self.day_minutes, low - base) if low > base else 0
                for offset in self.day_minutes[start:]:
                    local = base + offset
                    if local >= high:
                        return
                    yield local
            day += 1


@lru_cache(maxsize=512)
def cron_spec(fields: tuple[str, str, str, str, str], where: str = "schedule") -> CronSpec:
    """Return the entry cron builds from five fields (raises ScheduleError naming the field)."""
    sets = [parse_field(text, index, where) for index, text in enumerate(fields)]
    dows = frozenset(d % 7 for d in sets[4])
    return CronSpec(
        minutes=sets[0],
        hours=sets[1],
        doms=sets[2],
        months=sets[3],
        dows=dows,
        dom_star=fields[2].startswith("*"),
        dow_star=fields[4].startswith("*"),
        wild=fields[0].startswith("*") or fields[1].startswith("*"),
        day_minutes=tuple(sorted(h * 60 + m for h in sets[1] for m in sets[0])),
    )


# --- the zone's wall clock ------------------------------------------------------------------


def _offset(tz: tzinfo, minute: int) -> int:
    """Return the zone's UTC offset in whole minutes at a UTC minute (as set_time's GMToff / 60)."""
    delta = datetime.fromtimestamp(minute * 60, tz).utcoffset()
    return int(delta.total_seconds()) // 60 if delta is not None else 0


@lru_cache(maxsize=4096)
def _week_transitions(tz: tzinfo, week: int) -> tuple[tuple[int, int], ...]:
    """Return (first UTC minute of a new offset, that offset) for changes within a week."""
    start = week * WEEK
    points = list(range(start - 1, start + WEEK, SAMPLE))
    if points[-1] != start + WEEK - 1:
        points.append(start + WEEK - 1)
    found: list[tuple[int, int]] = []
    before = _offset(tz, points[0])
    for previous, point in zip(points, points[1:], strict=False):
        after = _offset(tz, point)
        if after != before:
            low, high = previous, point
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(tz, middle) == before:
                    low = middle
                else:
                    high = middle
            found.append((high, _offset(tz, high)))
            before = after
    return tuple(found)


@record(frozen=True)
class Action:
    """What cron's loop does at one UTC minute outside its normal case."""

    kind: str  # "late": all jobs of (low..high]; "gap": wild at clock, fixed over (low..high]
    clock: int  # "back": wild jobs at clock only; "jump": all jobs at clock
    low: int = 0
    high: int = 0

    def fires(self, spec: CronSpec) -> bool:
        if self.kind == "late":
            return spec.first_match(self.low + 1, self.high + 1) is not None
        if self.kind == "gap":
            if spec.wild:
                return spec.matches(self.clock)
            return spec.first_match(self.low + 1, self.high + 1) is not None
        if self.kind == "back":
            return spec.wild and spec.matches(self.clock)
        return spec.matches(self.clock)


class Clock:
    """A zone's wall clock over [start, end) UTC minutes, and cron's loop over it.

    `offset(u)` is the offset at UTC minute u; `actions` the minutes at which the loop is
    not in its normal case (a job matching the local minute runs), found by running the loop
    from a point where it is normal: `LOOKBACK_DAYS` before, extended past any change.
    """

    def __init__(self, tz: tzinfo, start: int, end: int) -> None:
        self.changes: list[tuple[int, int]] = []
        self.actions: dict[int, Action] = {}
        self.tz = tz
        if tz is UTC:
            self.base = 0
            return
        origin = start - MINUTES_PER_DAY
        for _ in range(LOOKBACK_DAYS):
            if not _transitions_in(tz, origin - JUMP_LIMIT - 2, origin + 1):
                break
            origin -= MINUTES_PER_DAY
        else:
            raise ScheduleError(f"the clock of {tz} changes too often to find cron's state before it")
        self.base = _offset(tz, origin)
        self.changes = _transitions_in(tz, origin, end)
        self._starts = [minute for minute, _ in self.changes]
        self._run_loop(origin, end)

    def offset(self, minute: int) -> int:
        if not self.changes:
            return self.base
        index = bisect_right(self._starts, minute)
        return self.changes[index - 1][1] if index else self.base

    def local(self, minute: int) -> int:
        return minute + self.offset(minute)

    def _run_loop(self, origin: int, end: int) -> None:
        """cron.c main(): virtual time against the clock, around each change of offset."""
        done = origin
        for change, _ in self.changes:
            if change < done:
                continue  # inside the episode of an earlier change
            virtual = self.local(change - 1)
            minute = change
            while True:
                if minute - change > EPISODE_LIMIT:
                    raise ScheduleError(f"cron's loop in {self.tz} does not settle after {change * 60}")
                clock = self.local(minute)
                difference = clock - virtual
                if difference == 1:
                    break
                if 0 < difference <= LATE_LIMIT:
                    self.actions[minute] = Action("late", clock, virtual, clock)
                    virtual = clock
                elif LATE_LIMIT < difference <= JUMP_LIMIT:
                    self.actions[minute] = Action("gap", clock, virtual, clock)
                    virtual = clock
                elif -JUMP_LIMIT < difference <= 0:
                    self.actions[minute] = Action("back", clock)
                else:
                    self.actions[minute] = Action("jump", clock)
                    virtual = clock
                minute += 1
            done = minute

    def fires(self, spec: CronSpec, minute: int) -> bool:
        action = self.actions.get(minute)
        if action is not None:
            return action.fires(spec)
        return spec.matches(self.local(minute))

    def slots(self, spec: CronSpec, start: int, end: int) -> Iterator[int]:
        """Yield the UTC minutes in [start, end) at which cron runs `spec`, ascending."""
        special = sorted(minute for minute in self.actions if start <= minute < end)
        cursor = start
        for stop in [*special, end]:
            if cursor < stop:
                # No change of offset between two abnormal minutes: an affine stretch.
                offset = self.offset(cursor)
                for local in spec.local_matches(cursor + offset, stop + offset):
                    yield local - offset
            if stop < end:
                if self.actions[stop].fires(spec):
                    yield stop
                cursor = stop + 1


def _transitions_in(tz: tzinfo, start: int, end: int) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for week in range(start // WEEK, (end - 1) // WEEK + 1):
        found.extend(change for change in _week_transitions(tz, week) if start <= change[0] < end)
    return found
