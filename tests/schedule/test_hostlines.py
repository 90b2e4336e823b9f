"""Host lines: a schedule in a task's zone fires, through Debian's cron in the host's zone and
`cronkit run`'s slot check, exactly at the task's slots."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import cache

import pytest

from cronkit.schedule import expand, fires_at, validate_schedule
from cronkit.schedule.hostlines import host_lines
from tests.debcron_model import model_host, parse_valid

# --- host lines: a whole year (2026; 2028 for 29 February), minute by minute --------------------------------------------

SPARSE = ["0 3 * * *", "30 2 * * *", "0 1 * * 0", "0 2 1 * *", "15 0 * * 1-5", "0 0 29 2 *"]
TASK_ZONES = ["UTC", "Europe/Paris", "America/New_York"]
HOST_ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Adelaide",
    "UTC",
    "Asia/Tokyo",
]
# Every-15-minutes costs seconds per pair, so it runs against a covering subset: a
# half-hour zone with DST, a half-hour zone without, and DST zones whose changes fall on
# other days than the task's (the sparse schedules cover every pair).
DENSE = [
    ("*/15 * * * *", "UTC", "Australia/Adelaide"),
    ("*/15 * * * *", "Europe/Paris", "Asia/Kolkata"),
    ("*/15 * * * *", "America/New_York", "Europe/London"),
    # Chatham falls back at 03:45 (a repeated 02:45-03:44): cronsim's answer there depended
    # on where it started; the model of Debian's cron is the reference.
    ("*/5 2 * * *", "Pacific/Chatham", "Australia/Sydney"),
]
PAIRS = [(e, t, h) for e in SPARSE for t in TASK_ZONES for h in HOST_ZONES] + DENSE


def epoch_minute(instant: datetime) -> int:
    return int(instant.timestamp()) // 60


def year_of(expr: str) -> tuple[datetime, datetime]:
    """Return the year simulated for `expr`: 2026, or the next leap year for 29 February."""
    year = 2028 if expr == "0 0 29 2 *" else 2026
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def cron_minutes(expr: str, zone: str, year: tuple[datetime, datetime]) -> list[int]:
    """Return the epoch minutes of `year` at which Debian's cron (the model) runs `expr` in `zone`.

    A minute appears once per run cron starts then (a fixed-time job in a spring-forward
    gap can run several times at the gap's end), in order.
    """
    runs = model_host(zone, year).runs(parse_valid(expand(expr)))
    return sorted(runs.elements())


@cache
def task_minutes(expr: str, zone: str) -> frozenset[int]:
    return frozenset(cron_minutes(expr, zone, year_of(expr)))


@pytest.mark.slow
@pytest.mark.parametrize(("expr", "task_zone", "host_zone"), PAIRS)
def test_host_lines_fire_exactly_the_task_slots_over_a_year(expr: str, task_zone: str, host_zone: str) -> None:
    year = year_of(expr)
    lines = host_lines(expr, task_zone, host_zone)
    assert lines == host_lines(expr, task_zone, host_zone)
    assert all(len(line) < 200 for line in lines) and 1 <= len(lines) <= 3
    # Each line is something Debian's cron accepts.
    for line in lines:
        validate_schedule(line)

    # What cron does: every firing of every line, in the host zone (duplicates kept).
    invocations = sorted(m for line in lines for m in cron_minutes(line, host_zone, year))
    # What `cronkit run` does at each invocation: check the slot, run once per slot.
    slot_of = {
        minute: datetime.fromtimestamp(minute * 60, UTC)
        if fires_at(expr, task_zone, datetime.fromtimestamp(minute * 60 + 7, UTC)) else None
        for minute in set(invocations)
    }
    table: set[datetime] = set()
    for minute in invocations:
        slot = slot_of[minute]
        if slot is not None and slot not in table:
            table.add(slot)
    accepted = {epoch_minute(slot) for slot in table}

    expected = task_minutes(expr, task_zone)
    assert expected, "the schedule fires in the simulated year"
    # Minute by minute through the year: accepted exactly when the task is due.
    wrong = [
        minute
        for minute in range(epoch_minute(year[0]), epoch_minute(year[1]))
        if (minute in accepted) != (minute in expected)
    ]
    assert not wrong, [datetime.fromtimestamp(m * 60, UTC).isoformat() for m in wrong[:5]]
    # Distinct cron invocation minutes never map to one slot (a fall-back rerun is refused
    # by the slot check itself); only lines firing in the same minute share a slot.
    served = Counter(slot for slot in slot_of.values() if slot is not None)
    assert max(served.values()) == 1


def test_host_lines_are_exact_where_a_conversion_exists() -> None:
    assert host_lines("0 3 * * *", "UTC", "UTC") == ["0 3 * * *"]
    assert host_lines("@daily", "Europe/Paris", "Europe/Paris") == ["@daily"]
    assert host_lines("30 2 * * *", "Europe/Paris", "Europe/Berlin") == ["30 2 * * *"]
    assert host_lines("0 3 * * *", "Asia/Tokyo", "Etc/GMT-9") == ["0 3 * * *"]
    assert host_lines("0 3 * * *", "UTC", "Asia/Tokyo") == ["0 12 * * *"]
    assert host_lines("0 3 * * *", "UTC", "Asia/Kolkata") == ["30 8 * * *"]
    assert host_lines("0 22 * * 1-5", "UTC", "Asia/Tokyo") == ["0 7 * * 2-6"]
    assert host_lines("0 3 * * *", "Europe/Paris", "Europe/London") == ["0 2 * * *"]
    assert host_lines("*/15 * * * *", "UTC", "Australia/Adelaide") == ["*/15 * * * *"]


def test_host_lines_widen_only_what_dst_moves() -> None:
    # Paris is UTC+1 or +2: both hours, plus the slot the spring-forward gap moves to 03:00.
    assert host_lines("30 2 * * *", "Europe/Paris", "UTC") == ["30 0,1 * * *", "0 1 * 3 0"]
    # 01:00 UTC on London's fall-back Sunday is the repeated hour's second pass: only a
    # line with a leading '*' fires there.
    assert host_lines("0 1 * * 0", "UTC", "Europe/London") == ["0 1,2 * * 0", "*/30 1 * 10 0"]
    # The previous evening in New York: the last day of whichever month precedes.
    assert host_lines("0 2 1 * *", "Europe/Paris", "America/New_York") == ["0 20,21 28-31 * *"]
