"""Cron schedules: Debian-cron validation, slots in a zone, plain-language text.

One reading of a schedule, Debian cron 3.0pl1's (cronkit.schedule.debcron, written from cron's
entry.c and cron.c), serves validation, slots and (in cronkit.schedule.hostlines) host lines alike. A task's slots are the
UTC minutes at which Debian's cron, running on a host in the task's zone and waking up on
time, starts the job: a fixed-time job whose wall time a spring-forward skips starts at
the end of the gap, a fixed-time job runs once in a fall-back, a job with `*` leading its
minute or hour field follows the wall clock through both passes of a fall-back and skips
the gap. Each answer is computed from the zone's offsets around the instants asked about
(never by iterating from the caller's starting point), so "is T a slot", "the next slot
after T" and "the slots in (a, b]" agree whatever the start; every search is bounded.
`cronkit run` imports this module on every cron tick, so it imports only the standard
library; cron-descriptor is imported when a description is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from cronkit.errors import ScheduleError
from cronkit.schedule.debcron import (
    FIELD_NAMES,
    MINUTES_PER_DAY,
    SEARCH_YEARS,
    Clock,
    CronSpec,
    cron_spec,
    parse_field,
)

UTC = UTC

NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

MONTH_TITLES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
# February counts 29 days: a schedule is possible when it can fire in some year.
DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

MINUTE = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Slots are computed a week at a time; a search for the next slot takes this many steps at most.
CHUNK = 7 * MINUTES_PER_DAY
SEARCH_STEPS = 2000



# --- validation ---------------------------------------------------------------------------


def _parse_field(text: str, index: int, where: str) -> set[int]:
    """Return the values a field names, as Debian's cron 3.0pl1 reads it (see debcron)."""
    return set(parse_field(text, index, where))


def _check_possible(fields: list[str], sets: list[set[int]], where: str) -> None:
    """Reject a day-of-month no listed month has, unless day-of-week may fire instead."""
    dom_text, dow_text = fields[2], fields[4]
    # Debian's rule: with both day fields restricted (neither starts with '*'), a day
    # matching either one fires, so the day-of-week alone keeps the schedule possible.
    if not dom_text.startswith("*") and not dow_text.startswith("*"):
        return
    days, months = sets[2], sets[3]
    if any(day <= DAYS_IN_MONTH[month] for day in days for month in months):
        return
    listed = ", ".join(MONTH_TITLES[m - 1] for m in sorted(months))
    raise ScheduleError(
        f"{where}: day-of-month: {fields[2]!r} never occurs in {listed}; the schedule would never fire"
    )


def _parse(expr: str, where: str) -> tuple[list[str], list[set[int]]]:
    fields = expr.split()
    if not fields:
        raise ScheduleError(f"{where}: the schedule is empty")
    if fields[0].startswith("@"):
        if fields[0] == "@reboot":
            raise ScheduleError(f"{where}: '@reboot' is not supported: cronkit schedules recurring slots")
        if len(fields) != 1 or fields[0] not in NICKNAMES:
            known = " ".join(NICKNAMES)
            raise ScheduleError(f"{where}: {expr.strip()!r} is not supported; use five fields or one of {known}")
        fields = NICKNAMES[fields[0]].split()
    if len(fields) == 6:
        raise ScheduleError(f"{where}: 6 fields: cron has no seconds field")
    if len(fields) != 5:
        raise ScheduleError(
            f"{where}: {len(fields)} fields: expected 5 (minute hour day-of-month month day-of-week)"
        )
    sets = [_parse_field(text, index, where) for index, text in enumerate(fields)]
    _check_possible(fields, sets, where)
    return fields, sets


def validate_schedule(expr: str, where: str = "schedule") -> str:
    """Return `expr` normalised if Debian's cron accepts it; raise ScheduleError naming the field."""
    _parse(expr, where)
    return " ".join(expr.split())


def period_at_least_an_hour(expr: str) -> bool:
    """Return whether consecutive slots are an hour or more apart: one minute of the hour named."""
    _, sets = _parse(expr, "schedule")
    return len(sets[0]) == 1


def parse_fields(expr: str) -> tuple[list[str], list[set[int]]]:
    """Return a schedule's five field texts (a nickname expanded) and the values each names.

    Day-of-week values are 0-6 (Debian's 7 for Sunday folded into 0), for other schedulers.
    """
    fields, sets = _parse(expr, "schedule")
    sets[4] = {day % 7 for day in sets[4]}
    return fields, sets


def days_and(fields: list[str]) -> bool:
    """Return whether a day must match day-of-month AND day-of-week (Debian: either starts with '*').

    With both restricted, a day matching either one fires (OR).
    """
    return fields[2].startswith("*") or fields[4].startswith("*")


def expand(expr: str) -> str:
    """Return the five fields a schedule stands for (a nickname expanded)."""
    text = " ".join(expr.split())
    return NICKNAMES.get(text, text)


@lru_cache(maxsize=1024)
def describe(expr: str) -> str:
    """Return the schedule in plain English, 24-hour clock (e.g. "At 03:00"), true to what cron does.

    A step that does not divide its range is described by the values it sets: `*/45` fires at
    minutes 0 and 45, not every 45 minutes; `0 */5 * * *` at 00:00, 05:00, 10:00, 15:00 and 20:00.
    `list`, `--json`, the API and the dashboard all read this one function. Cached:
    cron_descriptor parses its locale file at every call (1 ms a task on each status check).
    """
    # lazy: cron_descriptor (a tenth of a bare start), only when a schedule is put in words
    from cron_descriptor import ExpressionDescriptor, Options

    fields = expand(expr).split()
    if len(fields) == 5:
        for index in uneven_fields(expr):
            fields[index] = ",".join(str(value) for value in field_values(fields[index], index))
    options = Options(use_24hour_time_format=True, locale_code="en_US")
    return str(ExpressionDescriptor(" ".join(fields), options).get_description())


# The cycle a `*/n` step wraps around in. Day-of-month has none (months differ in length): any
# step over `*` there leaves a shorter gap at the end of some month.
_CYCLES = (60, 24, None, 12, 7)


def field_values(text: str, index: int) -> list[int]:
    """Return the values a field sets, ascending (day-of-week 7 read as 0, Sunday)."""
    values = parse_field(text, index, "schedule")
    return sorted({value % 7 for value in values} if index == 4 else values)


def uneven_fields(expr: str) -> list[int]:
    """Return the indexes of the fields whose step does not divide its range.

    `*/n` is even when n divides the field's cycle (60 minutes, 24 hours, 12 months, 7 days), so
    the gap across the wrap is n too; `a-b/n` when n divides b - a, so b is the last value set.
    """
    fields = expand(expr).split()
    if len(fields) != 5:
        return []
    return [index for index, text in enumerate(fields) if "/" in text and _uneven(text, index)]


def _uneven(text: str, index: int) -> bool:
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        if not slash or not step_text.isdigit():
            continue
        step = int(step_text)
        if base == "*":
            cycle = _CYCLES[index]
            if step > 1 and (cycle is None or cycle % step):
                return True
        else:
            bounds = parse_field(base, index, "schedule")
            if (max(bounds) - min(bounds)) % step:
                return True
    return False


def uneven_step_warning(expr: str) -> str | None:
    """Return what `install` warns about a schedule with uneven steps (None when it has none)."""
    fields = expand(expr).split()
    uneven = uneven_fields(expr)
    if not uneven:
        return None
    parts = ", ".join(f"{FIELD_NAMES[index]} {fields[index]!r}" for index in uneven)
    return f"schedule {expr!r} steps unevenly ({parts}); cron fires it: {describe(expr)}"


# --- slots in a zone -----------------------------------------------------------------------

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})


@lru_cache(maxsize=256)
def zone_info(zone: str) -> tzinfo:
    """Return the tzinfo for an IANA name; UTC gets datetime's own UTC (no DST handling, fast)."""
    if zone in _UTC_NAMES:
        return UTC
    # lazy: zoneinfo and its search for the tz database, only for a zone other than UTC (a UTC tick never loads it)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown timezone {zone!r}") from None


def _require_aware(instant: datetime, name: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _floor_minute(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(second=0, microsecond=0)


def _minute(instant: datetime) -> int:
    """Return the UTC minute (minutes since the epoch) containing `instant`."""
    return (instant - EPOCH) // MINUTE


def _instant(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


def _spec(expr: str) -> CronSpec:
    fields = expand(expr).split()
    if len(fields) != 5:
        validate_schedule(expr)
    return cron_spec((fields[0], fields[1], fields[2], fields[3], fields[4]))


def fires_at(expr: str, zone: str, instant: datetime) -> bool:
    """Return whether the schedule, in `zone`, fires at the UTC minute containing `instant`."""
    _require_aware(instant, "instant")
    minute = _minute(instant)
    spec, tz = _spec(expr), zone_info(zone)
    try:
        return Clock(tz, minute, minute + 1).fires(spec, minute)
    except (OverflowError, ValueError) as exc:
        raise ScheduleError(f"schedule {expr!r} in {zone}: {exc}") from None


def _slot_minutes(spec: CronSpec, tz: tzinfo, start: int, end: int) -> Iterator[int]:
    """Yield the UTC minutes in [start, end) at which Debian's cron runs `spec` in `tz`."""
    cursor = start
    while cursor < end:
        stop = min(end, cursor + CHUNK)
        yield from Clock(tz, cursor, stop).slots(spec, cursor, stop)
        cursor = stop


def _next_day(spec: CronSpec, day: int, limit: int) -> int | None:
    """Return the first local day >= `day` (days since 1970-01-01) whose date matches, or None."""
    found = spec.first_match(day * MINUTES_PER_DAY, limit * MINUTES_PER_DAY)
    return None if found is None else found // MINUTES_PER_DAY


def _next_minute(spec: CronSpec, tz: tzinfo, start: int) -> int | None:
    """Return the first slot at or after UTC minute `start`, searching SEARCH_YEARS at most."""
    limit_day = start // MINUTES_PER_DAY + SEARCH_YEARS * 366
    cursor = start
    for _ in range(SEARCH_STEPS):
        stop = cursor + CHUNK
        for found in Clock(tz, cursor, stop).slots(spec, cursor, stop):
            return found
        # Nothing in this stretch: go to two days before the next local day that matches
        # (a zone's offset is within a day of UTC), never backwards.
        day = _next_day(spec, stop // MINUTES_PER_DAY - 1, limit_day)
        if day is None:
            return None
        cursor = max(stop, (day - 2) * MINUTES_PER_DAY)
    raise ScheduleError(f"gave up after {SEARCH_STEPS} searches for the next slot")


def next_run(expr: str, zone: str, after: datetime) -> datetime:
    """Return the first slot (UTC) strictly after `after`."""
    _require_aware(after, "after")
    spec, tz = _spec(expr), zone_info(zone)
    try:
        found = _next_minute(spec, tz, _minute(after) + 1)
    except (OverflowError, ValueError) as exc:
        raise ScheduleError(f"schedule {expr!r} in {zone}: {exc}") from None
    if found is None:
        raise ScheduleError(f"schedule {expr!r} never fires within {SEARCH_YEARS} years after {after.isoformat()}")
    return _instant(found)


def slots_between(expr: str, zone: str, start: datetime, end: datetime) -> Iterator[datetime]:
    """Yield the slots (UTC) with start < slot <= end, ascending, each instant once."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    spec, tz = _spec(expr), zone_info(zone)
    first, last = _minute(start) + 1, _minute(end)
    return (_instant(minute) for minute in _slot_minutes(spec, tz, first, last + 1))
