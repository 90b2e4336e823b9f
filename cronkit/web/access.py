"""Who calls the API and what they may do: the bearer token checked (its verdict reused a moment,
kept a while when the run log does not answer), the role's scope, the audit row of a refusal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cronkit.runlog.times import now_ms
from cronkit.web import audit as audit_log
from cronkit.web.auth import ROLE_FOR, TokenInfo, bearer, hash_token, touch, verify
from cronkit.web.problems import Problem
from cronkit.web.service import (
    AUTH_TIMEOUT,
    TOKEN_GRACE,
    TOKEN_RECHECK,
    TOUCH_EVERY,
    Service,
    service_of,
)


async def who(request: Request) -> TokenInfo:
    """Return the caller's token; Problem 401 when missing or bad (503 when it cannot be checked)."""
    service = service_of(request)
    presented = bearer(request.headers.get("authorization"))
    if presented is None:
        raise Problem(401, "token-missing", "send Authorization: Bearer <token> (cronkit token create)")
    digest = hash_token(presented)
    kept = service.verified.get(digest)
    if kept is not None and time.monotonic() - kept[1] <= TOKEN_RECHECK:
        return kept[0]  # verified within the last second: a revocation is seen within TOKEN_RECHECK
    loop = asyncio.get_running_loop()
    try:
        info = await asyncio.wait_for(
            loop.run_in_executor(service.auth_pool, verify, service.engine, presented), AUTH_TIMEOUT)
    except Exception as exc:  # the run log is down or slow: a token verified lately still counts
        if kept is not None and time.monotonic() - kept[1] <= TOKEN_GRACE:
            return kept[0]
        why = "no answer" if isinstance(exc, TimeoutError) else "unavailable"
        raise Problem(503, "auth-unavailable", f"cannot check the token: run log {why}") from None
    if info is None:
        service.verified.pop(digest, None)
        raise Problem(401, "token-invalid", "the token is unknown or revoked")
    service.verified[digest] = (info, time.monotonic())
    last = service.touched.get(info.name, 0.0)
    if time.monotonic() - last >= TOUCH_EVERY:
        service.touched[info.name] = time.monotonic()
        loop.run_in_executor(service.auth_pool, _touch_quietly, service, info.name, now_ms())
    return info


def _touch_quietly(service: Service, name: str, at: int) -> None:
    try:
        touch(service.engine, name, at)
    except Exception:  # noqa: BLE001 - last_used_at is a convenience, never a reason to fail
        pass


async def require(request: Request, scope: str) -> TokenInfo:
    """Return the caller's token when its role allows `scope` (and it works in this environment);
    else Problem 403, written to the audit."""
    info = await who(request)
    service = service_of(request)
    problem = None
    if not info.allows(scope):
        problem = Problem(403, "scope", f"token {info.name} has role {info.role}; this needs {ROLE_FOR[scope]}")
    elif not info.works_in(service.settings.environment):
        problem = Problem(403, "environment", f"token {info.name} is limited to environments"
                          f" {', '.join(info.envs)}; this service runs {service.settings.environment}")
    if problem is not None:
        await audit_refusal(service, {"action": f"{request.method} {request.url.path}"[:32], "token_name": info.name,
                                       "remote_addr": request.client.host if request.client else None,
                                       "user_agent": request.headers.get("user-agent")}, problem)
        raise problem
    request.state.token = info
    return info


def reading(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Guard a route with the `read` scope (the viewer role)."""

    async def guarded(request: Request) -> Response:
        await require(request, "read")
        return await handler(request)

    guarded.__name__ = handler.__name__
    return guarded


async def audit_refusal(service: Service, fields: dict[str, Any], problem: Problem) -> None:
    """Write the audit row of a refused request; the refusal stands even when it cannot be recorded."""
    results = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "unknown_task", 413: "too_large",
               422: "invalid", 503: "unavailable"}
    try:
        await asyncio.wait_for(run_in_threadpool(
            audit_log.record_alone, service.engine, at=now_ms(), result=results.get(problem.status, "refused"),
            status_code=problem.status, detail=problem.detail, **fields), AUTH_TIMEOUT * 2)
    except (TimeoutError, Exception):  # noqa: BLE001 - the refusal stands even when it cannot be recorded
        pass


__all__ = ["audit_refusal", "reading", "require", "who"]
