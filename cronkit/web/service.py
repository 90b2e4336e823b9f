"""What every request of `cronkit serve` shares: the `Service`, its status cache, its timings.

The application (`app`) builds one `Service`; the route modules read it from the request
(`service_of`) and never import the application, so the arrows run one way: app -> routes -> service.
"""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from starlette.requests import Request

from cronkit.config.settings import Settings
from cronkit.health.report import StatusReport
from cronkit.registry import Registry
from cronkit.safe.redact import Redactor
from cronkit.web.auth import TokenInfo
from cronkit.web.cache import DataVersion, VersionedCache
from cronkit.web.health import DeepHealth
from cronkit.web.jsonout import json_bytes
from cronkit.web.problems import Problem
from cronkit.web.trigger import Launcher

LOST_SWEEP_INTERVAL = 30.0  # seconds between marking dead runs `lost` (clients poll runs for their outcome)
TOKEN_GRACE = 300.0  # seconds a verified token is still accepted while the run log does not answer
AUTH_TIMEOUT = 1.5  # seconds a token lookup may take before that grace applies
TOUCH_EVERY = 60.0  # seconds between two last_used_at writes of one token
TOKEN_RECHECK = 1.0  # seconds a token's verdict is reused: a revoked token is refused within this
STATUS_FRESH = 5.0  # seconds /api/v1/status answers a report without refreshing it
STATUS_STALE = 15.0  # seconds a report may be answered while a fresh one is computed


class StatusCache:
    """The latest status report: computed by one thread at a time, reused while fresh."""

    def __init__(self, compute: Callable[[], StatusReport]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._value: StatusReport | None = None
        self._at = 0.0
        self._refreshing = False
        self._json: tuple[StatusReport, bytes] | None = None
        # One long-lived thread refreshes in the background (a thread a refresh churned memory).
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cronkit-status")

    @property
    def stamp(self) -> float:
        """When the report now kept was computed (monotonic seconds): it changes with the report."""
        return self._at

    def peek(self, max_age: float, stale: float) -> StatusReport | None:
        """Return a report at most `max_age` s old, or one at most `stale` s old while a thread
        computes a fresh one; None (computing nothing) when there is neither."""
        if self._value is None or time.monotonic() - self._at > stale:
            return None
        return self.get(max_age, wait=False)

    def get(self, max_age: float, *, wait: bool = True) -> StatusReport | None:
        """Return a report at most `max_age` s old; without `wait`, a stale one while refreshing."""
        if self._value is not None and time.monotonic() - self._at <= max_age:
            return self._value
        if not wait and self._value is not None:
            if not self._refreshing:
                self._refreshing = True
                self._pool.submit(self._refresh, max_age)
            return self._value
        return self._refresh(max_age)

    def _refresh(self, max_age: float) -> StatusReport | None:
        try:
            with self._lock:
                if self._value is None or time.monotonic() - self._at > max_age:
                    value = self._compute()
                    self._value, self._at = value, time.monotonic()
                return self._value
        finally:
            self._refreshing = False

    def as_json(self, report: StatusReport) -> bytes:
        """Return `report` as JSON bytes, encoded once per report."""
        kept = self._json
        if kept is not None and kept[0] is report:
            return kept[1]
        body = json_bytes(report.as_dict())
        self._json = (report, body)
        return body


@dataclass
class Service:
    """What every request shares."""

    settings: Settings
    registry: Registry
    engine: Engine
    redactor: Redactor
    launcher: Launcher
    deep: DeepHealth
    status: StatusCache
    metrics: Any  # prometheus_client CollectorRegistry
    version: DataVersion
    runs_pages: VersionedCache[bytes] = field(default_factory=lambda: VersionedCache(64, 60.0, 4 << 20))
    scrapes: VersionedCache[bytes] = field(default_factory=lambda: VersionedCache(1, 15.0))
    # The findings of GET /api/v1/insights by (task, days): kept while the run log is unchanged,
    # at most a minute (their window moves with the clock).
    insights: VersionedCache[bytes] = field(default_factory=lambda: VersionedCache(16, 60.0, 4 << 20))
    auth_pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="cronkit-auth"))
    verified: dict[str, tuple[TokenInfo, float]] = field(default_factory=dict)
    touched: dict[str, float] = field(default_factory=dict)


def service_of(request: Request) -> Service:
    """Return the service the application put on `request`."""
    service: Service = request.app.state.service
    return service


def redacted(service: Service, value: Any) -> Any:
    """Redact a run or a list of runs once more on the way out (they are stored redacted already)."""
    return service.redactor.value(value)


def unknown_task(service: Service, name: str) -> Problem:
    """Return the 404 problem of a task name the registry does not hold, with the names close to it."""
    names = [t.name for t in service.registry]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return Problem(404, "unknown-task", f"unknown task {name!r}{hint}", task=name, suggestions=close)


__all__ = ["AUTH_TIMEOUT", "LOST_SWEEP_INTERVAL", "STATUS_FRESH", "STATUS_STALE", "TOKEN_GRACE", "TOKEN_RECHECK",
           "TOUCH_EVERY", "Service", "StatusCache", "json_bytes", "redacted", "service_of", "unknown_task"]
