"""The JSON the service answers with, which no stored value can make fail.

A run log may hold what JSON cannot carry as it is: a lone surrogate (a task's text from bytes
that were not UTF-8, or a `\\ud800` escape a client sent before the edge refused them) and NaN or
Infinity in a task's result. Starlette's JSONResponse raises on both (a 500 on every page that
shows the run). Here a lone surrogate goes out as its JSON escape (`\\ud800`, what
`ensure_ascii` writes) and a non-finite number as null, as `--json` prints them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.responses import JSONResponse


def _finite(value: Any) -> Any:
    """Return `value` with every NaN or infinite float replaced by None, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def json_bytes(data: Any) -> bytes:
    """Encode as Starlette's JSONResponse does, but never fail on a lone surrogate or NaN."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    except ValueError:  # NaN or Infinity somewhere: not JSON
        text = json.dumps(_finite(data), ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    # Outside strings JSON text is ASCII: a surrogate is inside one, where `\udXXX` is its escape.
    return text.encode("utf-8", "backslashreplace")


class SafeJSONResponse(JSONResponse):
    """A JSONResponse rendered by json_bytes."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


__all__ = ["SafeJSONResponse", "json_bytes"]
