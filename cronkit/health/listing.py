"""Describe the registry's tasks as `cronkit list --json` (and `GET /api/v1/tasks`) show them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cronkit.config.settings import Settings
from cronkit.registry import Registry, Task
from cronkit.runlog.pauses import Pause, pause_keys
from cronkit.schedule import describe, next_run


def task_row(task: Task, settings: Settings, now: datetime, pauses: Mapping[str, Pause] | None = None) -> dict[str, Any]:
    """Describe one task: schedule, what it means, zone, environments, next run, enabled here, paused.

    `pauses`: the pauses in force by task (pausing.read_pauses); None when the caller read none.
    """
    zone = task.zone(settings.timezone)
    upcoming = next_run(task.resolved_schedule, zone, now)
    table = settings.for_task(task.name)
    if not task.runs_in(settings.environment):
        enabled, why = False, f"not scheduled in {settings.environment}"
    elif not table.get("enabled", True):
        enabled, why = False, f"enabled = false in [tasks.{task.name}]"
    else:
        enabled, why = True, ""
    return {
        "name": task.name,
        "schedule": task.schedule,
        "resolved_schedule": task.resolved_schedule,
        "schedule_text": describe(task.resolved_schedule),
        "description": task.description,
        "timezone": zone,
        "environments": list(task.environments),
        "next_run": upcoming.isoformat(timespec="seconds"),
        "next_run_local": upcoming.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds"),
        "enabled": enabled,
        "disabled_reason": why,
        "timeout_s": task.timeout,
        "retries": task.retries,
        "singleton": task.singleton,
        "params": None if task.params is None else {
            name: {"kind": p.kind, "help": p.help, "choices": list(p.choices) if p.choices else None,
                   "min": p.min, "max": p.max, "past": p.past, "text": p.describe()}
            for name, p in task.params.items()},
        "dates": task.dates,
        "requires": list(task.requires),
        "source": task.origin,  # the registry it comes from (SPEC 17)
        "command": None if task.command is None else {
            "command": task.command.command, "shell": task.command.shell, "cwd": task.command.cwd,
            "env": sorted(task.command.env),  # the names only: a crontab's assignments may be secrets
            "success_codes": list(task.command.success_codes), "retry_codes": list(task.command.retry_codes)},
        **pause_keys((pauses or {}).get(task.name)),
    }


def task_rows(settings: Settings, registry: Registry, now: datetime,
              pauses: Mapping[str, Pause] | None = None) -> list[dict[str, Any]]:
    """Describe every task of the registry, in registry order."""
    return [task_row(task, settings, now, pauses) for task in registry]


__all__ = ["task_row", "task_rows"]
