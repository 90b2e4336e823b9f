"""`GET /api/v1/insights?task=&days=`: the findings of SPEC 16, as `cronkit insights --json`.

Read role; a token limited to some tasks sees only theirs (another task is 404, as everywhere).
Answers are kept while the run log is unchanged, at most a minute (their window moves with the clock).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cronkit.clock import now
from cronkit.insights.read import DEFAULT_DAYS, as_dicts, find_for
from cronkit.runlog.enginelink import execute_on
from cronkit.web import query
from cronkit.web.access import reading
from cronkit.web.jsonout import json_bytes
from cronkit.web.scoping import absent_unless_visible, visible
from cronkit.web.service import redacted, service_of, unknown_task


@reading
async def insights(request: Request) -> Response:
    service = service_of(request)
    task_name = request.query_params.get("task") or None
    shown = visible(request)
    if task_name is not None:
        if task_name not in service.registry:
            raise unknown_task(service, task_name)
        absent_unless_visible(request, task_name)
    days = query.int_param(request, "days", int(DEFAULT_DAYS), 1, 3650)
    tasks = [t for t in service.registry if (task_name is None or t.name == task_name)
             and (shown is None or t.name in shown)]

    def compute() -> bytes:
        with service.engine.connect() as conn:
            found = find_for(service.settings, execute_on(conn), tasks, now(), days)
        return json_bytes({"insights": redacted(service, as_dicts(found))})

    key = (task_name, days, shown)
    body = service.insights.kept(key, service.version.read(wait=False))
    if body is None:
        body = await run_in_threadpool(lambda: service.insights.get(key, service.version.read(), compute))
    return Response(body, media_type="application/json")


def routes() -> list[BaseRoute]:
    """Return the insights route (mounted by `app.create_app` with the API's)."""
    return [Route("/api/v1/insights", insights, methods=["GET"])]
