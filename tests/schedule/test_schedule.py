"""Schedules: Debian-cron validation, slots in a zone, plain-language text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronkit.errors import ScheduleError
from cronkit.schedule import (
    NICKNAMES,
    describe,
    expand,
    fires_at,
    next_run,
    slots_between,
    uneven_step_warning,
    validate_schedule,
)
from tests.debcron_model import model_host, parse_valid

UTC = UTC
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- validation ---------------------------------------------------------------------------

ACCEPTED = [
    ("0 3 * * *", "0 3 * * *"),
    ("  0   3 *  * *  ", "0 3 * * *"),
    ("*/15 * * * *", "*/15 * * * *"),
    ("0-30/10 8-18 * * 1-5", "0-30/10 8-18 * * 1-5"),
    ("5,10,15 0 1,15 * *", "5,10,15 0 1,15 * *"),
    ("0 0 * jan *", "0 0 * jan *"),
    ("0 0 * DEC sun", "0 0 * DEC sun"),
    ("0 0 * * 7", "0 0 * * 7"),
    ("0 0 * * 5-7", "0 0 * * 5-7"),
    ("0 0 29 2 *", "0 0 29 2 *"),
    ("0 0 31 2 1", "0 0 31 2 1"),
    ("0 0 30 1-3 *", "0 0 30 1-3 *"),
    ("59 23 31 12 *", "59 23 31 12 *"),
    ("0 0 */2 * *", "0 0 */2 * *"),
    # Names anywhere a number may stand, any case, as Debian's get_number reads them.
    ("* * * * MON-FRI", "* * * * MON-FRI"),
    ("0 9 * * mon,wed", "0 9 * * mon,wed"),
    ("0 0 1 jan-mar *", "0 0 1 jan-mar *"),
    ("0 0 1 Jan,Jul *", "0 0 1 Jan,Jul *"),
    ("0 0 * * sun-sat/2", "0 0 * * sun-sat/2"),
    ("0 0 * * 1-sat", "0 0 * * 1-sat"),
    # A step wider than its range sets the range's first value (get_range's loop).
    ("*/60 * * * *", "*/60 * * * *"),
    ("0 */24 * * *", "0 */24 * * *"),
    ("0 4-4/1 * * *", "0 4-4/1 * * *"),
    ("0-30/100 * * * *", "0-30/100 * * * *"),
    *[(name, name) for name in NICKNAMES],
]


@pytest.mark.parametrize(("expr", "normalised"), ACCEPTED)
def test_accepted_forms_are_normalised(expr: str, normalised: str) -> None:
    assert validate_schedule(expr) == normalised


REJECTED = [
    ("60 * * * *", "task x: minute: 60 is out of range 0-59"),
    ("0 24 * * *", "task x: hour: 24 is out of range 0-23"),
    ("0 0 32 * *", "task x: day-of-month: 32 is out of range 1-31"),
    ("0 0 0 * *", "task x: day-of-month: 0 is out of range 1-31"),
    ("0 0 * 13 *", "task x: month: 13 is out of range 1-12"),
    ("0 0 * * 8", "task x: day-of-week: 8 is out of range 0-7"),
    ("L * * * *", "task x: minute: 'L' is not accepted by Debian cron"),
    ("0 0 L * *", "task x: day-of-month: 'L' is not accepted by Debian cron"),
    ("0 0 15W * *", "task x: day-of-month: 'W' is not accepted by Debian cron"),
    ("0 0 LW * *", "task x: day-of-month: 'L' is not accepted by Debian cron"),
    ("0 0 * * 5L", "task x: day-of-week: 'L' is not accepted by Debian cron"),
    ("0 0 * * 1#2", "task x: day-of-week: '#' is not accepted by Debian cron"),
    ("0 0 ? * 1", "task x: day-of-month: '?' is not accepted by Debian cron"),
    ("0 0 0 * * *", "task x: 6 fields: cron has no seconds field"),
    ("0 0 * *", "task x: 4 fields: expected 5 (minute hour day-of-month month day-of-week)"),
    ("*/0 * * * *", "task x: minute: step 0 in '*/0' must be at least 1"),
    ("0 5-2 * * *", "task x: hour: range '5-2' is reversed"),
    ("5/10 * * * *", "task x: minute: '5/10': a step needs a range or '*' before it, as in '*/10'"),
    ("0 0 * * fri-mon", "task x: day-of-week: range 'fri-mon' is reversed"),
    ("0 0 * * mon-sun", "task x: day-of-week: range 'mon-sun' is reversed (Sunday is 7 at the end of a range)"),
    ("0 0 * * mon/2", "task x: day-of-week: 'mon/2': a step needs a range or '*' before it"),
    ("0 0 * * */mon", "task x: day-of-week: step 'mon' in '*/mon' is not a number"),
    ("0 0 * jan-13 *", "task x: month: 13 is out of range 1-12"),
    ("0 0 jan * *", "task x: day-of-month: 'jan' is not a number"),
    ("*/99999999999 * * * *", "task x: minute: step 99999999999 in '*/99999999999' is too large"),
    ("0 0 * foo *", "task x: month: 'foo' is not a number"),
    ("0 0 * * monday", "task x: day-of-week: 'monday' is not a number"),
    ("1,,2 * * * *", "task x: minute: '1,,2' has an empty list element"),
    ("0 0 31 2 *", "task x: day-of-month: '31' never occurs in February"),
    ("0 0 30 2 *", "task x: day-of-month: '30' never occurs in February"),
    ("0 0 31 4,6 *", "task x: day-of-month: '31' never occurs in April, June"),
    ("0 0 31 2 */2", "task x: day-of-month: '31' never occurs in February"),
    ("@reboot", "task x: '@reboot' is not supported"),
    ("@every 5m", "task x: '@every 5m' is not supported"),
    ("@Daily", "task x: '@Daily' is not supported"),
    ("", "task x: the schedule is empty"),
]


@pytest.mark.parametrize(("expr", "message"), REJECTED)
def test_rejections_name_the_field(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_schedule(expr, where="task x")
    assert str(caught.value).startswith(message)


def test_expand_and_describe() -> None:
    assert expand("@daily") == "0 0 * * *"
    assert expand("@weekly") == "0 0 * * 0"
    assert expand(" 0  3 * * *") == "0 3 * * *"
    assert describe("0 3 * * *") == "At 03:00"
    assert describe("@hourly") == describe("0 * * * *")
    assert describe("15 0 * * 1-5") == "At 00:15, Monday through Friday"
    assert describe("*/15 * * * *") == "Every 15 minutes"


@pytest.mark.parametrize(("expr", "text", "uneven"), [
    # Uneven steps: what the daemon does, not "every N".
    ("*/45 * * * *", "At 0 and 45 minutes past the hour", True),
    ("0 */5 * * *", "At 00:00, 05:00, 10:00, 15:00 and 20:00", True),
    ("*/61 * * * *", "Every hour", True),  # hourly at :00
    ("*/7 * * * *", "At 0, 7, 14, 21, 28, 35, 42, 49, and 56 minutes past the hour", True),
    ("10-50/15 * * * *", "At 10, 25, and 40 minutes past the hour", True),
    ("0 9-17/5 * * *", "At 09:00 and 14:00", True),
    ("0 0 * */5 *", "At 00:00, only in January, June, and November", True),
    ("0 0 * * */2", "At 00:00, only on Sunday, Tuesday, Thursday, and Saturday", True),
    # Steps that divide their range keep the short text.
    ("*/15 * * * *", "Every 15 minutes", False),
    ("*/30 * * * *", "Every 30 minutes", False),
    ("0 */6 * * *", "Every 6 hours", False),
    ("0-30/10 * * * *", "Every 10 minutes, minutes 0 through 30 past the hour", False),
    ("0 0 * */3 *", "At 00:00, every 3 months", False),
])
def test_describe_tells_what_uneven_steps_do(expr: str, text: str, uneven: bool) -> None:
    assert describe(expr) == text
    assert (uneven_step_warning(expr) is not None) == uneven


def test_the_uneven_step_warning_names_the_field() -> None:
    assert uneven_step_warning("*/45 * * * *") == (
        "schedule '*/45 * * * *' steps unevenly (minute '*/45'); cron fires it: At 0 and 45 minutes past the hour")
    assert uneven_step_warning("0 */5 * * *") == (
        "schedule '0 */5 * * *' steps unevenly (hour '*/5'); cron fires it: At 00:00, 05:00, 10:00, 15:00 and 20:00")
    assert uneven_step_warning("@hourly") is None


# --- slots in a zone -----------------------------------------------------------------------


def test_paris_spring_forward_gap_fires_at_gap_end_and_fall_back_once() -> None:
    # 2026-03-29: Paris jumps 02:00 -> 03:00 at 01:00 UTC; 2026-10-25: 03:00 -> 02:00 at 01:00 UTC.
    spring = list(slots_between("30 2 * * *", "Europe/Paris", at("2026-03-28T00:00Z"), at("2026-03-30T23:00Z")))
    assert spring == [at("2026-03-28T01:30Z"), at("2026-03-29T01:00Z"), at("2026-03-30T00:30Z")]
    autumn = list(slots_between("30 2 * * *", "Europe/Paris", at("2026-10-24T12:00Z"), at("2026-10-26T12:00Z")))
    assert autumn == [at("2026-10-25T00:30Z"), at("2026-10-26T01:30Z")]
    # A wildcard-hour schedule follows the clock: both passes of the repeated hour, none in the gap.
    hourly = list(slots_between("30 * * * *", "Europe/Paris", at("2026-10-24T23:00Z"), at("2026-10-25T02:00Z")))
    assert hourly == [at("2026-10-24T23:30Z"), at("2026-10-25T00:30Z"), at("2026-10-25T01:30Z")]
    gap = list(slots_between("30 * * * *", "Europe/Paris", at("2026-03-28T23:00Z"), at("2026-03-29T02:00Z")))
    local = [slot.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M") for slot in gap]
    assert local == ["00:30", "01:30", "03:30"]


def test_slots_between_starts_inside_repeated_hour_without_looking_back() -> None:
    # 02:45 CET (second pass) is after the 02:30 CEST slot: the next one is the next day's.
    start = at("2026-10-25T01:45Z")
    assert next(slots_between("30 2 * * *", "Europe/Paris", start, YEAR_END)) == at("2026-10-26T01:30Z")
    assert next_run("30 2 * * *", "Europe/Paris", start) == at("2026-10-26T01:30Z")


def test_next_run_is_strictly_after() -> None:
    assert next_run("0 3 * * *", "UTC", at("2026-05-01T03:00Z")) == at("2026-05-02T03:00Z")
    assert next_run("0 3 * * *", "UTC", at("2026-05-01T02:59:59.5Z")) == at("2026-05-01T03:00Z")
    assert next_run("@yearly", "Asia/Tokyo", at("2026-06-01T00:00Z")) == at("2026-12-31T15:00Z")
    assert next_run("0 0 29 2 *", "UTC", at("2026-01-01T00:00Z")) == at("2028-02-29T00:00Z")


def test_fires_at_a_leap_day_only() -> None:
    assert fires_at("0 0 29 2 *", "UTC", at("2028-02-29T00:00Z"))
    assert not fires_at("0 0 29 2 *", "UTC", at("2026-03-01T00:00Z"))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        fires_at("* * * * *", "UTC", datetime(2026, 1, 1))
    with pytest.raises(ScheduleError):
        next_run("* * * * *", "Mars/Olympus", YEAR_START)


def test_a_month_of_minutes_is_lazy_and_fast_enough() -> None:
    slots = slots_between("* * * * *", "Europe/London", at("2026-03-15T00:00Z"), at("2026-04-14T00:00Z"))
    first = next(slots)
    assert first == at("2026-03-15T00:01Z")
    assert sum(1 for _ in slots) + 1 == 43_200


# --- properties ----------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Pacific/Chatham",
]
# Instants near DST changes of the zones above, so the windows often straddle one.
STARTS = [
    at("2026-03-08T05:00Z"),
    at("2026-03-29T00:00Z"),
    at("2026-04-04T14:00Z"),
    at("2026-10-03T15:00Z"),
    at("2026-10-25T00:00Z"),
    at("2026-11-01T04:00Z"),
    at("2026-06-15T12:00Z"),
]


def field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    ranged = st.tuples(number, number).map(lambda p: f"{min(p)}-{max(p)}")
    stepped = st.tuples(st.sampled_from(["*", "range"]), number, number, st.integers(1, high - low + 1)).map(
        lambda p: f"*/{p[3]}" if p[0] == "*" else f"{min(p[1], p[2])}-{max(p[1], p[2])}/{p[3]}"
    )
    element = st.one_of(number.map(str), ranged, stepped)
    listed = st.lists(element, min_size=1, max_size=3).map(",".join)
    options = [st.just("*"), listed]
    if names:
        options.append(st.sampled_from(names))
    return st.one_of(*options)


expressions = st.tuples(
    field(0, 59),
    field(0, 23),
    field(1, 28),
    field(1, 12, ("jan", "Jun", "DEC")),
    field(0, 7, ("sun", "Wed", "SAT")),
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(expr=expressions)
def test_generated_expressions_validate(expr: str) -> None:
    assert validate_schedule(expr) == expr
    CronSim(expr, YEAR_START)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expr=expressions,
    zone=st.sampled_from(ZONES),
    start=st.sampled_from(STARTS),
    shift=st.integers(0, 180),
    hours=st.integers(1, 30),
)
def test_slots_between_agrees_with_cronsim(expr: str, zone: str, start: datetime, shift: int, hours: int) -> None:
    start = start + timedelta(minutes=shift)
    end = start + timedelta(hours=hours)
    tz = UTC if zone == "UTC" else ZoneInfo(zone)
    # Debian's cron (the model) is the reference everywhere.
    window = model_host(zone, (start.replace(second=0, microsecond=0), end + timedelta(minutes=1)))
    reference = sorted(
        datetime.fromtimestamp(m * 60, UTC) for m in window.runs(parse_valid(expr))
        if start < datetime.fromtimestamp(m * 60, UTC) <= end
    )
    slots = list(slots_between(expr, zone, start, end))
    assert slots == reference
    # cronsim agrees wherever it is right: no `a-a/s` (cronsim reads `4-4/1` as 4-23) and no
    # change of offset within a day of the window (its DST handling differs in zones whose
    # changes are not whole hours on the hour, e.g. Lord Howe, even hours after the change).
    quiet = len({(t + timedelta(minutes=k)).astimezone(tz).utcoffset() for t in (start - timedelta(hours=24),)
                 for k in range(0, int((end - start).total_seconds() // 60) + 2 * 24 * 60, 15)}) == 1
    same_bounds = not any(
        "-" in item and item.split("/")[0].split("-")[0] == item.split("/")[0].split("-")[1]
        for part in expr.split() for item in part.split(",")
    )
    if quiet and same_bounds:
        direct: list[datetime] = []
        for local in CronSim(expr, start.astimezone(tz)):
            instant = local.astimezone(UTC)
            if instant > end:
                break
            if instant > start and (not direct or instant > direct[-1]):
                direct.append(instant)
        assert slots == direct
    assert all(s.second == 0 and s.microsecond == 0 and s.tzinfo is UTC for s in slots)
    # The one-step check a cron-triggered run makes agrees with the iteration.
    for slot in slots[:50]:
        assert fires_at(expr, zone, slot + timedelta(seconds=30))
    due = set(slots)
    minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(min(120, hours * 60)):
        assert fires_at(expr, zone, minute) == (minute in due)
        minute += timedelta(minutes=7)
        if minute > end:
            break
