"""What a token limited to some tasks or environments sees (SPEC section 18): the tasks it may
read, and the answers with the others taken out, as if they did not exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from .auth import TokenInfo
from .problems import Problem

if TYPE_CHECKING:
    from .app import Service


def visible(request: Request) -> tuple[str, ...] | None:
    """Return the tasks the caller's token sees, None when it sees every task (no limits)."""
    info: TokenInfo = request.state.token
    if not info.limited:
        return None
    service: Service = request.app.state.service
    return tuple(t.name for t in service.registry if info.sees(t.name, service.settings.environment))


def absent_unless_visible(request: Request, task: str) -> None:
    """Answer 404 for a task outside the caller's limits: to that token, it does not exist."""
    shown = visible(request)
    if shown is not None and task not in shown:
        raise Problem(404, "unknown-task", f"unknown task {task!r}", task=task, suggestions=[])


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


__all__ = ["absent_unless_visible", "only_tasks", "visible"]
