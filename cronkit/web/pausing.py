"""Pause and resume over HTTP (SPEC 15): `POST /api/v1/tasks/{name}/pause` and `.../resume`.

The same authorisation as a trigger (the `operator` role, within the token's tasks and
environments), the same library as the CLI (cronkit.runlog.pausing), and an audit row for every
answer: the pause or resume itself (written with it), or the refusal.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cronkit.clock import now
from cronkit.errors import CronkitError
from cronkit.runlog.pauses import Origin
from cronkit.runlog.pausing import pause, resume
from cronkit.runlog.writer import RunStore
from cronkit.web.access import audit_refusal, who
from cronkit.web.bodies import check_text, load_json, read_body
from cronkit.web.jsonout import SafeJSONResponse
from cronkit.web.problems import Problem
from cronkit.web.service import Service, service_of, unknown_task

PAUSE_KEYS = {"for", "until", "reason"}


def parse_pause(body: bytes, action: str) -> dict[str, str | None]:
    """Validate a pause body `{"for": "2h" | "until": "...", "reason": "..."}` (resume: none or `{}`)."""
    data: Any = load_json(body)
    if not isinstance(data, dict):
        raise Problem(422, "invalid-body", "the body must be a JSON object")
    allowed = PAUSE_KEYS if action == "pause" else set()
    unknown = sorted(set(data) - allowed)
    if unknown:
        said = f"allowed: {', '.join(sorted(allowed))}" if allowed else "resume takes no body"
        raise Problem(422, "invalid-body", f"unknown key(s): {', '.join(unknown)} ({said})")
    for key, value in data.items():
        if value is not None and not isinstance(value, str):
            raise Problem(422, "invalid-body", f"{key}: must be a string")
    return {key: data.get(key) for key in allowed}


def act(service: Service, action: str, task: str, asked: dict[str, str | None], origin: Origin) -> dict[str, Any]:
    """Pause or resume one task through the library; return its JSON (a UsageError is a 422)."""
    for key, value in asked.items():  # a NUL or a lone surrogate: no audit row or run log column takes it
        if value is not None:
            check_text(key, value, "invalid-pause")
    store = RunStore.for_engine(service.engine)  # the service's engine: not closed here
    try:
        if action == "pause":
            rows = pause(service.settings, service.registry, [task], for_=asked["for"], until=asked["until"],
                         reason=asked["reason"], origin=origin, now=now(), transact=store.transact)
        else:
            rows = resume(service.settings, service.registry, [task], origin=origin, now=now(), transact=store.transact)
    except CronkitError as exc:
        status = 422 if exc.exit_code == 2 else 503
        raise Problem(status, "invalid-pause" if status == 422 else "unavailable", str(exc), task=task) from None
    return rows[0]


async def _pause_or_resume(request: Request, action: str) -> Response:
    service = service_of(request)
    name = request.path_params["name"]
    remote = request.client.host if request.client else None
    fields: dict[str, Any] = {"action": action, "task": name, "remote_addr": remote,
                              "user_agent": request.headers.get("user-agent"), "redactor": service.redactor}
    try:
        info = await who(request)
        fields["token_name"] = info.name
        # The trigger route's checks: the `operator` role (SPEC 18), within the token's tasks and environments.
        if not info.allows("trigger"):
            raise Problem(403, "scope", f"token {info.name} has role {info.role}; this needs operator")
        asked = parse_pause(await read_body(request), action)
        fields["params"] = {k: v for k, v in asked.items() if v is not None} or None
        if name not in service.registry:
            raise unknown_task(service, name)
        if not info.may_trigger(name, service.settings.environment):
            limits = ", ".join([*info.globs, *(f"environment {env}" for env in info.envs)])
            raise Problem(403, "task-not-allowed", f"token {info.name} may {action} {limits} only", task=name)
        origin = Origin("api", token=info.name, remote_addr=remote, user_agent=request.headers.get("user-agent"))
        row = await run_in_threadpool(act, service, action, name, asked, origin)
    except Problem as problem:
        await audit_refusal(service, fields, problem)
        raise
    return SafeJSONResponse(row)


async def pause_task(request: Request) -> Response:
    return await _pause_or_resume(request, "pause")


async def resume_task(request: Request) -> Response:
    return await _pause_or_resume(request, "resume")


def routes() -> list[BaseRoute]:
    """Return the pause and resume routes (mounted by `app.create_app` with the API's)."""
    return [
        Route("/api/v1/tasks/{name}/pause", pause_task, methods=["POST"]),
        Route("/api/v1/tasks/{name}/resume", resume_task, methods=["POST"]),
    ]


__all__ = ["act", "parse_pause", "pause_task", "resume_task", "routes"]
