"""Deterministic spread: turn Jenkins-style `H` fields into a plain cron expression.

`H`, `H(a-b)`, `H/n` and `H(a-b)/n` may stand for any comma-separated part of any field. Each
resolves to a value (or a stepped range) picked by a hash (sha256) of the task's name, the
optional `spread_seed` setting, and the field's and part's position: the same on every host and
every render, different between tasks. Ranges are Jenkins': minute 0-59, hour 0-23, day of month
1-28 (so that `H` fires every month), month 1-12, day of week 0-6. The values are not those
Jenkins would pick for the same name (it hashes differently).

A hash alone puts 50 hourly tasks on about 34 distinct minutes; so a Spreader, kept by the
registry, remembers the values already picked for each kind of `H` part and moves a task whose
hashed value is taken to the next free one (the least used, once all are). A task's value thus
depends on its name, the seed, and the `H` tasks registered before it: appending a task never
moves another; removing one may move later ones that had collided with it.

This runs before schedule.py sees the expression: what leaves here is plain Debian cron, which
schedule.validate_schedule then checks like any other schedule.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from cronkit.errors import ScheduleError

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
H_RANGES = ((0, 59), (0, 23), (1, 28), (1, 12), (0, 6))
# The widest range a written `H(a-b)` may name per field (day of month up to 31, as cron allows).
FIELD_LIMITS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_H_PART = re.compile(r"H(?:\((\d+)-(\d+)\))?(?:/(\d+))?")


def has_spread(expr: str) -> bool:
    """Return whether a schedule holds an `H` part (month and day names never start with H)."""
    return any(_is_h(part) for field in expr.split() for part in field.split(","))


def _is_h(part: str) -> bool:
    return part.startswith("H") and not part[1:2].isalpha()


def spread_hash(name: str, seed: str, field: int, part: int) -> int:
    """Return the stable number a task's `H` part is picked from."""
    digest = hashlib.sha256(f"{seed}\x00{name}\x00{field}\x00{part}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Spreader:
    """The values already picked per kind of `H` part (field, range, step), to avoid collisions."""

    def __init__(self) -> None:
        self.used: dict[tuple[int, int, int, int], Counter[int]] = {}

    def pick(self, key: tuple[int, int, int, int], size: int, hashed: int) -> int:
        """Return the offset in 0..size-1 to use: the hashed one, else the next least used after it."""
        counts = self.used.setdefault(key, Counter())
        start = hashed % size
        best = min(range(size), key=lambda k: (counts[(start + k) % size], k))
        chosen = (start + best) % size
        counts[chosen] += 1
        return chosen


def resolve(expr: str, name: str, seed: str = "", where: str = "schedule",
            spreader: Spreader | None = None) -> str:
    """Return `expr` with every `H` part replaced by plain cron; unchanged when it has none.

    Raise ScheduleError naming the field for a malformed `H` part (bad range, step 0 or wider
    than its range). What comes back still has to pass schedule.validate_schedule.
    """
    fields = expr.split()
    if not has_spread(expr):
        return expr
    if len(fields) != 5:
        raise ScheduleError(f"{where}: {expr!r}: expected 5 fields, got {len(fields)}")
    out = []
    for index, text in enumerate(fields):
        parts = text.split(",")
        out.append(",".join(_part(p, index, k, name, seed, where, spreader) for k, p in enumerate(parts)))
    return " ".join(out)


def _part(text: str, index: int, number: int, name: str, seed: str, where: str,
          spreader: Spreader | None) -> str:
    match = _H_PART.fullmatch(text)
    if match is None:
        if _is_h(text):
            raise ScheduleError(f"{where}: bad {FIELD_NAMES[index]} {text!r}: use H, H(a-b), H/n or H(a-b)/n")
        return text
    low, high = H_RANGES[index]
    if match.group(1) is not None:
        low, high = int(match.group(1)), int(match.group(2))
        floor, ceiling = FIELD_LIMITS[index]
        if not floor <= low <= high <= ceiling:
            raise ScheduleError(
                f"{where}: bad {FIELD_NAMES[index]} {text!r}: the range must lie within {floor}-{ceiling}, low first"
            )
    hashed = spread_hash(name, seed, index, number)
    step = int(match.group(3) or 0)
    if match.group(3) is not None and not 1 <= step <= high - low + 1:
        raise ScheduleError(
            f"{where}: bad {FIELD_NAMES[index]} {text!r}: the step must be 1 to {high - low + 1}"
        )
    size = step or high - low + 1
    offset = spreader.pick((index, low, high, step), size, hashed) if spreader else hashed % size
    if not step:
        return str(low + offset)
    start = low + offset
    if start + step > high:  # a single value: keep the line plain
        return str(start)
    return f"{start}-{high}/{step}"


__all__ = ["H_RANGES", "Spreader", "has_spread", "resolve", "spread_hash"]
