"""Replay (issue 19): rendered host lines, run by a model of Debian's cron with its 10 s catch-up
sleeps, through every DST change of a year, with cronkit's real slot check and a real SQLite run
log; then `health`'s missed-slot logic at instants after each change. Counts must all be 0.

Tasks in five zones (UTC, New York, Lord Howe's 30-minute change, Chatham's 45-minute offset and
change, Berlin) on hosts in the same five zones: each host's crontab holds every task's host lines
(schedule.host_lines), so the fixed-time jobs in a spring-forward gap pile up and the later ones
start late. Each start goes through `runner.slots.choose_slot` (what `cronkit run` calls) and the
run log's slot claim; the slots expected are the independent model's (tests/debcron_model.py).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronkit import runlog
from cronkit.health.missed import candidate_slots, count_missed
from cronkit.runlog.enginelink import execute_on
from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.times import to_ms
from cronkit.runner.slots import choose_slot
from cronkit.schedule.hostlines import _transitions, host_lines
from tests.debcron_model import Host, parse_line, timed_starts

ZONES = ("UTC", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "Europe/Berlin")
YEAR = 2026
GRACE = 300.0
HALF = timedelta(hours=5)  # each window: five hours either side of a change
SETTLE = timedelta(hours=2)  # slots this far inside a window are counted (its edges are not)
# Fixed times in and around the gaps (02:00-03:00; Lord Howe 02:00-02:30; Chatham 02:45-03:45),
# wildcard ones that live through both passes of a fall-back, Debian's a-a/s, and a few random.
FIXED = ("0 2 * * *", "10 2 * * *", "20 2 * * *", "30 2 * * *", "40 2 * * *", "50 2 * * *", "15 3 * * *",
         "45 */3 * * *", "*/5 3 * * *", "0 4-4/1 * * *", "*/20 1-3 * * *")


def schedules(rng: random.Random) -> list[str]:
    extra = [f"{rng.randrange(60)} {rng.randrange(24)} * * *", f"{rng.randrange(60)} */{rng.choice((2, 3, 4))} * * *"]
    return [*FIXED, *extra]


CHANGES = sorted(t for zone in ZONES for t, _ in _transitions(zone)[1:] if t.year == YEAR)


def windows() -> list[tuple[datetime, datetime]]:
    """Merged [change - HALF, change + HALF] over every change of the five zones in YEAR."""
    merged: list[tuple[datetime, datetime]] = []
    for change in CHANGES:
        low, high = change - HALF, change + HALF
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return merged


@pytest.mark.slow
def test_replay_every_slot_once_and_health_raises_no_false_alarm(tmp_path: Path) -> None:
    rng = random.Random(19)
    tasks = [(f"t{index}", expr, zone) for zone in ZONES for index_base, expr in enumerate(schedules(rng))
             for index in [f"{ZONES.index(zone)}_{index_base}"]]
    spans = windows()
    totals: Counter[str] = Counter()
    # The independent model's slots (UTC minutes) of each task around each window.
    model: dict[tuple[str, datetime], set[datetime]] = {}
    for low, high in spans:
        hosts = {zone: Host(zone, low - timedelta(hours=1), high + timedelta(hours=1)) for zone in ZONES}
        for name, expr, zone in tasks:
            entry = parse_line(expr)
            assert entry is not None
            model[(name, low)] = {datetime.fromtimestamp(m * 60, UTC) for m in hosts[zone].runs(entry)}
    for host_zone in ZONES:
        parsed = [(parse_line(line), name) for name, expr, zone in tasks for line in host_lines(expr, zone, host_zone)]
        entries = [(entry, name) for entry, name in parsed if entry is not None]
        assert len(entries) == len(parsed)
        store = runlog.open(f"sqlite:///{tmp_path / host_zone.replace('/', '_')}.db", create=True)
        engine = create_engine_for(f"sqlite:///{tmp_path / host_zone.replace('/', '_')}.db")
        by_name = {name: (expr, zone) for name, expr, zone in tasks}
        for low, high in spans:
            # The daemon ran before the window: the slots of the hour before it were served.
            for name, (expr, zone) in by_name.items():
                for slot in sorted(s for s in model[(name, low)] if s < low):
                    before = to_ms(slot)
                    run_id = store.start_run(task=name, trigger="cron", scheduled_for=before, started_at=before, user=None)
                    store.claim_slot(name, before, run_id)
            starts = sorted(timed_starts(host_zone, entries, low, high))
            # health at instants after each change (the first as soon as the grace has passed) and between.
            checks = sorted({low + SETTLE + timedelta(minutes=m) for m in range(0, int((high - low - SETTLE) / timedelta(minutes=1)), 240)}
                            | {change + timedelta(minutes=m) for change in CHANGES if low < change < high for m in (6, 31, 61)})
            ran: Counter[tuple[str, datetime]] = Counter()
            check_index = 0
            for second, name in [*starts, (int(high.timestamp()) + 10**6, "")]:
                started = datetime.fromtimestamp(second, UTC)
                while check_index < len(checks) and checks[check_index] <= started:
                    now = checks[check_index]
                    check_index += 1
                    with engine.connect() as conn:
                        for task, (expr, zone) in by_name.items():
                            window = candidate_slots(expr, zone, installed_at=low + SETTLE, now=now, grace=GRACE,
                                                     lookback=now - low, task=task)
                            totals["health checks"] += 1
                            totals["health false alarms"] += count_missed(execute_on(conn), window).count
                if not name:
                    break
                expr, zone = by_name[name]

                def held(slot: datetime, task: str = name) -> bool:
                    return store.slot_holder(task, to_ms(slot)) is not None

                choice = choose_slot(expr, zone, started, GRACE, held)
                totals["starts"] += 1
                if choice is None:
                    totals["quiet"] += 1
                    continue
                run_id = store.start_run(task=name, trigger="cron", scheduled_for=to_ms(choice.slot),
                                         started_at=to_ms(started), user=None)
                if store.claim_slot(name, to_ms(choice.slot), run_id) is not None:
                    totals["skipped: slot served"] += 1
                elif choice.too_late:
                    totals["skipped: past the grace"] += 1
                else:
                    ran[(name, choice.slot)] += 1
                    totals["late starts served" if not choice.in_minute else "on time"] += 1
            # The independent model's slots of each task in this window.
            inner_low, inner_high = low + SETTLE, high - SETTLE
            for name, (expr, zone) in by_name.items():
                expected = model[(name, low)]
                for slot in expected:
                    if inner_low <= slot < inner_high:
                        totals["slots"] += 1
                        totals["missing"] += ran[(name, slot)] == 0
                totals["duplicates"] += sum(count > 1 for (task, _), count in ran.items() if task == name)
                totals["wrong slots"] += sum(1 for (task, slot) in ran if task == name and slot not in expected)
        store.close()
        engine.dispose()
    print(dict(totals), f"{len(tasks)} tasks x {len(ZONES)} host zones x {len(spans)} windows ({len(CHANGES)} changes)")
    assert totals["slots"] > 1000 and totals["late starts served"] > 0
    assert (totals["missing"], totals["duplicates"], totals["wrong slots"], totals["skipped: past the grace"]) == (0, 0, 0, 0)
    assert totals["health checks"] > 1000 and totals["health false alarms"] == 0
