"""Decide which hour, day, week or month an analytics run covers (half-open UTC intervals)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from cronkit.context import TaskContext
from cronkit.errors import UsageError
from cronkit.registry.params import parse_hour as parse

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def midnight(day: date) -> datetime:
    """Return the start of `day` in UTC."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime."""
    return value.astimezone(UTC)


def _require_ended(task: str, end: datetime, now: datetime) -> None:
    if end > utc(now):
        raise UsageError(f"{task}: the period ending {end.isoformat()} has not ended yet")


def parse_hour(text: str) -> datetime:
    """Parse `2026-11-20T13` (or `...T13:00`, optional offset) into the hour's start, UTC."""
    return parse(text.strip(), "hour")


def hours_to_compute(ctx: TaskContext) -> list[datetime]:
    """Return the hour starts hourly-metrics computes.

    `--param hour=2026-11-20T13` names one hour; `--date D` names every full hour of D that has
    ended; otherwise the last full hour before the reference time (the slot, else now).
    """
    if "hour" in ctx.params:
        start = parse_hour(ctx.params["hour"])
        _require_ended(ctx.task, start + HOUR, ctx.now)
        return [start]
    if ctx.date is not None:
        first = midnight(ctx.date)
        hours = [first + HOUR * i for i in range(24) if first + HOUR * (i + 1) <= utc(ctx.now)]
        if not hours:
            raise UsageError(f"{ctx.task}: no hour of {ctx.date.isoformat()} has ended yet")
        return hours
    ref = utc(ctx.reference_time)
    return [ref.replace(minute=0, second=0, microsecond=0) - HOUR]


def day_to_compute(ctx: TaskContext) -> date:
    """Return the UTC day to compute: `--date D`, else the day before the reference day."""
    day = ctx.date if ctx.date is not None else utc(ctx.reference_time).date() - DAY
    _require_ended(ctx.task, midnight(day) + DAY, ctx.now)
    return day


@dataclass(frozen=True)
class Period:
    """A report period `[start, end)`, compared with the period `[previous_start, start)`."""

    kind: str
    key: str
    start: datetime
    end: datetime
    previous_start: datetime
    previous_key: str

    @property
    def label(self) -> str:
        last = (self.end - DAY).date()
        return f"{self.start.date().isoformat()} to {last.isoformat()} (UTC)"


def week_key(start: date) -> str:
    """Name the Sunday-to-Saturday week starting `start` after the ISO week of its Monday."""
    year, week, _ = (start + timedelta(days=1)).isocalendar()
    return f"{year}-W{week:02d}"


def week_to_compute(ctx: TaskContext) -> Period:
    """Return the Sunday-to-Saturday week weekly-trend-reports covers.

    `--date D`: the week containing D. Otherwise the last full week before the reference day;
    for the scheduled Sunday 01:00 run that is exactly the 7 days before the run day.
    """
    if ctx.date is not None:
        day = ctx.date
        start = day - timedelta(days=(day.weekday() + 1) % 7)
    else:
        ref = utc(ctx.reference_time).date()
        start = ref - timedelta(days=(ref.weekday() + 1) % 7) - WEEK
    period = Period(
        kind="weekly",
        key=week_key(start),
        start=midnight(start),
        end=midnight(start + WEEK),
        previous_start=midnight(start - WEEK),
        previous_key=week_key(start - WEEK),
    )
    _require_ended(ctx.task, period.end, ctx.now)
    return period


def _month_start(year: int, month: int) -> date:
    while month < 1:
        year, month = year - 1, month + 12
    while month > 12:
        year, month = year + 1, month - 12
    return date(year, month, 1)


def month_to_compute(ctx: TaskContext) -> Period:
    """Return the calendar month to summarise: `--date D`'s month, else the previous one."""
    if ctx.date is not None:
        first = ctx.date.replace(day=1)
    else:
        ref = utc(ctx.reference_time).date()
        first = _month_start(ref.year, ref.month - 1)
    nxt = _month_start(first.year, first.month + 1)
    prev = _month_start(first.year, first.month - 1)
    period = Period(
        kind="monthly",
        key=f"{first:%Y-%m}",
        start=midnight(first),
        end=midnight(nxt),
        previous_start=midnight(prev),
        previous_key=f"{prev:%Y-%m}",
    )
    _require_ended(ctx.task, period.end, ctx.now)
    return period
