"""The dashboard's Pause and Resume forms (SPEC 15): the task page posts here, with its CSRF token.

The same checks as the API's routes (web/pausing.py): a token that may trigger the task, the same
library, an audit row for the action or the refusal (origin `dashboard`, the session's token).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cronkit.runlog.pauses import Origin
from cronkit.runlog.times import now_ms
from cronkit.web import audit
from cronkit.web.pages import HEADERS, forbidden, page, read_form, render, task_view
from cronkit.web.pausing import act
from cronkit.web.problems import Problem
from cronkit.web.service import service_of
from cronkit.web.session import Session


async def _act(request: Request, session: Session, action: str) -> Response:
    service = service_of(request)
    name = request.path_params["name"]
    form = await read_form(request)
    remote, agent = request.client.host if request.client else None, request.headers.get("user-agent")
    if not session.check_csrf(form.get("csrf")):
        await run_in_threadpool(_refused, service, session.token.name, remote, agent, action, name[:64],
                                "CSRF token missing or wrong")
        return forbidden(request, "The form's CSRF token is missing or wrong: reload the page and try again.")
    if name not in service.registry or not session.token.sees(name, service.settings.environment):
        return render(request, "error.html", 404, title="Unknown task", message=f"There is no task {name!r}.")
    if not session.token.may_trigger(name, service.settings.environment):
        await run_in_threadpool(_refused, service, session.token.name, remote, agent, action, name,
                                f"dashboard: token may not {action} this task")
        return forbidden(request, f"Token {session.token.name} (role {session.token.role}) may not {action} {name}.")
    asked: dict[str, str | None] = {}
    if action == "pause":
        asked = {"for": form.get("for", "").strip() or None, "until": form.get("until", "").strip() or None,
                 "reason": form.get("reason", "").strip() or None}
    origin = Origin("dashboard", token=session.token.name, remote_addr=remote, user_agent=agent)
    try:
        await run_in_threadpool(act, service, action, name, asked, origin)
    except Problem as problem:
        await run_in_threadpool(_refused, service, session.token.name, remote, agent, action, name, problem.detail)
        return await task_view(request, session, status=problem.status, form=form, pause_error=problem.detail)
    return RedirectResponse(f"/tasks/{quote(name)}", 303, headers=HEADERS)


def _refused(service: Any, token: str, remote: str | None, agent: str | None, action: str, task: str,
             detail: str) -> None:
    audit.record_alone(service.engine, at=now_ms(), action=action, result="refused", token_name=token,
                       remote_addr=remote, user_agent=agent, task=task, detail=f"dashboard: {detail}")


@page()
async def pause_form(request: Request, session: Session) -> Response:
    return await _act(request, session, "pause")


@page()
async def resume_form(request: Request, session: Session) -> Response:
    return await _act(request, session, "resume")


def routes() -> list[BaseRoute]:
    """Return the dashboard's pause and resume routes (mounted with the pages')."""
    return [
        Route("/tasks/{name}/pause", pause_form, methods=["POST"]),
        Route("/tasks/{name}/resume", resume_form, methods=["POST"]),
    ]


__all__ = ["routes"]
