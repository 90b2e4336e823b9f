"""The dashboard (issue 18): server-rendered pages on the same tokens and scopes as the API.

Sign in with a token once: a signed session cookie (see `session`) carries who you are, every
form carries a CSRF token, and every page re-checks the token against the run log. A `read`
token sees everything; only a token that may trigger a task gets its Run now form, and the
POST checks again. A run started here goes through the API's own launcher (a detached
`cronkit run --trigger api`, audited). Pages refresh their live part every `serve_refresh` seconds
(15 by default) by fetching `?fragment=1` (static/app.js); nothing is fetched from another host (see the CSP header).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import monotonic
from typing import Any, cast
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cronkit.clock import now
from cronkit.runlog.times import now_ms
from cronkit.safe.inputs import row_id
from cronkit.web import audit, views
from cronkit.web.audit import list_audit
from cronkit.web.auth import ROLE_FOR, hash_token, verify
from cronkit.web.bodies import check_declared, parse_trigger, read_body
from cronkit.web.chart import duration_chart
from cronkit.web.formats import fmt_dur, fmt_kib, fmt_rel, fmt_when
from cronkit.web.problems import Problem
from cronkit.web.scoping import hidden_tasks, scrub_health
from cronkit.web.service import Service, service_of
from cronkit.web.session import (
    COOKIE,
    SESSION_MAX_AGE,
    SIGNIN_COOKIE,
    SIGNIN_MAX_AGE,
    Session,
    Sessions,
    cookie_options,
    end_session,
    session_token,
    signing_key,
)
from cronkit.web.trigger import Caller

HERE = Path(__file__).parent
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {"style.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
MAX_FORM = 16 * 1024


_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters.update({"when": fmt_when, "dur": fmt_dur, "kib": fmt_kib})


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Return the page of template `name` with the dashboard's headers (CSP and the rest)."""
    at = now()
    refresh = f"{request.app.state.service.settings.serve_refresh:g}"
    session: Session | None = getattr(request.state, "session", None)
    context.setdefault("fragment", request.query_params.get("fragment") == "1")
    html = _env.get_template(name).render(
        request=request, session=session, now=at, rel=lambda v: fmt_rel(v, at), refresh=refresh,
        path=request.url.path, **context)
    # A lone surrogate stored in a run (its params, a task's text) shows as its escape, not a 500.
    return HTMLResponse(html.encode("utf-8", "backslashreplace"), status_code=status, headers=HEADERS)


# --- sessions ------------------------------------------------------------------------------------


def _sessions(request: Request) -> Sessions:
    found = getattr(request.app.state, "sessions", None)
    if found is None:
        found = request.app.state.sessions = Sessions(signing_key(service_of(request).settings.home))
    return cast(Sessions, found)


async def _session(request: Request) -> Session | None:
    data = _sessions(request).read(request.cookies.get(COOKIE))
    if data is None:
        return None
    info = await run_in_threadpool(session_token, service_of(request).engine, data["h"], data["s"])
    if info is None or info.name != data["n"]:
        return None
    return Session(info, data["h"], data["c"], data["s"], data["e"])


Handler = Callable[[Request, Session], Awaitable[Response]]


def page(scope: str = "read") -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Guard a page: signed in (else to the sign-in page) with a token of `scope` (else 403)."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            session = await _session(request)
            if session is None:
                if request.method != "GET" or request.query_params.get("fragment") == "1":
                    return render(request, "error.html", 401, title="Signed out",
                                   message="Your session has ended: sign in again.")
                return RedirectResponse("/signin?next=" + quote(request.url.path), 303, headers=HEADERS)
            request.state.session = session
            if not session.token.allows(scope) or not session.token.works_in(service_of(request).settings.environment):
                await run_in_threadpool(_audit_refusal, service_of(request), _caller(request, session),
                                        None, 403, f"dashboard: {request.url.path}", "page")
                return render(request, "error.html", 403, title="Not allowed",
                               message=f"Token {session.token.name} has role {session.token.role}"
                                       f"{' in other environments' if session.token.allows(scope) else ''};"
                                       f" this page needs {ROLE_FOR[scope]}.")
            return await handler(request, session)

        guarded.__name__ = handler.__name__
        return guarded

    return wrap


async def read_form(request: Request) -> dict[str, str]:
    """Return a urlencoded form's fields (the pages send no other kind); {} past MAX_FORM bytes."""
    try:
        body = await read_body(request, MAX_FORM)
    except Problem as problem:
        if problem.status != 413:
            raise
        return {}
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100))
    except (UnicodeDecodeError, ValueError):
        return {}


def forbidden(request: Request, message: str) -> HTMLResponse:
    """Return the 403 page that says `message`."""
    return render(request, "error.html", 403, title="Refused", message=message)


# --- sign in, sign out ---------------------------------------------------------------------------


def _next(raw: str | None) -> str:
    return raw if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw else "/"


async def signin(request: Request) -> Response:
    sessions = _sessions(request)
    error, status = None, 200
    if request.method == "POST":
        form = await read_form(request)
        if not sessions.check_signin(request.cookies.get(SIGNIN_COOKIE), form.get("csrf")):
            error, status = "The form expired or its CSRF token is missing: try again.", 403
            await _refused(request, "dashboard.signin", None, 403, "sign-in form: CSRF token missing or wrong")
        else:
            info, digest = await run_in_threadpool(_check_token, service_of(request), form.get("token", ""), request)
            if info is not None:
                cookie, _ = sessions.issue(digest, info.name)
                done = RedirectResponse(_next(form.get("next")), 303, headers=HEADERS)
                done.set_cookie(COOKIE, cookie, **cookie_options(request.url.scheme == "https", SESSION_MAX_AGE))
                done.delete_cookie(SIGNIN_COOKIE, path="/")
                return done
            error, status = "That token is unknown or revoked.", 401
    cookie, csrf = sessions.signin_csrf()
    response = render(request, "signin.html", status, csrf=csrf, error=error,
                       next=_next(request.query_params.get("next")))
    response.set_cookie(SIGNIN_COOKIE, cookie, **cookie_options(request.url.scheme == "https", SIGNIN_MAX_AGE))
    return response


def _check_token(service: Service, token: str, request: Request) -> tuple[Any, str]:
    info = verify(service.engine, token.strip())
    audit.record_alone(service.engine, at=now_ms(), action="dashboard.signin",
                       result="signed_in" if info else "refused", token_name=info.name if info else None,
                       remote_addr=request.client.host if request.client else None,
                       user_agent=request.headers.get("user-agent"), status_code=303 if info else 401)
    return info, hash_token(token.strip())


async def signout(request: Request) -> Response:
    """End the session for good: its id is recorded as ended (session.end_session), so the cookie
    is refused even where a copy of it was kept, and after a restart.

    Without a session cookie there is nothing to end, and the answer leaves the browser's cookies
    alone: a form on another site (whose POST carries no SameSite=Strict cookie) cannot sign anyone
    out by the cookie deletion of the answer. A live session's form must carry its CSRF token; a
    cookie whose session has ended or expired is only deleted.
    """
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return RedirectResponse("/signin", 303, headers=HEADERS)
    session = await _session(request)
    form = await read_form(request)
    if session is not None and not session.check_csrf(form.get("csrf")):
        await _refused(request, "dashboard.signout", session.token.name, 403, "sign-out form: CSRF token missing or wrong")
        return forbidden(request, "The sign-out form's CSRF token is missing or wrong.")
    if session is not None:
        try:
            await run_in_threadpool(
                lambda: end_session(service_of(request).engine, session, now=time.time(),
                                    remote_addr=request.client.host if request.client else None,
                                    user_agent=request.headers.get("user-agent")))
        except Exception:  # noqa: BLE001 - the run log did not answer: the session goes on, say so
            request.state.session = session  # the page keeps its sign-out form: try again
            return render(request, "error.html", 503, title="Not signed out",
                           message="The run log did not answer, so the session could not be ended: try again.")
    response = RedirectResponse("/signin", 303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/")
    return response


async def _refused(request: Request, action: str, token_name: str | None, status: int, detail: str,
                   task: str | None = None) -> None:
    """Write the audit row of a refused dashboard post (a CSRF check failed); the refusal stands
    even when the run log does not take the row."""
    fields = {"at": now_ms(), "action": action, "result": "refused", "token_name": token_name, "task": task,
              "remote_addr": request.client.host if request.client else None,
              "user_agent": request.headers.get("user-agent"), "status_code": status, "detail": detail}
    with contextlib.suppress(Exception):
        await run_in_threadpool(lambda: audit.record_alone(service_of(request).engine, **fields))


# --- pages ---------------------------------------------------------------------------------------


@page()
async def overview(request: Request, session: Session) -> Response:
    service = service_of(request)
    env = service.settings.environment
    cards = [card for card in await run_in_threadpool(views.overview, service)
             if session.token.sees(card.name, env)]  # a limited token's other tasks are absent
    cache: dict[str, Any] | None = getattr(request.app.state, "dashboard_health", None)
    if cache is None:
        cache = request.app.state.dashboard_health = {}
    if cache.get("at", -1e9) + 10 < monotonic():
        _, body = await service.deep.answer(False)
        cache.update(at=monotonic(), body=body)
    body = cache["body"]
    if session.token.limited:  # reasons naming other tasks are not this token's to read
        body = scrub_health(body, hidden_tasks(request, session.token))
    return render(request, "overview.html", cards=cards, health=views.health_summary(body),
                   environment=service.settings.environment)


@page()
async def task_page(request: Request, session: Session) -> Response:
    return await task_view(request, session)


async def task_view(request: Request, session: Session, *, error: str | None = None,
                    status: int = 200, form: dict[str, str] | None = None, pause_error: str | None = None) -> Response:
    """Return a task's page (its stats, chart, runs, dead letters, findings), with a form's error if any."""
    service = service_of(request)
    name = request.path_params["name"]
    if name not in service.registry or not session.token.sees(name, service.settings.environment):
        return render(request, "error.html", 404, title="Unknown task", message=f"There is no task {name!r}.")
    task = service.registry[name]
    before = row_id(request.query_params.get("before", ""))
    stats = await run_in_threadpool(views.task_stats, service, name, now())
    rows, older = await run_in_threadpool(views.task_runs, service, name, before)
    letters = await run_in_threadpool(views.dead_letters, service, name)
    insights = await run_in_threadpool(views.task_insights, service, name)
    started = request.query_params.get("started", "")
    pause = (await run_in_threadpool(views.paused, service, now())).get(name)
    return render(request, "task.html", status, task=task, pause=pause.as_dict() if pause else None,
                   pause_error=pause_error, stats=stats, chart=duration_chart(stats, task.timeout),
                   runs=rows, older=older, before=before, letters=letters, insights=insights, error=error, form=form or {},
                   params=_declared_params(task),
                   may_run=session.token.may_trigger(name, service.settings.environment),
                   started=row_id(started),
                   zone=task.zone(service.settings.timezone))


@page()
async def run_now(request: Request, session: Session) -> Response:
    service = service_of(request)
    name = request.path_params["name"]
    form = await read_form(request)
    if not session.check_csrf(form.get("csrf")):
        await _refused(request, "trigger", session.token.name, 403, "dashboard: CSRF token missing or wrong",
                       task=name[:64])
        return forbidden(request, "The form's CSRF token is missing or wrong: reload the page and try again.")
    caller = Caller(session.token.name, request.client.host if request.client else None,
                    request.headers.get("user-agent"))
    if name not in service.registry or not session.token.sees(name, service.settings.environment):
        return render(request, "error.html", 404, title="Unknown task", message=f"There is no task {name!r}.")
    if not session.token.may_trigger(name, service.settings.environment):
        await run_in_threadpool(_audit_refusal, service, caller, name, 403, "dashboard: token may not trigger this task")
        return forbidden(request, f"Token {session.token.name} (role {session.token.role}) may not run {name}.")
    params = {k[6:]: v for k, v in form.items() if k.startswith("param.") and v.strip()}
    for line in form.get("params", "").splitlines():
        if line.strip():
            key, sep, value = line.partition("=")
            if not sep:
                return await task_view(request, session, error=f"parameter line {line.strip()!r}: write name=value",
                                       status=422, form=form)
            params[key.strip()] = value.strip()
    body = {"params": params, "dry_run": form.get("dry_run") == "on", "date": form.get("date") or None}
    try:
        req = parse_trigger(json.dumps(body).encode(), name, None)
        check_declared(service.settings, service.registry[name], req)
    except Problem as problem:
        return await task_view(request, session, error=problem.detail, status=422, form=form)
    answer = await run_in_threadpool(service.launcher.trigger, req, caller)
    if answer.status >= 300:
        return await task_view(request, session, error=str(answer.body.get("detail", "the run was not started")),
                               status=answer.status, form=form)
    return RedirectResponse(f"/tasks/{quote(name)}?started={answer.body['run_id']}", 303, headers=HEADERS)


def _caller(request: Request, session: Session) -> Any:
    return Caller(session.token.name, request.client.host if request.client else None,
                  request.headers.get("user-agent"))


def _audit_refusal(service: Service, caller: Any, task: str | None, status: int, detail: str,
                   action: str = "trigger") -> None:
    audit.record_alone(service.engine, at=now_ms(), action=action, result="forbidden", token_name=caller.token_name,
                       remote_addr=caller.remote_addr, user_agent=caller.user_agent, task=task,
                       status_code=status, detail=detail)


@page()
async def run_page(request: Request, session: Session) -> Response:
    raw = request.path_params["run_id"]
    service = service_of(request)
    run_id = row_id(raw)
    record = await run_in_threadpool(views.one_run, service, run_id) if run_id is not None else None
    if record is None or not session.token.sees(str(record["task"]), service.settings.environment):
        return render(request, "error.html", 404, title="Unknown run", message=f"There is no run {raw}.")
    return render(request, "run.html", run=record)


@page("admin")
async def audit_page(request: Request, session: Session) -> Response:
    before = row_id(request.query_params.get("before", ""))
    rows = await run_in_threadpool(lambda: list_audit(service_of(request).engine, before_id=before, limit=51))
    older = rows[49]["id"] if len(rows) > 50 else None
    return render(request, "audit.html", rows=rows[:50], older=older)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", 404, media_type="text/plain")
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name],
                    headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"})


def routes() -> list[BaseRoute]:
    """Return the dashboard's routes (mounted by `app.create_app` after the API's)."""
    return [
        Route("/", overview, methods=["GET"]),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/tasks/{name}", task_page, methods=["GET"]),
        Route("/tasks/{name}/run", run_now, methods=["POST"]),
        Route("/runs/{run_id}", run_page, methods=["GET"]),
        Route("/audit", audit_page, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
    ]


def _declared_params(task: Any) -> list[dict[str, Any]] | None:
    """Return the task's declared parameters (issue 13's `params=`) for the form, None when undeclared."""
    declared = getattr(task, "params", None)
    if not declared:
        return None
    return [{"name": name, "type": param.describe(), "help": param.help, "required": False, "default": None,
             "choices": list(param.choices) if param.choices else (["true", "false"] if param.kind == "bool" else None)}
            for name, param in declared.items()]


__all__ = ["fmt_dur", "fmt_rel", "fmt_when", "routes"]
