"""A trigger's request: its body read within a bound, validated, and checked against the task.

Shared by the API's trigger routes and the dashboard's Run now form: a body too large is 413,
one that is not a JSON object of the known keys is 422, and params or a date the task does not
take (its declared `params=` and `dates=`, cronkit/registry/params.py) are 422 before any run is recorded.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from starlette.requests import Request

from cronkit.config.settings import Settings
from cronkit.errors import UsageError
from cronkit.registry import Task
from cronkit.registry.params import check_request
from cronkit.safe.inputs import text_problem
from cronkit.web.problems import Problem
from cronkit.web.trigger import TriggerRequest

MAX_BODY = 16 * 1024  # bytes; a trigger's body is a few hundred
MAX_PARAMS = 64
MAX_VALUE = 1024  # characters of one parameter's value
PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # an Idempotency-Key: visible ASCII


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """Read the request body, refusing with 413 past `limit` bytes (declared or sent), and with 408
    when it has not all arrived serve_header_timeout seconds after the head (guard.py bounds the head:
    a body sent a byte at a time would hold the request as long as its sender liked)."""
    too_large = Problem(413, "body-too-large", f"request bodies are limited to {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    timeout = request.app.state.service.settings.serve_header_timeout
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise Problem(408, "body-timeout", f"the request body did not arrive within {timeout:g} s") from None
    return b"".join(chunks)


def load_json(body: bytes) -> object:
    """Parse a request body as JSON ({} when empty); Problem 400 when it is not JSON.

    Nesting deeper than the interpreter's recursion limit ("[" * 16000 fits in a body) raises
    RecursionError, not ValueError: that is not JSON this service takes either.
    """
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Problem(400, "invalid-json", "the body is not JSON") from None


def parse_trigger(body: bytes, task: str | None, key: str | None) -> TriggerRequest:
    """Validate a trigger body ({"params", "date", "dry_run"}, plus "taskName" on the seed's route)."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise Problem(422, "invalid-body", "the body must be a JSON object")
    allowed = {"params", "date", "dry_run"} | ({"taskName"} if task is None else set())
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Problem(422, "invalid-body", f"unknown key(s): {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    if task is None:
        task = data.get("taskName")
        if not isinstance(task, str) or not task:
            raise Problem(422, "invalid-body", "taskName: give the name of a task")
        check_text("taskName", task, "invalid-body")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise Problem(422, "invalid-params", "params: must be an object of names to values")
    if len(params) > MAX_PARAMS:
        raise Problem(422, "invalid-params", f"params: at most {MAX_PARAMS} parameters")
    clean: dict[str, str] = {}
    for name, value in params.items():
        if not PARAM_NAME.fullmatch(name):
            check_text("params", name)
            raise Problem(422, "invalid-params", f"params: {name!r} is not a parameter name")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, (str, int, float)) or len(str(value)) > MAX_VALUE:
            raise Problem(422, "invalid-params",
                          f"params.{name}: must be a string, number or boolean (at most {MAX_VALUE} characters)")
        if isinstance(value, float) and not math.isfinite(value):
            raise Problem(422, "invalid-params", f"params.{name}: {value} is not a number")
        clean[name] = check_text(f"params.{name}", str(value))
    day = data.get("date")
    if day is not None:
        try:
            if not isinstance(day, str):
                raise ValueError
            date.fromisoformat(day)
        except ValueError:
            raise Problem(422, "invalid-params", f"date: {day!r} is not a date (YYYY-MM-DD)") from None
    dry_run = data.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise Problem(422, "invalid-params", "dry_run: must be true or false")
    return TriggerRequest(task=task, params=clean, date=day, dry_run=dry_run, idempotency_key=key)


def check_text(name: str, value: str, kind: str = "invalid-params") -> str:
    """Problem 422 for a NUL or a lone surrogate: no argument list, environment or UTF-8 column takes one."""
    problem = text_problem(value)
    if problem is not None:
        raise Problem(422, kind, f"{name}: {problem}")
    return value


def check_declared(settings: Settings, task: Task, req: TriggerRequest) -> None:
    """Problem 422 for params or a date `task` does not take (its declaration), as `cronkit run` checks them."""
    if not req.params and req.date is None:
        return
    now = (settings.now or datetime.now(UTC)).astimezone(UTC)
    today = now.astimezone(ZoneInfo(task.zone(settings.timezone))).date()
    day = date.fromisoformat(req.date) if req.date is not None else None
    try:
        check_request(task.name, task.params, task.dates, req.params, day, today, now)
    except UsageError as exc:  # worded for the command line: name the body's keys instead
        detail = str(exc).replace("--param ", "params.").replace("--date", "date")
        raise Problem(422, "invalid-params", detail, task=req.task) from None


__all__ = ["KEY", "MAX_BODY", "check_declared", "check_text", "load_json", "parse_trigger", "read_body"]
