"""Preflight: which scheduled tasks will refuse to run here because a declared need is unmet.

A task declares its needs with `requires=` (`setting:<name>`, `service:redis`, `service:app_db`;
see registry.check_requires). Only what can be told without touching a service is checked: a
setting that is not set, a service whose URL is not configured. `install` warns about each,
`status` and `health` report them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cronkit.config.settings import ENV_VARS, Settings
from cronkit.registry import Task

SERVICE_SETTINGS = {"redis": "redis_url", "app_db": "app_db_url"}


def unmet(task: Task, settings: Settings) -> list[str]:
    """Return one phrase per need of `task` these settings leave unmet (empty when it can run)."""
    missing = []
    for item in task.requires:
        kind, _, name = item.partition(":")
        field = name if kind == "setting" else SERVICE_SETTINGS.get(name, "")
        if field and not getattr(settings, field, None):
            missing.append(f"{item} ({ENV_VARS.get(field, field)} is not set)")
    return missing


def refusals(tasks: Iterable[Task], settings: Settings) -> list[dict[str, Any]]:
    """Return `{"task", "unmet", "reason"}` for each of `tasks` that will refuse for an unmet need."""
    out = []
    for task in tasks:
        missing = unmet(task, settings)
        if missing:
            out.append({"task": task.name, "unmet": missing,
                        "reason": f"task {task.name} will refuse to run here: needs {', '.join(missing)}"})
    return out
