"""The routes of `cronkit serve` (SPEC 10): JSON in, JSON out, problems for errors.

Each route authenticates, validates at the edge, then calls one library function in a thread
(the run log is synchronous SQLAlchemy). Keys are documented in the README ("HTTP service").
"""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cronkit.clock import now
from cronkit.health.listing import task_row, task_rows
from cronkit.runlog.deadletters import list_letters
from cronkit.runlog.pausing import pauses_of
from cronkit.runlog.reader import run_record, runs_page
from cronkit.runlog.status import RunStatus, Trigger
from cronkit.runlog.writer import RunStore
from cronkit.safe.inputs import row_id
from cronkit.web import audit as audit_log
from cronkit.web import query
from cronkit.web.access import audit_refusal, reading, require, who
from cronkit.web.bodies import KEY, MAX_BODY, check_declared, parse_trigger, read_body
from cronkit.web.jsonout import SafeJSONResponse, json_bytes
from cronkit.web.problems import CONTENT_TYPE, Problem
from cronkit.web.scoping import (
    absent_unless_visible,
    hidden_tasks,
    only_tasks,
    scrub_health,
    visible,
)
from cronkit.web.service import (
    STATUS_FRESH,
    STATUS_STALE,
    Service,
    redacted,
    service_of,
    unknown_task,
)
from cronkit.web.trigger import Caller

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
STATUSES = tuple(s.value for s in RunStatus)
TRIGGERS = tuple(t.value for t in Trigger)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> SafeJSONResponse:
    return SafeJSONResponse(data, status_code=status, headers=headers)  # a result's NaN, a lone surrogate: no 500


# --- health, status, tasks -----------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    return _json({"ok": True})


async def health_deep(request: Request) -> Response:
    service = service_of(request)
    public = False
    if service.settings.health_public and request.headers.get("authorization") is None:
        public = True
    else:
        info = await require(request, "read")
        if info.limited:  # the reasons and errors that name other tasks are not this token's to read
            status, body = await service.deep.answer(public)
            return _json(scrub_health(body, hidden_tasks(request, info)), status, {"Cache-Control": "no-store"})
    status, body = await service.deep.answer(public)
    return _json(body, status, {"Cache-Control": "no-store"})


@reading
async def status(request: Request) -> Response:
    service = service_of(request)
    # A report at most STATUS_FRESH s old, or STATUS_STALE s while a thread computes a fresh one.
    report = service.status.peek(STATUS_FRESH, STATUS_STALE)
    if report is None:
        report = await run_in_threadpool(service.status.get, STATUS_FRESH)
    assert report is not None
    body = service.status.as_json(report)
    shown = visible(request)
    if shown is not None:
        doc = json.loads(body)
        doc["tasks"] = [t for t in doc.get("tasks", []) if t.get("name") in shown]
        doc["insights"] = [i for i in doc.get("insights", []) if i.get("task") in shown]
        body = json_bytes(doc)
    return Response(body, media_type="application/json")


def _pauses(service: Service, at: Any) -> dict[str, Any]:
    """Return the pauses in force, by task, read on the service's engine (left open)."""
    return pauses_of(RunStore.for_engine(service.engine, owned=False), at)


def _task_rows(service: Service) -> list[dict[str, Any]]:
    at = now()
    return task_rows(service.settings, service.registry, at, _pauses(service, at))


@reading
async def tasks(request: Request) -> Response:
    rows = await run_in_threadpool(_task_rows, service_of(request))
    shown = visible(request)
    return _json(rows if shown is None else [row for row in rows if row["name"] in shown])


def _one_task(service: Service, name: str) -> dict[str, Any]:
    if name not in service.registry:
        raise unknown_task(service, name)
    at = now()
    row = task_row(service.registry[name], service.settings, at, _pauses(service, at))
    row["recent_runs"] = redacted(service, runs_page(service.engine, task=name, limit=5).runs)
    return row


async def task(request: Request) -> Response:
    await require(request, "read")
    absent_unless_visible(request, request.path_params["name"])
    return _json(await run_in_threadpool(_one_task, service_of(request), request.path_params["name"]))


# --- runs, dead letters, audit -------------------------------------------------------------------


@reading
async def runs(request: Request) -> Response:
    service = service_of(request)
    task_name = query.text(request, "task")
    status, trigger = query.choice(request, "status", STATUSES), query.choice(request, "trigger", TRIGGERS)
    since, before = query.since(request), query.decode_cursor(request.query_params.get("cursor"))
    limit = query.int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    shown = visible(request)
    if task_name is not None and shown is not None and task_name not in shown:
        absent_unless_visible(request, task_name)

    def page() -> bytes:
        got = runs_page(service.engine, task=task_name, status=status, trigger=trigger, since_ms=since,
                        before_id=before, limit=limit, tasks=shown)
        if not got.runs:
            query.task_filter(service.registry, task_name,
                              lambda: bool(runs_page(service.engine, task=task_name, limit=1).runs))
        # Stored redacted by the runner, and without output or traceback: no second pass.
        return json_bytes({"runs": got.runs, "next_cursor": query.encode_cursor(got.next_before)})

    key = (task_name, status, trigger, since, before, limit, shown)

    def answer() -> bytes:  # the same page while the run log has not changed (cache.py)
        return service.runs_pages.get(key, service.version.read(), page)

    # A page kept at the version read without blocking is answered here: no thread hop.
    body = service.runs_pages.kept(key, service.version.read(wait=False))
    return Response(body if body is not None else await run_in_threadpool(answer), media_type="application/json")


def _one_run(service: Service, run_id: int) -> dict[str, Any] | None:
    log = RunStore.for_engine(service.engine, owned=False)
    record = run_record(log, run_id)
    if record is not None and record["status"] == RunStatus.RUNNING.value:
        # A client polls this for its run's outcome: a run whose process died must show as lost.
        if RunStore.for_engine(service.engine).mark_lost(task=record["task"]):
            record = run_record(log, run_id)
    return record


@reading
async def run(request: Request) -> Response:
    service = service_of(request)
    raw = request.path_params["run_id"]
    run_id = row_id(raw)
    if run_id is None:  # not digits, or past 64 bits: no run has that id
        raise Problem(404, "unknown-run", f"no run with id {raw!r}")
    record = await run_in_threadpool(_one_run, service, run_id)
    shown = visible(request)
    if record is None:
        raise Problem(404, "unknown-run", f"no run with id {raw}")
    if shown is not None and record["task"] not in shown:  # to this token the run does not exist
        raise Problem(404, "unknown-run", f"no run with id {raw}").refused()
    return _json(redacted(service, record))


@reading
async def dead_letters(request: Request) -> Response:
    service = service_of(request)
    include = query.flag(request, "all")
    task_name = query.text(request, "task")
    limit = query.int_param(request, "limit", 100, 1, MAX_LIMIT)
    shown = visible(request)
    if task_name is not None:
        absent_unless_visible(request, task_name)

    def letters() -> list[dict[str, Any]]:
        found = list_letters(service.engine, include_resolved=include, task=task_name, limit=limit, tasks=shown)
        if not found:
            query.task_filter(service.registry, task_name, lambda: bool(
                list_letters(service.engine, include_resolved=True, task=task_name, limit=1)))
        return found

    return _json(redacted(service, await run_in_threadpool(letters)))


async def audit(request: Request) -> Response:
    info = await require(request, "admin")
    if info.limited:  # the audit names every task and token: an admin limited to some tasks reads it not
        raise Problem(403, "scope", f"token {info.name} is limited to some tasks or environments; the audit"
                      " needs an admin token without limits").refused()
    service = service_of(request)
    since = query.since(request)
    before = query.decode_cursor(request.query_params.get("cursor"))
    limit = query.int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    rows = await run_in_threadpool(
        lambda: audit_log.list_audit(service.engine, since_ms=since, before_id=before, limit=limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return _json({"audit": rows, "next_cursor": query.encode_cursor(rows[-1]["id"]) if more and rows else None})


@reading
async def metrics(request: Request) -> Response:
    service = service_of(request)

    def version(wait: bool = True) -> Any:  # the run log's and the status report's
        found = service.version.read(wait=wait)
        return None if found is None else (found, service.status.stamp)

    def scrape() -> bytes:  # one scrape at a time, reused while the run log and status report hold
        return service.scrapes.get("metrics", version(), lambda: generate_latest(service.metrics))

    body = service.scrapes.kept("metrics", version(wait=False))
    if body is None:
        body = await run_in_threadpool(scrape)
    shown = visible(request)
    if shown is not None:
        body = only_tasks(body, shown)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# --- triggers ------------------------------------------------------------------------------------


async def _trigger(request: Request, task: str | None) -> Response:
    service = service_of(request)
    caller = Caller(None, request.client.host if request.client else None, request.headers.get("user-agent"))
    fields: dict[str, Any] = {"action": "trigger", "task": task, "remote_addr": caller.remote_addr,
                              "user_agent": caller.user_agent, "redactor": service.redactor}
    try:
        key = request.headers.get("idempotency-key")
        fields["idempotency_key"] = key
        # The token before the body: a lookup (or its verdict of the last second) and no body read,
        # so a refusal of the body (413) names who sent it, and nobody unknown gets a body read.
        info = await who(request)
        fields["token_name"] = info.name
        caller = Caller(info.name, caller.remote_addr, caller.user_agent)
        if not info.allows("trigger"):
            raise Problem(403, "scope", f"token {info.name} has role {info.role}; this needs operator")
        body = await read_body(request)
        if key is not None and not KEY.fullmatch(key):
            raise Problem(422, "invalid-idempotency-key", "the Idempotency-Key header takes 1 to 255 visible ASCII characters")
        req = parse_trigger(body, task, key)
        fields["task"], fields["params"] = req.task, req.stored_params() or None
        if req.task not in service.registry:
            raise unknown_task(service, req.task)
        if not info.may_trigger(req.task, service.settings.environment):
            limits = ", ".join([*info.globs, *(f"environment {env}" for env in info.envs)])
            raise Problem(403, "task-not-allowed", f"token {info.name} may trigger {limits} only", task=req.task)
        check_declared(service.settings, service.registry[req.task], req)
    except Problem as problem:
        await audit_refusal(service, fields, problem)
        raise
    answer = await run_in_threadpool(service.launcher.trigger, req, caller)
    headers = {"Location": answer.location} if answer.location and answer.status < 300 else {}
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    if answer.status >= 400:
        return SafeJSONResponse(answer.body, answer.status, headers, media_type=CONTENT_TYPE)
    return _json(answer.body, answer.status, headers)


async def trigger_task(request: Request) -> Response:
    return await _trigger(request, request.path_params["name"])


async def trigger_seed(request: Request) -> Response:
    return await _trigger(request, None)


def routes() -> list[BaseRoute]:
    """Return the service's routes (SPEC 10)."""
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/health/deep", health_deep, methods=["GET"]),
        Route("/api/v1/status", status, methods=["GET"]),
        Route("/api/v1/tasks", tasks, methods=["GET"]),
        Route("/api/v1/tasks/{name}", task, methods=["GET"]),
        Route("/api/v1/tasks/{name}/runs", trigger_task, methods=["POST"]),
        Route("/admin/scheduler/trigger", trigger_seed, methods=["POST"]),
        Route("/api/v1/runs", runs, methods=["GET"]),
        Route("/api/v1/runs/{run_id}", run, methods=["GET"]),
        Route("/api/v1/dead-letters", dead_letters, methods=["GET"]),
        Route("/api/v1/audit", audit, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


__all__ = ["MAX_BODY", "routes"]
