"""Host crontab lines: a schedule in a task's zone as lines Debian's cron fires in the host's zone.

Debian's cron has no CRON_TZ, so a task whose zone differs from the host's is rendered as
the task's wall times moved by every host-minus-task offset difference that occurs, plus
lines for the slots a DST change moves. The lines may fire more often than the task;
`cronkit run` drops the extra firings: a start that serves no slot, or a slot already served,
runs nothing (runner/slots.py). Used by install, render and the other schedulers' targets, never
on the run path.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from cronkit.schedule import (
    MINUTE,
    fires_at,
    parse_fields,
    slots_between,
    validate_schedule,
    zone_info,
)
from cronkit.schedule.debcron import FIELD_RANGES

# Years whose DST rules host_lines takes into account: a rendered crontab stays
# installed for years, and tzdata's rules past 2037 repeat its last rule.
HORIZON_YEARS = (2024, 2050)
# Widest distance between a transition and a slot it moves (gaps and folds are <= 2 h).
TRANSITION_REACH = timedelta(hours=3)


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
                middle = (low + (high - low) / 2).replace(second=0, microsecond=0)
                if _offset(middle, tz) == offset:
                    low = middle
                else:
                    high = middle
            changes.append((high, new))
            offset = new
        day = following
    return tuple(changes)


def midnight_gaps(zone: str) -> tuple[date, ...]:
    """Return the local days whose 00:00 a spring-forward removes, within the horizon (Asia/Beirut,
    Africa/Cairo, America/Havana, America/Santiago, Atlantic/Azores move their clocks at midnight)."""
    days: list[date] = []
    changes = _transitions(zone)
    for (_, old), (instant, new) in zip(changes, changes[1:], strict=False):
        if new <= old:
            continue
        start, end = (instant + old).replace(tzinfo=None), (instant + new).replace(tzinfo=None)
        midnight = datetime.combine(start.date(), time()) + (timedelta(days=1) if start.time() != time() else timedelta())
        if midnight < end:
            days.append(midnight.date())
    return tuple(days)


def whole_hour_offsets(zone: str) -> bool:
    """Return whether every UTC offset of `zone` within the horizon is a whole number of hours."""
    return all(offset.total_seconds() % 3600 == 0 for _, offset in _transitions(zone))


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
    `expr` fires in `task_zone`; `cronkit run` drops the extra ones (runner/slots.py).
    Exact when the zones agree at every instant; otherwise the task's wall times moved by
    each offset difference that occurs, plus lines for slots a DST change moves.
    """
    expr = validate_schedule(expr)
    if task_zone == host_zone or _transitions(task_zone) == _transitions(host_zone):
        return [expr]
    fields, sets = parse_fields(expr)
    differences, instants = _offset_differences(task_zone, host_zone)
    lines = [_shifted_line(fields, sets, differences)]
    missing = _uncovered(expr, task_zone, lines, host_zone, instants)
    if missing:
        lines += _patch_lines(missing, host_zone)
        if _uncovered(expr, task_zone, lines, host_zone, instants):
            # Never expected; firing every minute is still correct, as run checks the slot.
            return ["* * * * *"]
    return lines

