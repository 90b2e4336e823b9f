"""Differential run: cronkit's slots, and cronsim's (the slot source before issue 19), against
the model of Debian cron 3.0pl1 (tests/debcron_model.py), minute by minute.

    .venv/bin/python bench/time_exact.py [--expressions 300] [--years 2026 2027] [--seed 19]

Prints expressions x zones x years and the disagreements of each side: a case disagrees
when the set of UTC minutes differs from the model's anywhere in the year; cronsim's side
counts a case that would not return (it cycles in Chatham) as a hang, stopped by a bound.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cronsim import CronSim  # noqa: E402

from cronkit.schedule import _slot_minutes, zone_info  # noqa: E402
from cronkit.schedule.debcron import cron_spec  # noqa: E402
from tests.cronexprs import ZONES, valid_expressions  # noqa: E402
from tests.debcron_model import Host, parse_line  # noqa: E402

EXTRA_ZONES = ["Europe/Riga", "Europe/Paris", "Australia/Sydney"]


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def cronsim_minutes(expr: str, zone: str, start: datetime, end: datetime, cap: int) -> set[int] | None:
    """Today's code before issue 19: cronsim from the start, each instant once; None if it hangs
    (more steps than `cap`, or no answer within --budget seconds: cronsim can spin inside one step).
    """
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, BUDGET[0])
    try:
        return _cronsim_minutes(expr, zone, start, end, cap)
    except Hang:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


BUDGET = [30.0]


def _cronsim_minutes(expr: str, zone: str, start: datetime, end: datetime, cap: int) -> set[int] | None:
    tz = UTC if zone == "UTC" else ZoneInfo(zone)
    last = start - timedelta(seconds=1)
    found: set[int] = set()
    steps = 0
    for local in CronSim(expr, last.astimezone(tz)):
        steps += 1
        if steps > cap:
            return None
        instant = local.astimezone(UTC)
        if instant >= end:
            break
        if instant > last:
            last = instant
            found.add(int(instant.timestamp()) // 60)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expressions", type=int, default=300)
    parser.add_argument("--years", type=int, nargs="+", default=[2026, 2027])
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--no-cronsim", action="store_true", help="skip the 'before' side")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds before cronsim counts as hung")
    parser.add_argument("--zones", nargs="+", default=[*ZONES, *EXTRA_ZONES])
    args = parser.parse_args()
    BUDGET[0] = args.budget
    exprs = valid_expressions(seed=args.seed, count=args.expressions)
    zones = args.zones
    cases = before = hangs = after = 0
    started = time.monotonic()
    examples: list[str] = []
    for year in args.years:
        start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        first, stop = int(start.timestamp()) // 60, int(end.timestamp()) // 60
        for zone in zones:
            host = Host(zone, start, end)
            zone_started = time.monotonic()
            zone_before = zone_after = zone_hangs = 0
            for expr in exprs:
                entry = parse_line(expr)
                assert entry is not None, expr
                model = set(host.runs(entry))
                fields = expr.split()
                spec = cron_spec((fields[0], fields[1], fields[2], fields[3], fields[4]))
                mine = set(_slot_minutes(spec, zone_info(zone), first, stop))
                cases += 1
                if mine != model:
                    zone_after += 1
                    examples.append(f"after: {expr!r} {zone} {year}")
                if not args.no_cronsim:
                    theirs = cronsim_minutes(expr, zone, start, end, cap=2 * len(model) + 20_000)
                    if theirs is None:
                        zone_hangs += 1
                        zone_before += 1
                    elif theirs != model:
                        zone_before += 1
            before += zone_before
            after += zone_after
            hangs += zone_hangs
            print(
                f"{year} {zone:22} {len(exprs)} expressions: before {zone_before} (hangs {zone_hangs}),"
                f" after {zone_after}  ({time.monotonic() - zone_started:.0f} s)",
                flush=True,
            )
    print(
        f"{len(exprs)} expressions x {len(zones)} zones x {len(args.years)} years = {cases} cases;"
        f" disagreements with the model: before {before if not args.no_cronsim else '-'}"
        f" ({hangs} hangs), after {after}; {time.monotonic() - started:.0f} s"
    )
    for line in examples[:10]:
        print(line)


if __name__ == "__main__":
    main()
