"""Token management through the API, for the `admin` role (SPEC section 18):
`GET /api/v1/tokens`, `POST /api/v1/tokens` (the new token is in the answer, once),
`DELETE /api/v1/tokens/{name}`. Every change is an audit row naming the admin token that made it.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cronkit.errors import UsageError
from cronkit.runlog.times import now_ms
from cronkit.web.access import require
from cronkit.web.auth import TokenInfo, create_token, list_tokens, revoke_token
from cronkit.web.bodies import load_json, read_body
from cronkit.web.jsonout import SafeJSONResponse
from cronkit.web.problems import Problem
from cronkit.web.service import service_of

FIELDS = {"name", "role", "tasks", "environments"}


async def _admin(request: Request) -> TokenInfo:
    """Return the caller, an admin without limits: a limited admin could make itself an unlimited token."""
    info = await require(request, "admin")
    if info.limited:
        raise Problem(403, "scope", f"token {info.name} is limited to some tasks or environments; managing"
                      " tokens needs an admin token without limits").refused()
    return info


async def tokens(request: Request) -> Response:
    await _admin(request)
    return SafeJSONResponse({"tokens": await run_in_threadpool(list_tokens, service_of(request).engine)})


def _spec(body: bytes) -> dict[str, Any]:
    """Check a create request: {"name", "role", "tasks": [globs], "environments": [names]}."""
    spec = load_json(body)
    if not isinstance(spec, dict):
        raise Problem(422, "invalid-token", "send an object: {\"name\": ..., \"role\": ...}")
    unknown = set(spec) - FIELDS
    if unknown:
        raise Problem(422, "invalid-token", f"unknown field {sorted(unknown)[0]!r} (known: {', '.join(sorted(FIELDS))})")
    for key in ("name", "role"):
        if not isinstance(spec.get(key), str):
            raise Problem(422, "invalid-token", f"{key}: a string is required")
    for key in ("tasks", "environments"):
        value = spec.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise Problem(422, "invalid-token", f"{key}: a list of strings")
    return spec


async def create(request: Request) -> Response:
    admin = await _admin(request)
    spec = _spec(await read_body(request))
    try:
        info, token = await run_in_threadpool(
            lambda: create_token(service_of(request).engine, spec["name"], spec["role"], spec.get("tasks", []),
                                 at=now_ms(), actor=admin.name, envs=spec.get("environments", [])))
    except UsageError as exc:
        raise Problem(409 if "exists" in str(exc) else 422, "invalid-token", str(exc)) from None
    return SafeJSONResponse({"name": info.name, "token": token, "role": info.role, "tasks": list(info.globs),
                         "environments": list(info.envs)}, status_code=201)


async def revoke(request: Request) -> Response:
    admin = await _admin(request)
    name = request.path_params["name"]
    try:
        await run_in_threadpool(lambda: revoke_token(service_of(request).engine, name, at=now_ms(), actor=admin.name))
    except UsageError as exc:
        raise Problem(404, "unknown-token", str(exc)) from None
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/tokens", tokens, methods=["GET"]),
        Route("/api/v1/tokens", create, methods=["POST"]),
        Route("/api/v1/tokens/{name}", revoke, methods=["DELETE"]),
    ]


__all__ = ["routes"]
