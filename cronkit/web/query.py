"""The API's query parameters, validated at the edge: every bad value is a 422 problem naming it.

Numbers within bounds, one of a set of words, true/false flags, `since` as `--since`, opaque
page cursors, and a `task` filter that is a typo (as the CLI says it).
"""

from __future__ import annotations

import base64
import binascii
import difflib
from collections.abc import Callable

from starlette.requests import Request

from cronkit.clock import now
from cronkit.errors import UsageError
from cronkit.registry import Registry
from cronkit.runlog.times import parse_since, to_ms
from cronkit.safe.inputs import row_id, text_problem
from cronkit.web.problems import Problem

FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise Problem(422, "invalid-query", f"{name}: must be a whole number from {low} to {high}")
    return int(raw)


def text(request: Request, name: str, longest: int = 255) -> str | None:
    """Return a text query parameter (None when absent or empty); 422 for a NUL or past `longest` characters."""
    raw = request.query_params.get(name) or None
    if raw is None:
        return None
    problem = text_problem(raw) or (f"longer than {longest} characters" if len(raw) > longest else None)
    if problem is not None:
        raise Problem(422, "invalid-query", f"{name}: {problem}")
    return raw


def choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.query_params.get(name) or None
    if raw is not None and raw not in allowed:
        raise Problem(422, "invalid-query", f"{name}: {raw!r} is not one of {', '.join(allowed)}")
    return raw


def flag(request: Request, name: str) -> bool:
    """Return a true/false query parameter (false when absent or empty); 422 for anything else."""
    raw = request.query_params.get(name) or ""
    if raw and raw.lower() not in FLAGS:
        raise Problem(422, "invalid-query", f"{name}: {raw!r} is not true or false")
    return FLAGS.get(raw.lower(), False)


def task_filter(registry: Registry, name: str | None, recorded: Callable[[], bool]) -> None:
    """Refuse (422) the filter `task=name` of an empty answer when no such task is registered or
    `recorded`: a typo, as the CLI says (a task no longer registered may still have runs)."""
    if name is None or name in registry or recorded():
        return
    close = difflib.get_close_matches(name, [t.name for t in registry], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise Problem(422, "invalid-query", f"task: unknown task {name!r}{hint}", suggestions=close)


def since(request: Request) -> int | None:
    raw = request.query_params.get("since") or None
    if raw is None:
        return None
    try:
        return to_ms(parse_since(raw, now()))
    except UsageError as exc:
        raise Problem(422, "invalid-query", str(exc).replace("--since", "since")) from None


def encode_cursor(before_id: int | None) -> str | None:
    if before_id is None:
        return None
    return base64.urlsafe_b64encode(f"v1:{before_id}".encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        kind, _, value = text.partition(":")
        before = row_id(value)
        if kind != "v1" or before is None:
            raise ValueError
        return before
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(422, "invalid-query", "cursor: not a cursor this service gave out") from None


__all__ = ["FLAGS", "choice", "text", "decode_cursor", "encode_cursor", "flag", "int_param", "since", "task_filter"]
