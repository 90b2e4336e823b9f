"""Cron schedules: Debian-cron validation, slots in a zone, host lines, plain-language text.

One reading of a schedule, Debian cron 3.0pl1's (cronkit.debcron, written from cron's
entry.c and cron.c), serves validation, host lines and slots alike. A task's slots are the
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

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .debcron import (
    FIELD_RANGES,
    MINUTES_PER_DAY,
    SEARCH_YEARS,
    Clock,
    CronSpec,
    cron_spec,
    parse_field,
)
from .errors import ScheduleError

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

# Years whose DST rules host_lines takes into account: a rendered crontab stays
# installed for years, and tzdata's rules past 2037 repeat its last rule.
HORIZON_YEARS = (2024, 2050)
# Widest distance between a transition and a slot it moves (gaps and folds are <= 2 h).
TRANSITION_REACH = timedelta(hours=3)

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


def whole_hour_offsets(zone: str) -> bool:
    """Return whether every UTC offset of `zone` within the horizon is a whole number of hours."""
    return all(offset.total_seconds() % 3600 == 0 for _, offset in _transitions(zone))


def expand(expr: str) -> str:
    """Return the five fields a schedule stands for (a nickname expanded)."""
    text = " ".join(expr.split())
    return NICKNAMES.get(text, text)


@lru_cache(maxsize=1024)
def describe(expr: str) -> str:
    """Return the schedule in plain English, 24-hour clock (e.g. "At 03:00").

    Cached: cron_descriptor parses its locale file at every call (1 ms a task on each status check).
    """
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options(use_24hour_time_format=True, locale_code="en_US")
    return str(ExpressionDescriptor(expand(expr), options).get_description())


# --- slots in a zone -----------------------------------------------------------------------

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})


@lru_cache(maxsize=256)
def zone_info(zone: str) -> tzinfo:
    """Return the tzinfo for an IANA name; UTC gets datetime's own UTC (no DST handling, fast)."""
    if zone in _UTC_NAMES:
        return UTC
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


def slot_for(expr: str, zone: str, instant: datetime) -> datetime | None:
    """Return the slot (UTC, whole minute) a run starting at `instant` serves, or None if not due."""
    return _floor_minute(instant) if fires_at(expr, zone, instant) else None


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


# --- host crontab lines --------------------------------------------------------------------


def _offset(instant: datetime, tz: tzinfo) -> timedelta:
    return instant.astimezone(tz).utcoffset() or timedelta(0)


@lru_cache(maxsize=64)
def _transitions(zone: str) -> tuple[tuple[datetime, timedelta], ...]:
    """Return (instant, offset from then on) for the zone's offset changes within the horizon."""
    tz = zone_info(zone)
    first, last = HORIZON_YEARS
    day = datetime(first, 1, 1, tzinfo=UTC)
    end = datetime(last + 1, 1, 1, tzinfo=UTC)
    offset = _offset(day, tz)
    changes = [(day, offset)]
    step = timedelta(hours=12)
    while day < end:
        following = day + step
        new = _offset(following, tz)
        if new != offset:
            low, high = day, following
            while high - low > MINUTE:
                middle = _floor_minute(low + (high - low) / 2)
                if _offset(middle, tz) == offset:
                    low = middle
                else:
                    high = middle
            changes.append((high, new))
            offset = new
        day = following
    return tuple(changes)


def _offset_differences(task_zone: str, host_zone: str) -> tuple[set[int], list[datetime]]:
    """Return the host-minus-task offsets (minutes) that occur, and every transition instant."""
    task, host = _transitions(task_zone), _transitions(host_zone)
    instants = sorted({t for t, _ in task} | {t for t, _ in host})
    differences: set[int] = set()
    for instant in instants:
        task_offset = [o for t, o in task if t <= instant][-1]
        host_offset = [o for t, o in host if t <= instant][-1]
        differences.add(int((host_offset - task_offset).total_seconds()) // 60)
    return differences, instants[1:]


def _format_values(values: Iterable[int], index: int, lead_star: bool = True) -> str:
    """Return a compact cron field for `values` ('*', '*/n', ranges and lists)."""
    low, high = FIELD_RANGES[index]
    if index == 4:
        high = 6
    ordered = sorted(set(values))
    if lead_star and ordered == list(range(low, high + 1)):
        return "*"
    span = high - low + 1
    for step in range(2, span if lead_star else 0):
        if span % step == 0 and ordered == list(range(low, high + 1, step)):
            # Keeping the leading '*' keeps cron's wall-clock handling across DST.
            return f"*/{step}"
    parts: list[str] = []
    run_start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        if previous - run_start >= 2:
            parts.append(f"{run_start}-{previous}")
        else:
            parts.extend(str(v) for v in range(run_start, previous + 1))
        if value is not None:
            run_start = previous = value
    return ",".join(parts)


def _shift_days(days: set[int], carries: set[int]) -> set[int]:
    """Return the days of month a day in `days` becomes when moved by each carry."""
    shifted: set[int] = set()
    for day in days:
        for carry in carries:
            moved = day + carry
            if 1 <= moved <= 31:
                shifted.add(moved)
            for length in (28, 29, 30, 31):
                # Past the end of a month of `length` days, or before the 1st into one.
                if moved > length >= day:
                    shifted.add(moved - length)
                elif moved < 1:
                    shifted.add(moved + length)
    return shifted


def _shifted_day_fields(fields: list[str], sets: list[set[int]], carries: set[int]) -> tuple[str, str, str]:
    """Return day-of-month, month and day-of-week fields covering the task's days moved by `carries`."""
    dom, month, dow = fields[2], fields[3], fields[4]
    if carries == {0} or (dom, month, dow) == ("*", "*", "*"):
        return dom, month, dow
    if month != "*":
        # Moving a day crosses into the neighbouring month only at month ends; keep both.
        months = sets[3] | {(m - 1 + (c > 0) - (c < 0)) % 12 + 1 for m in sets[3] for c in carries}
        month = _format_values(months, 3)
    days = _shift_days(sets[2], carries)
    weekdays = {(day + carry) % 7 for day in sets[4] for carry in carries}
    if dom == "*":
        return "*", month, _format_values(weekdays, 4)
    if dow == "*":
        return _format_values(days, 2), month, "*"
    # Both restricted: cron fires on either (a leading '*' would turn that into "both", a
    # subset); a union covering every day is written as two stars.
    if days >= set(range(1, 32)) or weekdays >= set(range(7)):
        return "*", month, "*"
    return _format_values(days, 2, lead_star=False), month, _format_values(weekdays, 4, lead_star=False)


def _shifted_line(fields: list[str], sets: list[set[int]], differences: set[int]) -> str:
    """Return one line firing at the task's wall times moved by each offset difference."""
    minutes: set[int] = set()
    hours: set[int] = set()
    carries: set[int] = set()
    for difference in differences:
        for hour in sets[1]:
            for minute in sets[0]:
                total = hour * 60 + minute + difference
                carries.add(total // 1440)
                minutes.add(total % 60)
                hours.add(total % 1440 // 60)
    minute_text = fields[0] if minutes == sets[0] else _format_values(minutes, 0)
    hour_text = fields[1] if hours == sets[1] else _format_values(hours, 1)
    dom, month, dow = _shifted_day_fields(fields, sets, carries)
    return f"{minute_text} {hour_text} {dom} {month} {dow}"


def _uncovered(
    expr: str, task_zone: str, lines: list[str], host_zone: str, instants: list[datetime]
) -> list[datetime]:
    """Return the task's slots near `instants` at which none of `lines` fires in the host zone."""
    missing: list[datetime] = []
    seen: set[datetime] = set()
    for instant in instants:
        for slot in slots_between(expr, task_zone, instant - TRANSITION_REACH, instant + TRANSITION_REACH):
            if slot in seen:
                continue
            seen.add(slot)
            if not any(fires_at(line, host_zone, slot) for line in lines):
                missing.append(slot)
    return missing


def _patch_lines(missing: list[datetime], host_zone: str) -> list[str]:
    """Return lines for slots the shifted line misses: those moved by DST, on their days."""
    tz = zone_info(host_zone)
    fixed: list[datetime] = []
    second_pass: list[datetime] = []
    for slot in missing:
        local = slot.astimezone(tz)
        # Cron runs a fixed-time job once in a fall-back; only a line with '*' leading its
        # minute or hour field fires in the repeated hour's second pass.
        (second_pass if local.fold else fixed).append(local)
    lines: list[str] = []
    for group, wildcard in ((fixed, False), (second_pass, True)):
        if not group:
            continue
        minutes = {t.minute for t in group}
        hours = {t.hour for t in group}
        months = _format_values({t.month for t in group}, 3)
        weekdays = _format_values({t.isoweekday() % 7 for t in group}, 4)
        minute_text, hour_text = _format_values(minutes, 0), _format_values(hours, 1)
        if wildcard and not (minute_text.startswith("*") or hour_text.startswith("*")):
            step = max(s for s in range(1, 31) if all(m % s == 0 for m in minutes))
            if (60 + step - 1) // step * len(hours) <= 24 * len(minutes):
                minute_text = f"*/{step}" if step > 1 else "*"
            else:
                hour_text = "*"
        lines.append(f"{minute_text} {hour_text} * {months} {weekdays}")
    return lines


def host_lines(expr: str, task_zone: str, host_zone: str) -> list[str]:
    """Return crontab schedules that, run by Debian cron in `host_zone`, cover every slot of `expr`.

    The union of the lines' firings (as Debian's cron reads them in the host zone) contains every instant at which
    `expr` fires in `task_zone`; `cronkit run` drops the extra ones with `slot_for`.
    Exact when the zones agree at every instant; otherwise the task's wall times moved by
    each offset difference that occurs, plus lines for slots a DST change moves.
    """
    expr = validate_schedule(expr)
    if task_zone == host_zone or _transitions(task_zone) == _transitions(host_zone):
        return [expr]
    fields, sets = _parse(expr, "schedule")
    differences, instants = _offset_differences(task_zone, host_zone)
    lines = [_shifted_line(fields, sets, differences)]
    missing = _uncovered(expr, task_zone, lines, host_zone, instants)
    if missing:
        lines += _patch_lines(missing, host_zone)
        if _uncovered(expr, task_zone, lines, host_zone, instants):
            # Never expected; firing every minute is still correct, as run checks the slot.
            return ["* * * * *"]
    return lines

