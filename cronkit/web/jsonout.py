"""The JSON the service answers with, which no stored value can make fail.

A run log may hold what JSON cannot carry as it is: a lone surrogate (a task's text from bytes
that were not UTF-8, or a `\\ud800` escape a client sent before the edge refused them) and NaN or
Infinity in a task's result. Starlette's JSONResponse raises on both (a 500 on every page that
shows the run). Here a lone surrogate goes out as its JSON escape (`\\ud800`, what
`ensure_ascii` writes) and a non-finite number as the string `--json` prints (safe.jsontext.finite).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

from cronkit.safe.jsontext import finite


def json_bytes(data: Any) -> bytes:
    """Encode as Starlette's JSONResponse does, but never fail on a lone surrogate or NaN."""
    text = json.dumps(finite(data), ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    # Outside strings JSON text is ASCII: a surrogate is inside one, where its escape (`\udc80`) stands.
    return text.encode("utf-8", "backslashreplace")


class SafeJSONResponse(JSONResponse):
    """A JSONResponse rendered by json_bytes."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


__all__ = ["SafeJSONResponse", "json_bytes"]
