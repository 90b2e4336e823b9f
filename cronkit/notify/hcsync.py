"""Keep healthchecks' checks in step with the registry: one check per task, created or updated
through healthchecks' management API (v3), the way its ping URLs expect them (SPEC section 19).

`cronkit notify sync NAME` sends, for each task that uses the notifier, `POST <api_url>checks/`
with `unique: ["slug"]`: healthchecks creates the check (201) or updates the one of that slug
(200) with the task's name, schedule (cron), zone, grace and description.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cronkit.config.notify import Notifier
from cronkit.errors import ConfigError, ServiceUnavailable
from cronkit.notify.http import DeliveryError, post_response

if TYPE_CHECKING:
    from cronkit.config.settings import Settings
    from cronkit.registry import Registry, Task

MIN_GRACE = 60  # seconds: the least grace healthchecks accepts
NICKNAMES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
             "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


def tasks_using(settings: Settings, registry: Registry, name: str) -> list[Task]:
    """Return the tasks scheduled here that notify `name`, in registry order."""
    return [task for task in registry.enabled_in(settings.environment, settings.task_config)
            if any(n.name == name for n in settings.notifiers_for(task.name))]


def shared_checks(settings: Settings, registry: Registry) -> list[str]:
    """Warn of each healthchecks notifier without `{task}` that several tasks use: one check would
    show the newest run of any of them, so a success of one would hide the failure of another."""
    warnings = []
    for notifier in settings.notifiers.values():
        if notifier.kind != "healthchecks" or "{task}" in (notifier.url or ""):
            continue
        users = [task.name for task in tasks_using(settings, registry, notifier.name)]
        if len(users) > 1:
            warnings.append(
                f"notify.{notifier.name}: one healthchecks check for {len(users)} tasks ({', '.join(users)}):"
                " a success of one hides the failure of another; give each task its own notifier,"
                " or put {task} in the url (a slug URL)")
    return warnings


def check_spec(task: Task, settings: Settings) -> dict[str, Any]:
    """Return the API body that creates or updates the task's check."""
    schedule = NICKNAMES.get(task.resolved_schedule, task.resolved_schedule)
    return {"name": task.name, "slug": task.name, "schedule": schedule, "tz": task.zone(settings.timezone),
            "grace": max(MIN_GRACE, int(task.grace)), "desc": task.description or f"cronkit task {task.name}",
            "unique": ["slug"]}


def api_url(notifier: Notifier) -> str:
    """Return the notifier's management API URL: `api_url`, else the ping URL's origin + /api/v3/."""
    if notifier.api_url:
        return notifier.api_url.rstrip("/") + "/"
    parts = urlsplit(notifier.url or "")
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/api/v3/"


def api_key(notifier: Notifier, environ: Mapping[str, str]) -> str:
    """Return the API key from the notifier's `api_key_env`; ConfigError naming what is missing."""
    if not notifier.api_key_env:
        raise ConfigError(f"notify.{notifier.name}.api_key_env: name the variable holding healthchecks' API key"
                          " (Project Settings > API Access, read-write)")
    key = environ.get(notifier.api_key_env, "")
    if not key:
        raise ConfigError(f"notify.{notifier.name}: {notifier.api_key_env} is not set (healthchecks' API key)")
    return key


def endpoint(notifier: Notifier, spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return where to send a check's spec and what: a slug URL's checks are matched by slug (`unique`);
    a check's own ping URL (`.../ping/<uuid>`) names the check to update."""
    if "{task}" in (notifier.url or ""):
        return api_url(notifier) + "checks/", dict(spec)
    uuid = urlsplit(notifier.url or "").path.rstrip("/").rpartition("/")[2]
    return api_url(notifier) + f"checks/{uuid}", {k: v for k, v in spec.items() if k not in ("slug", "unique")}


def push(notifier: Notifier, spec: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Create or update one check; return what healthchecks said: created or updated, its ping URL."""
    url, sent = endpoint(notifier, spec)
    body = json.dumps(sent).encode()
    try:
        status, _, answer = post_response(url, body,
                                          {"Content-Type": "application/json", "X-Api-Key": key}, notifier.timeout)
    except DeliveryError as exc:
        raise ServiceUnavailable(f"notify sync {notifier.name}: check {spec['slug']}: {exc}") from None
    try:
        check = json.loads(answer)
    except ValueError:
        check = {}
    return {"task": spec["name"], "action": "created" if status == 201 else "updated",
            "ping_url": check.get("ping_url") if isinstance(check, dict) else None}


__all__ = ["api_key", "api_url", "check_spec", "endpoint", "push", "shared_checks", "tasks_using"]
