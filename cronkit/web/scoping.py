"""What a token limited to some tasks or environments sees (SPEC section 18): the tasks it may
read, and the answers with the others taken out, as if they did not exist."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from cronkit.web.auth import TokenInfo
from cronkit.web.problems import Problem
from cronkit.web.service import service_of


def visible(request: Request) -> tuple[str, ...] | None:
    """Return the tasks the caller's token sees, None when it sees every task (no limits)."""
    info: TokenInfo = request.state.token
    if not info.limited:
        return None
    service = service_of(request)
    return tuple(t.name for t in service.registry if info.sees(t.name, service.settings.environment))


def absent_unless_visible(request: Request, task: str) -> None:
    """Answer 404 for a task outside the caller's limits: to that token, it does not exist."""
    shown = visible(request)
    if shown is not None and task not in shown:
        raise Problem(404, "unknown-task", f"unknown task {task!r}", task=task, suggestions=[]).refused()


def only_tasks(exposition: bytes, shown: tuple[str, ...]) -> bytes:
    """Drop the samples of the tasks a limited token does not see (a `task` label outside `shown`)."""
    allowed = {f'task="{name}"'.encode() for name in shown}
    kept = []
    for line in exposition.splitlines(keepends=True):
        if not line.startswith(b"#") and b'task="' in line:
            start = line.index(b'task="')
            label = line[start:line.index(b'"', start + 6) + 1]
            if label not in allowed:
                continue
        kept.append(line)
    return b"".join(kept)


def _mentions(text: Any, hidden: frozenset[str]) -> bool:
    """Tell whether `text` names one of the `hidden` tasks (as a whole name, not inside another)."""
    if not hidden or not isinstance(text, str):
        return False
    return any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) for name in hidden)


def hidden_tasks(request: Request, info: TokenInfo) -> frozenset[str]:
    """Return the registered tasks outside a limited token's tasks and environments."""
    service = service_of(request)
    environment = service.settings.environment
    return frozenset(t.name for t in service.registry if not info.sees(t.name, environment))


def scrub_health(body: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """Return /health/deep's answer without the reasons and errors that name a hidden task.

    The verdict stays the scheduler's: a limited token learns that something is wrong, not what.
    """
    if not hidden:
        return body
    out = dict(body)
    out["reasons"] = [r for r in body.get("reasons", []) if not _mentions(r, hidden)]
    parts = {}
    for name, part in (body.get("components") or {}).items():
        part = dict(part) if isinstance(part, dict) else part
        if isinstance(part, dict) and _mentions(part.get("error"), hidden):
            part["error"] = "about tasks outside this token's limits"
        if isinstance(part, dict) and isinstance(part.get("tasks"), dict):
            part["tasks"] = {task: value for task, value in part["tasks"].items() if task not in hidden}
        parts[name] = part
    out["components"] = parts
    return out


def scrub_status(doc: dict[str, Any], shown: tuple[str, ...], hidden: frozenset[str]) -> dict[str, Any]:
    """Return `status --json`'s report with only the tasks a limited token sees, wherever they appear."""
    doc["tasks"] = [t for t in doc.get("tasks", []) if t.get("name") in shown]
    block = doc.get("block")
    if isinstance(block, dict):
        block["drift"] = [d for d in block.get("drift", []) if d.get("task") in shown
                          or (d.get("task") is None and not any(_mentions(line, hidden) for line in
                                                                 (*d.get("installed", []), *d.get("expected", []))))]
    for key in ("insights", "preflight"):
        if isinstance(doc.get(key), list):
            doc[key] = [item for item in doc[key] if not isinstance(item, dict) or item.get("task") in shown]
    failure = doc.get("start_failure")
    if isinstance(failure, dict) and failure.get("task") not in shown:
        doc["start_failure"] = None
    return doc


__all__ = ["absent_unless_visible", "hidden_tasks", "only_tasks", "scrub_health", "scrub_status", "visible"]
