"""`GET /health/deep`: the `cronkit health` verdict, per component with the time it took, bounded.

The check runs `health.verdict.health_report` (every probe in its own thread under a 4 s budget)
in a pool of its own, so a hung Redis or database cannot take the request threads; the answer
comes within DEEP_TIMEOUT whatever hangs. Concurrent requests share one check in flight.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cronkit.clock import now
from cronkit.config.settings import Settings
from cronkit.health.probes import CHECK_TIMEOUT, DOWN, UNUSED, UP
from cronkit.health.report import StatusReport
from cronkit.health.verdict import health_report
from cronkit.registry import Registry
from cronkit.runlog.status import FAILED_STATUSES
from cronkit.runlog.times import instant_iso

# health_report's own budget, plus recording the check, plus slack for a loaded host.
DEEP_TIMEOUT = CHECK_TIMEOUT + 2.0
SERVICE_COMPONENTS = ("run_log", "redis", "crontab", "cron_daemon", "log_dir")


def components(report: StatusReport) -> dict[str, dict[str, Any]]:
    """Return each component's state, detail or error, and the milliseconds its check took."""
    out: dict[str, dict[str, Any]] = {}
    for name in SERVICE_COMPONENTS:
        state = report.services.get(name, UNUSED)
        entry: dict[str, Any] = {"state": state, "ms": report.timings_ms.get(name)}
        if name == "crontab":
            entry["ms"] = report.timings_ms.get("installation")
            block = report.block
            entry["block_present"] = block.present
            entry["drift"] = [d.as_dict() for d in block.drift]
            if state != DOWN and (block.drift or (report.total_jobs and block.present is False)):
                state = entry["state"] = DOWN
        if state == DOWN:
            entry["error"] = report.service_errors.get(name) or _crontab_error(report)
        elif name in report.service_details:
            entry["detail"] = report.service_details[name]
        out[name] = entry
    run_log_ms = report.timings_ms.get("run_log")
    missed = {t.name: t.missed.count for t in report.tasks if t.missed is not None and t.missed.count}
    out["missed_slots"] = {"state": DOWN if missed else UP, "tasks": missed, "ms": run_log_ms}
    failures = {
        t.name: {"run_id": t.last_run.id, "status": t.last_run.status, "started_at": instant_iso(t.last_run.started_at)}
        for t in report.tasks if t.scheduled and t.last_run is not None and t.last_run.status in FAILED_STATUSES
    }
    out["latest_failures"] = {"state": DOWN if failures else UP, "tasks": failures, "ms": run_log_ms}
    if report.services.get("run_log") == DOWN:  # nothing is known about runs
        out["missed_slots"]["state"] = out["latest_failures"]["state"] = DOWN
    return out


def _crontab_error(report: StatusReport) -> str:
    if report.block.drift:
        return f"the installed block differs from the registry ({len(report.block.drift)} lines)"
    return "the cronkit block is not installed"


def deep_answer(healthy: bool, reasons: list[str], report: StatusReport, elapsed_ms: int,
                public: bool) -> dict[str, Any]:
    """Return the JSON of /health/deep; `public` keeps only each component's up/down."""
    parts = components(report)
    body: dict[str, Any] = {
        "status": "healthy" if healthy else "unhealthy",
        "healthy": healthy,
        "checked_at": instant_iso(report.checked_at),
    }
    if public:
        body["components"] = {name: part["state"] for name, part in parts.items()}
        return body
    body.update({"duration_ms": elapsed_ms, "environment": report.environment, "components": parts,
                 "reasons": reasons})
    return body


def no_answer(seconds: float) -> dict[str, Any]:
    """Return the answer when the whole check did not finish in time: every component unknown, down."""
    error = f"the health check gave no answer within {seconds:g} s"
    parts: dict[str, dict[str, Any]] = {name: {"state": DOWN, "error": error, "ms": int(seconds * 1000)}
                                        for name in (*SERVICE_COMPONENTS, "missed_slots", "latest_failures")}
    return {"status": "unhealthy", "healthy": False, "checked_at": instant_iso(now()),
            "duration_ms": int(seconds * 1000), "components": parts, "reasons": [error]}


class DeepHealth:
    """Run deep checks in a pool of their own, one at a time, each bounded."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        # Two workers: a check stuck past its deadline (its threads are abandoned, not killed)
        # leaves room for the next one.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cronkit-health")
        self._inflight: asyncio.Future[tuple[bool, list[str], StatusReport, int]] | None = None

    def _check(self) -> tuple[bool, list[str], StatusReport, int]:
        started = time.monotonic()
        healthy, reasons, report = health_report(self.settings, self.registry, now(), timeout=CHECK_TIMEOUT)
        return healthy, reasons, report, max(0, int((time.monotonic() - started) * 1000))

    async def answer(self, public: bool) -> tuple[int, dict[str, Any]]:
        """Return (HTTP status, body): 200 healthy, 503 not."""
        loop = asyncio.get_running_loop()
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(loop.run_in_executor(self._pool, self._check))
        try:
            healthy, reasons, report, elapsed = await asyncio.wait_for(asyncio.shield(self._inflight), DEEP_TIMEOUT)
        except TimeoutError:
            body = no_answer(DEEP_TIMEOUT)
            if public:
                body = {k: body[k] for k in ("status", "healthy", "checked_at")} | {
                    "components": {name: DOWN for name in body["components"]}}
            return 503, body
        return (200 if healthy else 503), deep_answer(healthy, reasons, report, elapsed, public)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["DEEP_TIMEOUT", "DeepHealth", "deep_answer"]
