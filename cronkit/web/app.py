"""The Starlette application of `cronkit serve`: shared state, error handlers, lifespan.

`create_app(settings, registry)` is all a test or an ASGI server needs; `serve()` runs it under
uvicorn with a graceful stop on SIGTERM (in-flight requests finish, runs started go on: they are
detached processes of their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import ipaddress
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio.to_thread
import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cronkit.clock import now
from cronkit.config.settings import ENV_VARS, Settings
from cronkit.errors import ConfigError, CronkitError, ServiceUnavailable
from cronkit.health.report import status
from cronkit.registry import Registry
from cronkit.registry.loader import configured_registry
from cronkit.runlog.engines import create_engine_for, describe_url, first_line
from cronkit.runlog.schema import upgrade
from cronkit.runlog.times import now_ms
from cronkit.runlog.writer import RunStore
from cronkit.safe.redact import redactor_for
from cronkit.version import __version__
from cronkit.web import api, audit, insights_api, pages, pause_pages, pausing, tokens_api
from cronkit.web.auth import active_token_count
from cronkit.web.cache import DataVersion
from cronkit.web.guard import guarded_protocol
from cronkit.web.health import DeepHealth
from cronkit.web.listen import listen, run
from cronkit.web.metrics import RunLogCollector
from cronkit.web.problems import Problem
from cronkit.web.service import LOST_SWEEP_INTERVAL, Service, StatusCache
from cronkit.web.trigger import Launcher

MALLOC_ARENAS = 2  # glibc malloc arenas of the serving process (limit_malloc_arenas)
M_ARENA_MAX = -8  # glibc's mallopt parameter number
SQLITE_CACHE_KIB = 256  # page cache of each of the service's SQLite connections
REQUEST_THREADS = 8  # threads answering requests (anyio's default is 40)


def child_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """Return the environment of a triggered `cronkit run`: the service's, its settings pinned.

    Settings go by environment, never on the command line, where `ps` would show a database password.
    """
    env = dict(environ)
    pinned = {"home": str(settings.home), "db_url": settings.db_url, "environment": settings.environment,
              "registry": configured_registry(settings)}
    for name, value in pinned.items():
        env[ENV_VARS[name]] = value
    if settings.config_file is not None:
        env["CRONKIT_CONFIG"] = str(settings.config_file)
    return env


def create_app(settings: Settings, registry: Registry, environ: Mapping[str, str] | None = None) -> Starlette:
    """Build the application for `settings` and `registry`."""
    environ = os.environ if environ is None else environ
    engine = _open_run_log(settings)
    redactor = redactor_for(settings, environ)
    cache = StatusCache(lambda: status(settings, registry, now()))
    metrics = CollectorRegistry(auto_describe=False)
    collector = RunLogCollector(engine, settings, registry, __version__, lambda: cache.get(30.0, wait=False))
    metrics.register(collector)
    service = Service(
        settings=settings, registry=registry, engine=engine, redactor=redactor,
        launcher=Launcher(engine, redactor, child_environment(settings, environ),
                          {t.name: t.singleton for t in registry}),
        deep=DeepHealth(settings, registry), status=cache, metrics=metrics,
        version=DataVersion(engine, settings.db_url),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.service = service
        # The request threads (Starlette's run_in_threadpool): a few are as fast as 40 on a small
        # host, and each thread costs memory of its own (a malloc arena, a connection's page cache).
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        loop = asyncio.get_running_loop()
        # Warm what the first requests would otherwise pay for: the run totals, the status report.
        warm = loop.run_in_executor(None, _warm, service, collector)
        sweeper = asyncio.ensure_future(_sweep_lost(service))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(warm, 1.0)
            service.deep.close()
            service.auth_pool.shutdown(wait=False, cancel_futures=True)
            service.version.close()
            engine.dispose()

    app = Starlette(routes=[*api.routes(), *tokens_api.routes(), *pausing.routes(), *insights_api.routes(),
                            *pages.routes(), *pause_pages.routes()], lifespan=lifespan,
                    exception_handlers={Problem: _problem, HTTPException: _http_error,
                                        CronkitError: _cronkit_error, Exception: _internal_error})
    app.state.service = service
    return app


def _open_run_log(settings: Settings) -> Engine:
    """Return the service's engine of the run log, its schema brought up to date."""
    engine = create_engine_for(settings.db_url, pool_size=8, max_overflow=8, pool_timeout=5)
    _small_page_caches(engine)
    try:
        upgrade(engine)
    except CronkitError:
        raise
    except Exception as exc:
        raise ServiceUnavailable(f"run log {describe_url(settings.db_url)} is unusable: {first_line(exc)}") from None
    return engine


def _small_page_caches(engine: Engine) -> None:
    """Give each SQLite connection of the service a page cache of SQLITE_CACHE_KIB (default 2 MiB):
    the requests read a page of runs by an index, and a pool of connections with full caches
    was memory growing for minutes under load."""
    if engine.dialect.name != "sqlite":
        return
    @event.listens_for(engine, "connect")
    def _cache(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")


def _warm(service: Service, collector: Any) -> None:
    with contextlib.suppress(Exception):
        list(collector.collect())  # the first scrape's intervals and SQL statements, ready
    with contextlib.suppress(Exception):
        service.status.get(30.0)


async def _sweep_lost(service: Service) -> None:
    store = RunStore.for_engine(service.engine)
    while True:
        await asyncio.sleep(LOST_SWEEP_INTERVAL)
        with contextlib.suppress(Exception):
            await asyncio.get_running_loop().run_in_executor(service.auth_pool, store.mark_lost)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    if exc.refusal:
        await run_in_threadpool(_audit_refusal, request, exc)
    return exc.response()


def _audit_refusal(request: Request, problem: Problem) -> None:
    """Write the audit row of a refusal: the token, where from, what it asked, the answer."""
    token = getattr(request.state, "token", None)
    try:
        audit.record_alone(request.app.state.service.engine, at=now_ms(), action=f"{request.method} {request.url.path}"[:32],
                           result="forbidden" if problem.status == 403 else "not_visible",
                           token_name=getattr(token, "name", None),
                           remote_addr=request.client.host if request.client else None,
                           user_agent=request.headers.get("user-agent"), status_code=problem.status,
                           detail=problem.detail)
    except Exception:  # noqa: BLE001 - the refusal stands even when it cannot be recorded
        pass


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kinds = {404: "not-found", 405: "method-not-allowed"}
    detail = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
    return Problem(exc.status_code, kinds.get(exc.status_code, "http-error"), detail).response(
        dict(exc.headers or {}))


async def _cronkit_error(request: Request, exc: Exception) -> Response:
    service: Service = request.app.state.service
    status = 503 if isinstance(exc, ServiceUnavailable) else 500
    return Problem(status, "unavailable" if status == 503 else "internal-error", service.redactor(str(exc))).response()


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Never a traceback or an exception's text (it may hold a secret): the log has the details.
    return Problem(500, "internal-error", "the server failed to answer; see its log").response()


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas (MALLOC_ARENA_MAX) before the service starts its threads.

    glibc gives threads arenas of their own, up to 8 per core; a dozen request, auth and probe
    threads each growing one made the RSS creep for minutes under load (bench/serve.py). Other C
    libraries have no such call: nothing happens there. Return whether the cap was set.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc is not None and libc.mallopt(M_ARENA_MAX, count) == 1)
    except (OSError, AttributeError):
        return False


def is_loopback(host: str) -> bool:
    """Tell whether `host` is a loopback address (or `localhost`)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, registry: Registry, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve the application until SIGTERM or SIGINT (then finish in-flight requests and stop).

    ConfigError (exit 78) for a non-loopback address while no token exists: the API would be
    open to the network with nobody able to use it but everybody able to probe it.
    ServiceUnavailable (exit 69) when the port is in use (listen.listen says which errors are which).
    """
    limit_malloc_arenas(MALLOC_ARENAS)
    app = create_app(settings, registry)
    service: Service = app.state.service
    if not is_loopback(host) and active_token_count(service.engine) == 0:
        service.engine.dispose()
        raise ConfigError(f"serve: refusing to listen on {host} with no API token; "
                          "create one first (cronkit token create NAME --scope read)")
    try:
        sockets = listen(host, port)  # before uvicorn: a busy port is one line, exit 69
    except CronkitError:
        service.engine.dispose()
        raise
    # httptools, as uvicorn picks it, with a bound on a request head's size and time (guard.py).
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=10, server_header=False, proxy_headers=False,
                            http=guarded_protocol(settings.serve_header_timeout))
    run(config, sockets)


__all__ = ["child_environment", "create_app", "is_loopback", "serve"]
