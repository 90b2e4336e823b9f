"""cronkit's reading of a schedule against a model of Debian cron 3.0pl1 (tests/debcron_model.py).

A seeded, bounded sample: random expressions (steps wider than their range, `a-a/s`,
lists, names in lists and ranges, 7 for Sunday, both day fields restricted) in zones with
30- and 45-minute offsets or DST changes, the southern hemisphere and the usual ones, over
a whole year, minute by minute on the model's side. bench/time_exact.py runs more.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from cronkit.errors import ScheduleError
from cronkit.schedule import _slot_minutes as slot_minutes
from cronkit.schedule import fires_at, next_run, slots_between, validate_schedule, zone_info
from cronkit.schedule.debcron import cron_spec
from tests.conftest import need
from tests.cronexprs import ZONES, random_expression, valid_expressions
from tests.debcron_model import Host, parse_line, parse_valid
from tests.fixturetypes import RunCli

YEAR = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
@cache
def host(zone: str) -> Host:
    return Host(zone, *YEAR)


def year_minutes() -> tuple[int, int]:
    return int(YEAR[0].timestamp()) // 60, int(YEAR[1].timestamp()) // 60


@pytest.mark.parametrize("zone", ZONES)
def test_slots_match_the_model_minute_by_minute_over_a_year(zone: str) -> None:
    start, end = year_minutes()
    disagreements = []
    for expr in valid_expressions(seed=19 + len(zone), count=10):
        entry = parse_line(expr)
        assert entry is not None, expr
        model = host(zone).runs(entry)
        fields = expr.split()
        spec = cron_spec((fields[0], fields[1], fields[2], fields[3], fields[4]))
        mine = list(slot_minutes(spec, zone_info(zone), start, end))
        assert mine == sorted(set(mine)), "ascending, each once"
        if set(mine) != set(model):
            disagreements.append((expr, sorted(set(mine) ^ set(model))[:3]))
    assert disagreements == []


@pytest.mark.parametrize("zone", ["Pacific/Chatham", "Australia/Lord_Howe", "America/Santiago"])
def test_every_answer_is_the_same_whatever_the_starting_point(zone: str) -> None:
    # Around each offset change of the year: next_run from every minute, fires_at at every
    # minute and slots_between from several starts all give the model's slots.
    rng = random.Random(7)
    start, _ = year_minutes()
    model_host = host(zone)
    changes = sorted(m for m in model_host.special if m - 1 not in model_host.special)
    exprs = ["*/5 3 * * *", "45 */3 * * *", "* 1 * * *", "30 2 * * *", "0 3 * * *", "15,45 * * * 0", "0 0 * * *"]
    for expr in exprs:
        entry = parse_line(expr)
        assert entry is not None, expr
        slots = set(model_host.runs(entry))
        for change in changes:
            window = range(change - 200, change + 200)
            expected = sorted(m for m in slots if m in window)
            for minute in window:
                at = datetime.fromtimestamp(minute * 60 + rng.randint(0, 59), UTC)
                assert fires_at(expr, zone, at) == (minute in slots), (expr, at)
            for first in rng.sample(list(window), 8):
                after = datetime.fromtimestamp(first * 60, UTC)
                got = [int(s.timestamp()) // 60 for s in slots_between(expr, zone, after, after + timedelta(minutes=change + 200 - first - 1))]
                assert got == [m for m in expected if m > first], (expr, after)
                following = min(m for m in slots if m > first)
                assert int(next_run(expr, zone, after).timestamp()) // 60 == following
    assert start  # the span starts in 2026


def test_the_hangs_of_issue_19_return() -> None:
    after = datetime(2026, 4, 4, 13, 0, tzinfo=UTC)
    for expr in ("*/5 3 * * *", "45 */3 * * *"):
        slots = list(slots_between(expr, "Pacific/Chatham", after - timedelta(days=7), after + timedelta(days=7)))
        assert slots
    # Lord Howe's 30-minute fall-back: from any start the next 03:xx slot is the same one.
    assert next_run("* 3 * * *", "Australia/Lord_Howe", datetime(2026, 4, 4, 15, 31, tzinfo=UTC)) == datetime(
        2026, 4, 4, 16, 30, tzinfo=UTC
    )


def test_rare_schedules_are_found_and_impossible_ones_end() -> None:
    assert next_run("0 0 29 2 */7", "UTC", datetime(2026, 1, 1, tzinfo=UTC)).date().isoformat() == "2032-02-29"
    assert next_run("0 0 29 2 mon", "Pacific/Chatham", datetime(2026, 1, 1, tzinfo=UTC)) < datetime(2026, 2, 3, tzinfo=UTC)


# --- the syntax -------------------------------------------------------------------------------


def test_what_cronkit_accepts_cron_reads_the_same_way() -> None:
    rng = random.Random(13)
    checked = 0
    for _ in range(3000):
        expr = random_expression(rng)
        model = parse_line(expr)
        try:
            validate_schedule(expr)
        except ScheduleError:
            continue
        assert model is not None, expr
        fields = expr.split()
        spec = cron_spec((fields[0], fields[1], fields[2], fields[3], fields[4]))
        assert (spec.minutes, spec.hours, spec.doms, spec.months) == (model.minute, model.hour, model.dom, model.month)
        assert spec.dows == {d % 7 for d in model.dow}
        assert (spec.dom_star, spec.dow_star, spec.wild) == (model.dom_star, model.dow_star, model.wild)
        checked += 1
    assert checked > 1500


REFUSED_BY_BOTH = ["1/5 * * * *", "*/0 * * * *", "60 * * * *", "* * * jan-foo *", "* * * * mon/2", "* * * * */mon"]
REFUSED_BY_CRONKIT_ONLY = ["0 0 * * fri-mon", "1-5.3 * * * *", "*5 * * * *"]
ACCEPTED_BY_BOTH = ["* * * * MON-FRI", "0 9 * * mon,wed", "0 0 1 jan-mar *", "*/60 * * * *", "0 */24 * * *", "0 4-4/1 * * *"]


def test_the_lists_agree_with_the_model() -> None:
    for expr in REFUSED_BY_BOTH + REFUSED_BY_CRONKIT_ONLY:
        with pytest.raises(ScheduleError):
            validate_schedule(expr)
    assert all(parse_line(expr) is None for expr in REFUSED_BY_BOTH)
    assert all(parse_line(expr) is not None for expr in REFUSED_BY_CRONKIT_ONLY + ACCEPTED_BY_BOTH)
    assert parse_valid("*/60 * * * *").minute == {0}
    assert parse_valid("0 */24 * * *").hour == {0}


@pytest.mark.parametrize(("expr", "accepted"), [(e, False) for e in REFUSED_BY_BOTH] + [(e, True) for e in ACCEPTED_BY_BOTH])
def test_the_lists_agree_with_the_real_crontab(expr: str, accepted: bool, tmp_path: object) -> None:
    # `crontab -n FILE` checks the syntax and installs nothing.
    if shutil.which("crontab") is None:
        need("Debian's crontab", "apt-get install cron")
    path = f"{tmp_path}/crontab"
    with open(path, "w") as handle:
        handle.write(f"{expr} true\n")
    done = subprocess.run(["crontab", "-n", path], capture_output=True, text=True, timeout=30, check=False)
    if "invalid option" in done.stderr:
        need("a crontab with -n (Debian's cron 3.0pl1-128 or later)", "apt-get install cron")
    assert (done.returncode == 0) == accepted, done.stderr


@pytest.mark.parametrize("expr", ["*/60 * * * *", "0 */24 * * *", "*/90 */30 */40 */13 */8", "0 4-4/1 * * *"])
def test_steps_wider_than_their_range_render_as_cron_reads_them(expr: str, run_cli: RunCli, tmp_path: Path) -> None:
    # Issue 12: accepted at registration, then render crashed with a traceback.
    from tests.conftest import write_registry

    path = write_registry(tmp_path / "steps.py", f"registry.add({expr!r}, 'os:getcwd', name='wide', environments=['*'])\n")
    for zone in ("UTC", "Pacific/Chatham"):
        proc = run_cli("render", "--host-zone", zone, env={"CRONKIT_TASKS": str(path)})
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr and " run wide " in proc.stdout
    spec = parse_line(expr)
    assert spec is not None
    first = next_run(expr, "UTC", datetime(2026, 1, 1, tzinfo=UTC))
    assert first.minute in spec.minute and first.hour in spec.hour
