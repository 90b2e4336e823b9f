"""Cron schedules: Debian-cron validation, slots in a zone, plain-language text.

A schedule's instants are those cronsim yields when iterating it in the task's zone
(cronsim mimics Debian cron across DST: a fixed-time job whose local time falls in a
spring-forward gap fires at the end of the gap, and fires once in a fall-back; a job with
`*` leading its minute or hour field follows the wall clock through both passes).
`cronkit run` imports this module on every cron tick, so it imports only cronsim and
zoneinfo; cron-descriptor is imported when a description is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

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

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH_TITLES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# February counts 29 days: a schedule is possible when it can fire in some year.
DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# Years whose DST rules host_lines takes into account: a rendered crontab stays
# installed for years, and tzdata's rules past 2037 repeat its last rule.
HORIZON_YEARS = (2024, 2050)
# Widest distance between a transition and a slot it moves (gaps and folds are <= 2 h).
TRANSITION_REACH = timedelta(hours=3)

MINUTE = timedelta(minutes=1)


# --- validation ---------------------------------------------------------------------------


def _names_for(index: int) -> tuple[str, ...]:
    if index == 3:
        return MONTH_NAMES
    if index == 4:
        return DAY_NAMES
    return ()


def _number(token: str, index: int, prefix: str) -> int:
    """Return `token` as a number within the field's range, or raise naming the field."""
    low, high = FIELD_RANGES[index]
    if not token.isdigit() or not token.isascii():
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


def _parse_field(text: str, index: int, where: str) -> set[int]:
    """Return the values a field names, accepting what Debian's cron 3.0pl1 accepts."""
    name = FIELD_NAMES[index]
    prefix = f"{where}: {name}"
    low, high = FIELD_RANGES[index]
    for bad in ("?", "#"):
        if bad in text:
            raise ScheduleError(f"{prefix}: {bad!r} is not accepted by Debian cron")
    names = _names_for(index)
    if names and text.lower() in names:
        value = names.index(text.lower())
        return {value + 1 if index == 3 else value}
    if names and any(part.lower() in names for part in _alpha_parts(text)):
        raise ScheduleError(
            f"{prefix}: {text!r}: names are accepted only as a single value, not in lists or ranges"
        )
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
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, index, prefix), _number(last, index, prefix)
            if start > end:
                raise ScheduleError(f"{prefix}: range {base!r} is reversed")
        else:
            start = end = _number(base, index, prefix)
            if slash:
                raise ScheduleError(
                    f"{prefix}: {item!r}: a step needs a range or '*' before it, as in '*/{step}'"
                )
        values.update(range(start, end + 1, step))
    return values


def _alpha_parts(text: str) -> list[str]:
    parts, current = [], ""
    for ch in text:
        if ch.isalpha():
            current += ch
        elif current:
            parts.append(current)
            current = ""
    if current:
        parts.append(current)
    return parts


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


def describe(expr: str) -> str:
    """Return the schedule in plain English, 24-hour clock (e.g. "At 03:00")."""
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options(use_24hour_time_format=True, locale_code="en_US")
    return str(ExpressionDescriptor(expand(expr), options).get_description())


# --- slots in a zone -----------------------------------------------------------------------

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})


@lru_cache(maxsize=256)
def zone_info(zone: str) -> tzinfo:
    """Return the tzinfo for an IANA name; UTC gets cronsim's fast path (no DST handling)."""
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


def fires_at(expr: str, zone: str, instant: datetime) -> bool:
    """Return whether the schedule, in `zone`, fires at the UTC minute containing `instant`."""
    _require_aware(instant, "instant")
    minute = _floor_minute(instant)
    tz = zone_info(zone)
    start = minute - timedelta(seconds=1)
    earlier = minute - TRANSITION_REACH
    if tz is not UTC and _offset(earlier, tz) != _offset(minute, tz):
        # Near a DST change cronsim's answer depends on where it starts (a fall-back that
        # is not on the hour, as in Chatham or Lord Howe): start where a long iteration
        # would come from, before the change, so the check agrees with slots_between.
        start = earlier
    for instant in _iterate(expr, zone, start):
        if instant >= minute:
            return instant == minute
    return False


def slot_for(expr: str, zone: str, instant: datetime) -> datetime | None:
    """Return the slot (UTC, whole minute) a run starting at `instant` serves, or None if not due."""
    return _floor_minute(instant) if fires_at(expr, zone, instant) else None


def _iterate(expr: str, zone: str, after: datetime) -> Iterator[datetime]:
    """Yield the schedule's UTC instants strictly after `after`, ascending, each once."""
    _require_aware(after, "after")
    last = after.astimezone(UTC)
    try:
        sim = CronSim(expand(expr), last.astimezone(zone_info(zone)))
    except CronSimError as exc:
        raise ScheduleError(f"schedule {expr!r}: {exc}") from None
    for found in sim:
        instant = found.astimezone(UTC)
        # In a fall-back hour cronsim walks the local clock and may name the first pass
        # of a time that lies before `after`; skip anything not strictly later.
        if instant > last:
            last = instant
            yield instant


def next_run(expr: str, zone: str, after: datetime) -> datetime:
    """Return the first slot (UTC) strictly after `after`."""
    for instant in _iterate(expr, zone, after):
        return instant
    raise ScheduleError(f"schedule {expr!r} never fires after {after.isoformat()}")


def slots_between(expr: str, zone: str, start: datetime, end: datetime) -> Iterator[datetime]:
    """Yield the slots (UTC) with start < slot <= end, ascending, each instant once."""
    _require_aware(end, "end")
    stop = end.astimezone(UTC)
    for instant in _iterate(expr, zone, start):
        if instant > stop:
            return
        yield instant


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

    The union of the lines' firings (cronsim, host zone) contains every instant at which
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

