"""A model of Debian cron 3.0pl1, written from its source, to check cronkit's schedule math.

Independent of cronkit.schedule.debcron on purpose (a port, not a reuse):

* `parse_line` follows entry.c character by character (load_entry, get_list, get_range,
  get_number, set_element), including what cron tolerates (characters after a valid
  element are skipped, a reversed range sets nothing); it returns None where cron's
  parser returns EOF ("bad minute" and so on).
* `Host` runs cron.c's main loop (virtual time against the wall clock, the four wake-up
  kinds, find_jobs with its doWild/doNonWild flags) over every UTC minute of a span, for a
  daemon that wakes up on time and whose jobs take no time (the 10 s sleep after a catch-up
  minute that ran jobs delays those starts within their minute; it does not change which
  minute they belong to unless seven or more catch-up minutes run jobs).

The normal minutes are evaluated with bitwise operations on byte strings (one byte per
UTC minute), so a year costs milliseconds per expression; every other minute goes through
the loop's literal code.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

FIRST = (0, 0, 1, 1, 0)
LAST = (59, 23, 31, 12, 7)
MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DOW_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MAX_TEMPSTR = 1000
EOF = None


# --- entry.c ---------------------------------------------------------------------------------


class _Stream:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def get(self) -> str | None:
        if self.pos >= len(self.text):
            return EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch


def _isalnum(ch: str | None) -> bool:
    return ch is not None and ch.isascii() and ch.isalnum()


def _get_number(low: int, names: list[str] | None, ch: str | None, f: _Stream) -> tuple[int, str | None] | None:
    temp = ""
    all_digits = True
    while _isalnum(ch):
        assert ch is not None
        if len(temp) + 1 >= MAX_TEMPSTR:
            return None
        temp += ch
        if not ch.isdigit():
            all_digits = False
        ch = f.get()
    if not temp:
        return None
    if names:
        for i, name in enumerate(names):
            if name.lower() == temp.lower():
                return i + low, ch
    if all_digits:
        value = int(temp)
        if value > 2**31 - 1:
            return None  # atoi overflow: cronkit refuses these, so the model does too
        return value, ch
    return None


def _get_range(bits: set[int], low: int, high: int, names: list[str] | None, ch: str | None, f: _Stream) -> str | None | Literal[False]:
    """Return the next character, or False for cron's EOF (a parse error)."""
    if ch == "*":
        num1, num2 = low, high
        ch = f.get()
        if ch is EOF:
            return False
    else:
        got = _get_number(low, names, ch, f)
        if got is None:
            return False
        num1, ch = got
        if ch != "-":
            if ch == "/":
                return False
            if not low <= num1 <= high:
                return False
            bits.add(num1)
            return ch
        ch = f.get()
        if ch is EOF:
            return False
        got = _get_number(low, names, ch, f)
        if got is None:
            return False
        num2, ch = got
    if ch == "/":
        ch = f.get()
        if ch is EOF:
            return False
        got = _get_number(0, None, ch, f)
        if got is None or got[0] <= 0:
            return False
        num3, ch = got
    else:
        num3 = 1
    if num1 < low or num1 > high or num2 < low or num2 > high:
        return False
    i = num1
    while i <= num2:
        bits.add(i)
        i += num3
    return ch


def _get_list(low: int, high: int, names: list[str] | None, ch: str | None, f: _Stream) -> tuple[set[int], str | None] | None:
    bits: set[int] = set()
    while True:
        got = _get_range(bits, low, high, names, ch, f)
        if got is False:
            return None
        ch = got
        if ch == ",":
            ch = f.get()
        else:
            break
    while ch is not EOF and ch not in " \t\n":
        ch = f.get()
    while ch is not EOF and ch in " \t":
        ch = f.get()
    return bits, ch


@dataclass(frozen=True)
class Entry:
    minute: frozenset[int]
    hour: frozenset[int]
    dom: frozenset[int]
    month: frozenset[int]
    dow: frozenset[int]  # 0-7, 0 and 7 both set when either is
    min_star: bool
    hr_star: bool
    dom_star: bool
    dow_star: bool

    @property
    def wild(self) -> bool:
        return self.min_star or self.hr_star

    def day_matches(self, day: date) -> bool:
        """find_jobs' day test (tm_mday, tm_mon + 1, tm_wday)."""
        dom = day.day in self.dom
        dow = day.isoweekday() % 7 in self.dow
        if day.month not in self.month:
            return False
        return (dow and dom) if (self.dom_star or self.dow_star) else (dow or dom)

    def matches(self, local: datetime) -> bool:
        return local.minute in self.minute and local.hour in self.hour and self.day_matches(local.date())


def parse_line(line: str) -> Entry | None:
    """load_entry's time fields of `line` (five fields, then a command), or None if cron refuses."""
    f = _Stream(line + " true\n")
    ch = f.get()
    while ch is not EOF and ch in " \t":
        ch = f.get()
    if ch == "@":
        word = ""
        ch = f.get()
        while ch is not EOF and ch not in " \t\n":
            word += ch
            ch = f.get()
        table = {
            "yearly": "0 0 1 1 *", "annually": "0 0 1 1 *", "monthly": "0 0 1 * *",
            "weekly": "0 0 * * 0", "daily": "0 0 * * *", "midnight": "0 0 * * *", "hourly": "0 * * * *",
        }
        if word not in table:
            return None
        # The @ forms set the same bits as these lines (and flags giving the same matches).
        return parse_line(table[word])
    stars = []
    sets = []
    for index in range(5):
        stars.append(ch == "*")
        names = MONTH_NAMES if index == 3 else DOW_NAMES if index == 4 else None
        got = _get_list(FIRST[index], LAST[index], names, ch, f)
        if got is None or got[1] is EOF:
            return None
        bits, ch = got
        sets.append(bits)
    dow = sets[4]
    if 0 in dow or 7 in dow:
        dow |= {0, 7}
    if ch == "*":
        return None  # e_cmd: a user crontab's command may not start with '*'
    return Entry(
        frozenset(sets[0]), frozenset(sets[1]), frozenset(sets[2]), frozenset(sets[3]), frozenset(dow),
        stars[0], stars[1], stars[2], stars[4],
    )


# --- cron.c ----------------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1)


def parse_valid(line: str) -> Entry:
    """parse_line for a line cron takes: raise ValueError if cron refuses it."""
    entry = parse_line(line)
    if entry is None:
        raise ValueError(f"cron refuses {line!r}")
    return entry


def _local(minute: int) -> datetime:
    """gmtime() of virtualSecond: a local wall-clock minute as broken-down time."""
    return EPOCH + timedelta(minutes=minute)


class Host:
    """cron.c's loop on a host in `zone`, over the UTC minutes [start, end)."""

    def __init__(self, zone: str, start: datetime, end: datetime) -> None:
        self.tz = UTC if zone == "UTC" else ZoneInfo(zone)
        self.start = int(start.timestamp()) // 60
        self.count = int(end.timestamp()) // 60 - self.start
        self.clock = self._clock_times()
        self.special: dict[int, list[tuple[int, bool, bool]]] = {}
        self.normal = bytearray(self.count)
        self._run()
        self._fields()

    def _offset(self, minute: int) -> int:
        delta = datetime.fromtimestamp(minute * 60, self.tz).utcoffset()
        assert delta is not None
        return int(delta.total_seconds()) // 60

    def _clock_times(self) -> array[int]:
        """set_time's clockTime, (time() + GMToff) / 60, for each UTC minute of the span.

        The offset is read every 15 minutes, and every minute where two readings differ.
        `self.breaks` lists the indices whose clock does not follow the previous minute's.
        """
        clock = array("q")
        step = 15
        self.breaks = []
        samples = [self._offset(self.start + i) for i in range(0, self.count + step, step)]
        previous = samples[0]
        for chunk, i in enumerate(range(0, self.count, step)):
            last = min(i + step, self.count) - 1
            first_offset = samples[chunk]
            if samples[chunk + 1] == first_offset:
                clock.extend(range(self.start + i + first_offset, self.start + last + 1 + first_offset))
                if previous != first_offset:
                    self.breaks.append(i)
                previous = first_offset
            else:
                for j in range(i, last + 1):
                    offset = self._offset(self.start + j)
                    clock.append(self.start + j + offset)
                    if offset != previous and j > 0:
                        self.breaks.append(j)
                    previous = offset
        return clock

    def _run(self) -> None:
        """main(): the loop, from a daemon started a day before the span.

        A stretch where the loop is in its normal case (virtual time one minute behind a
        clock that moves a minute a minute) is marked in one step up to the next break.
        """
        warmup = 1440
        virtual = self.start - warmup + self._offset(self.start - warmup)
        for k in range(1, warmup):
            time_running = self.start - warmup + k + self._offset(self.start - warmup + k)
            virtual = self._step(virtual, time_running, None)
        breaks = [*self.breaks, self.count]
        index, next_break = 0, 0
        while index < self.count:
            while breaks[next_break] <= index:
                next_break += 1
            time_running = self.clock[index]
            if time_running - virtual == 1:
                stop = breaks[next_break]
                self.normal[index:stop] = b"\x01" * (stop - index)
                virtual = self.clock[stop - 1]
                index = stop
                continue
            virtual = self._step(virtual, time_running, self.start + index)
            index += 1

    def _step(self, virtual: int, time_running: int, minute: int | None) -> int:
        """One pass of main()'s loop body; return the new virtual time."""
        jobs: list[tuple[int, bool, bool]] = []
        diff = time_running - virtual
        if diff == 1:
            if minute is not None:
                self.normal[minute - self.start] = 1
            return time_running
        kind = -1
        if diff > -(3 * 60):
            kind = 0
        if diff > 0:
            kind = 1
        if diff > 5:
            kind = 2
        if diff > 3 * 60:
            kind = 3
        if kind == 1:
            while True:
                virtual += 1
                jobs.append((virtual, True, True))
                if not virtual < time_running:
                    break
        elif kind == 2:
            jobs.append((time_running, True, False))
            while True:
                virtual += 1
                jobs.append((virtual, False, True))
                if not virtual < time_running:
                    break
        elif kind == 0:
            jobs.append((time_running, True, False))
        else:
            virtual = time_running
            jobs.append((time_running, True, True))
        if minute is not None:
            self.special[minute] = jobs
        return virtual

    def _fields(self) -> None:
        """Byte strings of the local minute, hour, day, month and weekday of each UTC minute."""
        low = min(self.clock) // 1440 * 1440
        high = (max(self.clock) // 1440 + 1) * 1440
        days = [(_local(d)).date() for d in range(low, high, 1440)]
        minute = bytes(range(60)) * (24 * len(days))
        hour = b"".join(bytes([h]) * 60 for h in range(24)) * len(days)
        dom = b"".join(bytes([d.day]) * 1440 for d in days)
        month = b"".join(bytes([d.month]) * 1440 for d in days)
        dow = b"".join(bytes([d.isoweekday() % 7]) * 1440 for d in days)
        parts: list[list[bytes]] = [[], [], [], [], []]
        for i, j in zip([0, *self.breaks], [*self.breaks, self.count], strict=True):
            # A stretch of UTC minutes whose local minutes follow one another.
            first = self.clock[i] - low
            for part, source in zip(parts, (minute, hour, dom, month, dow), strict=True):
                part.append(source[first:first + (j - i)])
        self.arrays = [b"".join(part) for part in parts]

    def runs(self, entry: Entry) -> Counter[int]:
        """Return how many times find_jobs adds the entry's job at each UTC minute."""
        ints = []
        for index, values in enumerate((entry.minute, entry.hour, entry.dom, entry.month, entry.dow)):
            table = bytes(1 if v in values else 0 for v in range(256))
            ints.append(int.from_bytes(self.arrays[index].translate(table), "little"))
        m, h, dm, mo, dw = ints
        days = (dm & dw) if (entry.dom_star or entry.dow_star) else (dm | dw)
        hits = m & h & mo & days & int.from_bytes(bytes(self.normal), "little")
        found: Counter[int] = Counter()
        raw = hits.to_bytes(self.count, "little")
        for match in re.finditer(b"\x01", raw):
            found[self.start + match.start()] += 1
        for minute, jobs in self.special.items():
            for local, do_wild, do_non_wild in jobs:
                if entry.matches(_local(local)) and ((do_non_wild and not entry.wild) or (do_wild and entry.wild)):
                    found[minute] += 1
        return found


@cache
def model_host(zone: str, window: tuple[datetime, datetime]) -> Host:
    """Return the model host for `zone` over `window`, built once per test process."""
    return Host(zone, *window)


def first_year_minute(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=UTC)


# --- cron.c with the clock in seconds: when each job starts ------------------------------------


def timed_starts(zone: str, entries: list[tuple[Entry, str]], start: datetime, end: datetime) -> list[tuple[int, str]]:
    """Return (UTC second, tag) of every job start by cron.c's loop on a host in `zone`.

    The loop in seconds: cron_sleep(timeRunning + 1) wakes at second 1 of the next local
    minute (by the offset read before sleeping); after each caught-up minute whose queue ran
    jobs, `if (job_runqueue()) sleep(10)`, and a DST catch-up (case 2) stops when the clock's
    minute changes, leaving the rest to the next pass. Jobs take no time; a job already queued
    is not queued twice (job_add). `start` must be a calm instant (no change within 3 hours).
    """
    tz = UTC if zone == "UTC" else ZoneInfo(zone)

    def offset(second: int) -> int:
        delta = datetime.fromtimestamp(second, tz).utcoffset()
        assert delta is not None
        return int(delta.total_seconds()) // 60

    def clock(second: int) -> int:
        return (second + offset(second) * 60) // 60

    now = int(start.timestamp()) // 60 * 60 + 1
    stop = int(end.timestamp())
    time_running = clock(now) - 1
    virtual = time_running
    starts: list[tuple[int, str]] = []
    queue: list[str] = []

    def find(minute: int, do_wild: bool, do_non_wild: bool) -> None:
        local = _local(minute)
        for entry, tag in entries:
            if ((do_non_wild and not entry.wild) or (do_wild and entry.wild)) and entry.matches(local):
                if tag not in queue:
                    queue.append(tag)

    def run_queue() -> bool:
        ran = bool(queue)
        starts.extend((now, tag) for tag in queue)
        queue.clear()
        return ran

    while now < stop:
        wait = (time_running + 1) * 60 - (now + offset(now) * 60) + 1
        if 0 < wait < 65:
            now += wait
        while clock(now) == time_running:
            now += 1
        time_running = clock(now)
        diff = time_running - virtual
        if diff == 1:
            virtual = time_running
            find(virtual, True, True)
        elif 0 < diff <= 5:
            while True:
                if run_queue():
                    now += 10
                virtual += 1
                find(virtual, True, True)
                if not virtual < time_running:
                    break
        elif 5 < diff <= 180:
            find(time_running, True, False)
            while True:
                if run_queue():
                    now += 10
                virtual += 1
                find(virtual, False, True)
                if not (virtual < time_running and clock(now) == time_running):
                    break
        elif -180 < diff <= 0:
            find(time_running, True, False)
        else:
            virtual = time_running
            find(time_running, True, True)
        run_queue()
    return starts
