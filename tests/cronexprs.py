"""Generate cron expressions and name the zones that schedule readers are checked in against the model.

Shared by tests/schedule/test_debcron.py and bench/time_exact.py (which runs more of them).
"""

from __future__ import annotations

import random

from cronkit.errors import ScheduleError
from cronkit.schedule import validate_schedule

ZONES = [
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "America/St_Johns",
    "Australia/Adelaide",
    "America/Santiago",
    "Pacific/Auckland",
    "Europe/London",
    "America/New_York",
    "UTC",
]
MONTHS = ["jan", "Feb", "MAR", "apr", "may", "jun", "Jul", "aug", "sep", "oct", "nov", "DEC"]
DAYS = ["sun", "Mon", "TUE", "wed", "thu", "Fri", "sat"]


def random_field(rng: random.Random, low: int, high: int, names: list[str], dense: bool) -> str:
    """One field: '*', '*/s' (s may exceed the range), or a list of numbers, ranges, `a-a/s`, names."""
    roll = rng.random()
    if dense and roll < 0.25:
        return "*"
    if roll < 0.4:
        return f"*/{rng.choice([rng.randint(1, high - low + 1), rng.randint(high - low, 3 * (high - low) + 2)])}"

    def value(v: int) -> str:
        if names and rng.random() < 0.4:
            return names[v % 7] if len(names) == 7 else names[v - 1]
        return str(v)

    items = []
    for _ in range(rng.randint(1, 3)):
        a = rng.randint(low, high)
        kind = rng.random()
        if kind < 0.35:
            items.append(value(a))
        elif kind < 0.55:
            items.append(f"{value(a)}-{value(a)}/{rng.randint(1, 5)}")  # a-a/s is {a}
        else:
            b = rng.randint(a, high)
            step = f"/{rng.randint(1, high - low + 3)}" if rng.random() < 0.5 else ""
            items.append(f"{value(a)}-{value(b)}{step}")
    return ",".join(items)


def random_expression(rng: random.Random) -> str:
    minute = random_field(rng, 0, 59, [], dense=False)
    hour = random_field(rng, 0, 23, [], dense=True)
    dom = random_field(rng, 1, 31, [], dense=True)
    month = random_field(rng, 1, 12, MONTHS, dense=True)
    dow = random_field(rng, 0, 7, DAYS, dense=True)
    return f"{minute} {hour} {dom} {month} {dow}"


def valid_expressions(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    found: list[str] = []
    while len(found) < count:
        expr = random_expression(rng)
        try:
            validate_schedule(expr)
        except ScheduleError:
            continue
        found.append(expr)
    # Hand-picked: the hangs and misreadings of issue 19, and both day fields restricted.
    return [
        "*/5 3 * * *", "45 */3 * * *", "0 4-4/1 * * *", "*/60 */24 * * *", "30 2 * * 0",
        "* 1 * * *", "15,45 1-3 1,15 * mon-fri", "0 0 13 * FRI", "50 2 * jan-mar,oct-dec 7",
        *found,
    ]
