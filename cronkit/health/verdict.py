"""Judge a status report: every reason the scheduler is unhealthy, and the check `cronkit health` records."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cronkit.config.settings import Settings
from cronkit.cronfile.drift import Drift
from cronkit.health.probes import CHECK_TIMEOUT, DOWN, UP, bounded, message
from cronkit.health.report import StatusReport, check_status
from cronkit.registry import Registry
from cronkit.runlog.queries import LAST_HEALTH_CHECK, LAST_HEALTH_RESULT
from cronkit.runlog.status import FAILED_STATUSES
from cronkit.runlog.times import instant_iso
from cronkit.safe.terminal import printable


def _task_reasons(task: Mapping[str, Any]) -> list[str]:
    reasons = []
    missed = task["missed"]
    if missed and missed["count"]:
        more = " (at least; older slots not examined)" if missed["capped"] else ""
        reasons.append(
            f"task {task['name']}: missed {missed['count']} slot{'s' if missed['count'] != 1 else ''}"
            f"{more} since {missed['since']}, latest {missed['latest']}"
        )
    last = task["last_run"]
    if task["scheduled"] and last and last["status"] in FAILED_STATUSES:
        error = f": {printable(last['error'].splitlines()[0][:200])}" if last.get("error") else ""
        reasons.append(f"task {task['name']}: latest run {last['id']} {last['status']} at {last['started_at']}{error}")
    return reasons


def reasons_from_status(report: Mapping[str, Any]) -> list[str]:
    """Return every reason the scheduler described by `report` is unhealthy.

    `report` is the JSON form (`StatusReport.as_dict()`, or `status --json` read back), so the
    verdict can be drawn again from a report saved elsewhere.
    """
    reasons: list[str] = []
    services, errors = report["services"], report["service_errors"]
    if services["run_log"] == DOWN:
        reasons.append(f"run log unreachable: {errors.get('run_log', 'unknown error')}")
    if services["redis"] == DOWN:
        reasons.append(f"redis down: {errors.get('redis', 'unknown error')}")
    block = report["block"]
    if report["total_jobs"]:
        if services.get("log_dir") == DOWN:  # runs still go on, but their output to the task logs is lost
            reasons.append(f"log directory unusable: {errors.get('log_dir', 'unknown error')}")
        if services["crontab"] == DOWN:
            reasons.append(f"crontab unreadable: {errors.get('crontab', 'unknown error')}")
        elif not block["present"]:
            reasons.append(
                f"crontab: the cronkit block is not installed while {report['total_jobs']} tasks are scheduled"
                f" in {report['environment']}: run cronkit install"
            )
    if block["present"]:
        for item in block["drift"]:
            reasons.append(Drift(item["task"], item["kind"], item["installed"], item["expected"]).reason())
    failure = report.get("start_failure")
    if failure:
        reasons.append(start_failure_text(failure))
    reasons.extend(item["reason"] for item in report.get("preflight", ()))
    for task in report["tasks"]:
        reasons.extend(_task_reasons(task))
    return reasons


def insight_line(insight: Mapping[str, Any]) -> str:
    """Return the one line `health` shows for an insight (SPEC 16)."""
    return f"task {insight['task']}: insight {insight['kind']} ({insight['severity']}): {printable(insight['message'])}"


def start_failure_text(failure: Mapping[str, Any]) -> str:
    """Return the one line `status` and `health` show for a start-failure record."""
    return (f"cron runs of this block are failing to start: {failure.get('task')} at {failure.get('at')}: "
            f"{failure.get('error')} (exit {failure.get('exit_code')})")


def health_report(settings: Settings, registry: Registry, now: datetime, *,
                  timeout: float = CHECK_TIMEOUT) -> tuple[bool, list[str], StatusReport]:
    """Check the scheduler; return (healthy, every reason it is not, the status judged).

    Records the check (`last_health_check`, `last_health_result`) in the run log the status was
    read from, within what is left of `timeout`.
    """
    check = check_status(settings, registry, now, timeout=timeout, texts=False)
    try:
        report = check.report
        reasons = reasons_from_status(report.as_dict())
        if settings.insights_critical_unhealthy:
            reasons.extend(f"{insight_line(i)}" for i in report.insights if i["severity"] == "critical")
        healthy = not reasons
        if report.services["run_log"] == UP and check.runlog is not None:
            runlog = check.runlog
            checked_at = instant_iso(now) or ""
            plural = "s" if len(reasons) != 1 else ""
            result = "healthy" if healthy else f"unhealthy: {len(reasons)} reason{plural}"
            try:
                bounded("run log", max(0.5, check.budget_end - time.monotonic()),
                        lambda: runlog.write_meta({LAST_HEALTH_CHECK: checked_at, LAST_HEALTH_RESULT: result}))
                report = dataclasses.replace(report, last_health_check=instant_iso(now))
            except Exception as exc:
                reasons.append(f"run log unreachable: recording the health check failed: {message(exc)}")
                healthy = False
    finally:
        check.close()
    return healthy, reasons, report
