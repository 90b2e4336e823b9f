"""A port of robfig/cron v3.0.1's SpecSchedule.Next, the parser the Kubernetes CronJob controller uses.

No Go toolchain is needed for the tests: this follows spec.go line by line, with Go's
time.Date (normalising a wall time that a DST change removes or repeats the way Go does)
and Time.AddDate built on zoneinfo. It exists to pin where Kubernetes' instants differ from
cron's across DST (README, "Other schedulers").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronkit.schedule import parse_fields

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def _offset(tz: ZoneInfo, unix: int) -> int:
    offset = datetime.fromtimestamp(unix, UTC).astimezone(tz).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def go_date(year: int, month: int, day: int, hour: int, minute: int, second: int, tz: ZoneInfo) -> datetime:
    """Return Go's time.Date(...) as a UTC instant: fields normalised, then Go's zone lookup."""
    month -= 1
    year += month // 12
    month = month % 12 + 1
    # Days, hours, minutes and seconds overflow the way Go's absolute-date arithmetic does.
    base = datetime(year, month, 1, tzinfo=UTC)
    unix = int((base + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)).timestamp())
    offset = _offset(tz, unix)
    utc = unix - offset
    if _offset(tz, utc) != offset:  # utc outside the zone period looked up: look up again
        offset = _offset(tz, utc)
    return datetime.fromtimestamp(unix - offset, UTC)


@dataclass
class GoTime:
    instant: datetime  # UTC
    tz: ZoneInfo

    @property
    def local(self) -> datetime:
        return self.instant.astimezone(self.tz)

    def add(self, delta: timedelta) -> GoTime:
        return GoTime(self.instant + delta, self.tz)

    def add_date(self, months: int, days: int) -> GoTime:
        t = self.local
        return GoTime(go_date(t.year, t.month + months, t.day + days, t.hour, t.minute, t.second, self.tz), self.tz)

    def truncate(self, unit: timedelta) -> GoTime:
        seconds = int(unit.total_seconds())
        return GoTime(datetime.fromtimestamp(int(self.instant.timestamp()) // seconds * seconds, UTC), self.tz)


@dataclass(frozen=True)
class Spec:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: frozenset[int]
    months: frozenset[int]
    dow: frozenset[int]
    dom_star: bool
    dow_star: bool


def _star(field: str) -> bool:
    base, _, step = field.partition("/")
    return base in ("*", "?") and (not step or int(step) <= 1)


def parse(schedule: str) -> Spec:
    """Parse a schedule as robfig's standard parser does (day-of-week 0-6)."""
    fields, sets = parse_fields(schedule)
    minutes, hours, dom, months, dow = (frozenset(s) for s in sets)
    return Spec(minutes, hours, dom, months, dow, _star(fields[2]), _star(fields[4]))


def _day_matches(spec: Spec, t: datetime) -> bool:
    dom = t.day in spec.dom
    dow = (t.isoweekday() % 7) in spec.dow
    if spec.dom_star or spec.dow_star:
        return dom and dow
    return dom or dow


def next_after(spec: Spec, tz: ZoneInfo, after: datetime) -> datetime | None:
    """Return SpecSchedule.Next(after) as a UTC instant."""
    t = GoTime(after.astimezone(UTC), tz)
    t = GoTime(datetime.fromtimestamp(int(t.instant.timestamp()) + 1, UTC), tz)
    added = False
    year_limit = t.local.year + 5
    while True:  # WRAP
        if t.local.year > year_limit:
            return None
        wrapped = False
        while t.local.month not in spec.months:
            if not added:
                added = True
                local = t.local
                t = GoTime(go_date(local.year, local.month, 1, 0, 0, 0, tz), tz)
            t = t.add_date(1, 0)
            if t.local.month == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not _day_matches(spec, t.local):
            if not added:
                added = True
                local = t.local
                t = GoTime(go_date(local.year, local.month, local.day, 0, 0, 0, tz), tz)
            t = t.add_date(0, 1)
            hour = t.local.hour
            if hour != 0:
                t = t.add(HOUR * (24 - hour)) if hour > 12 else t.add(-HOUR * hour)
            if t.local.day == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while t.local.hour not in spec.hours:
            if not added:
                added = True
                local = t.local
                t = GoTime(go_date(local.year, local.month, local.day, local.hour, 0, 0, tz), tz)
            t = t.add(HOUR)
            if t.local.hour == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while t.local.minute not in spec.minutes:
            if not added:
                added = True
                t = t.truncate(MINUTE)
            t = t.add(MINUTE)
            if t.local.minute == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while t.local.second != 0:
            if not added:
                added = True
                t = t.truncate(SECOND)
            t = t.add(SECOND)
            if t.local.second == 0:
                wrapped = True
                break
        if wrapped:
            continue
        return t.instant


def instants(schedule: str, zone: str, start: datetime, end: datetime) -> Iterator[datetime]:
    """Yield the instants (UTC) with start < instant <= end at which the CronJob fires."""
    spec, tz = parse(schedule), ZoneInfo(zone)
    current = start
    while True:
        found = next_after(spec, tz, current)
        if found is None or found > end:
            return
        yield found
        current = found


