"""JSON that every parser reads: no bare NaN or Infinity, which json.dumps writes by default."""

from __future__ import annotations

import json
import math

from cronkit.plain import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def finite(value: Any) -> Any:
    """Return `value` with every NaN and infinite float (in dicts, lists and tuples) as a string."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """Return json.dumps of `value` with non-finite floats as strings, so it is valid JSON (RFC 8259)."""
    return json.dumps(finite(value), allow_nan=False, **options)


__all__ = ["dumps", "finite"]
