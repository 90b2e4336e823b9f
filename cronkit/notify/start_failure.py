"""Tell the failure notifiers at once when a cron start fails: the registry no longer imports, or
the settings are invalid (the start-failure record of cronkit/runlog/startfail.py says what failed).

The failing start sends it itself, because nothing else would: `cronkit check` fails to start for
the same cause, and the first `missed` event comes a grace period later without the cause. The
notifiers come from the start's settings, or, when those are what is invalid, from the `notify`
tables of its settings file read on their own. Each cause is told once: the first start that
fails with an error claims it (a file created exclusively, so that the block's other lines,
failing in the same minute, stay quiet) and gives the claim back when no notifier took it, for
the next failing start to try; a start that succeeds clears the claims (startfail.clear).
Sent directly, not through the outbox: the run log may be what is broken.
"""

from __future__ import annotations

import hashlib
import os
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronkit.config.notify import Notifier, notify_settings
from cronkit.errors import ConfigError
from cronkit.host import hostname
from cronkit.notify.deliver import send_once
from cronkit.notify.events import task_page
from cronkit.runlog.startfail import CLAIM_DIGITS, CLAIM_SUFFIX
from cronkit.runlog.times import iso, now_ms

if TYPE_CHECKING:
    from cronkit.config.settings import Settings

BUDGET = 10.0  # seconds the notifications of a failed start may take, all notifiers together


def claim_path(directory: Path, key: str, error: str) -> Path:
    """Return the file that says the cause `error` of block `key` was told."""
    digest = hashlib.sha256(error.encode()).hexdigest()[:CLAIM_DIGITS]
    return directory / f"{key}.{digest}{CLAIM_SUFFIX}"


def start_failure_event(task: str, error: str, exit_code: int, public_url: str | None) -> dict[str, Any]:
    """Build the `failure` event of a start that failed before any run was recorded."""
    return {
        "event": "failure", "task": task, "run_id": None, "status": "failed", "trigger": "cron",
        "host": hostname(), "scheduled_for": None, "started_at": iso(now_ms()), "duration_ms": None,
        "exit_code": exit_code, "error": f"cron start failed: {error}", "attempts": 0,
        "url": task_page(public_url, task), "rid": None, "output": f"cronkit could not start {task}: {error}\n",
    }


def notifiers_of(task: str, settings: Settings | None, config: Path | None,
                 environ: Mapping[str, str]) -> tuple[tuple[Notifier, ...], Mapping[str, str], str | None]:
    """Return (the task's notifiers that send failures, the environment their secrets come from,
    the public URL): from the settings, else from the settings file's `notify` tables alone."""
    if settings is not None:
        chosen = settings.notifiers_for(task)
        return (tuple(n for n in chosen if "failure" in n.on), settings.notify_environ(environ),
                settings.public_url)
    try:
        # Parsed as plain TOML: the file's other keys may be what is invalid.
        data = tomllib.loads(config.read_text()) if config is not None else {}
        defaults, notifiers = notify_settings(data)
    except (ConfigError, OSError, ValueError):  # tomllib.TOMLDecodeError is a ValueError
        return (), environ, None  # the notifiers themselves cannot be read: the record alone tells
    table = data.get("tasks", {}).get(task) if isinstance(data.get("tasks"), Mapping) else None
    names = table.get("notify") if isinstance(table, Mapping) else None
    names = names if isinstance(names, list) else list(defaults)
    chosen = tuple(notifiers[name] for name in names if name in notifiers)
    secrets = data.get("secret_env")
    if isinstance(secrets, Mapping):
        environ = {**{str(k): str(v) for k, v in secrets.items()}, **environ}
    public_url = data.get("public_url")
    return (tuple(n for n in chosen if "failure" in n.on), environ,
            public_url.rstrip("/") if isinstance(public_url, str) and public_url.startswith("http") else None)


def tell(directory: Path, key: str, task: str, error: str, exit_code: int, settings: Settings | None,
         config: Path | None, environ: Mapping[str, str]) -> list[str] | None:
    """Send the failure of a start to its notifiers once per cause; return the notifiers told
    (None when the cause was told before, or by another start)."""
    notifiers, secrets, public_url = notifiers_of(task, settings, config, environ)
    if not notifiers:
        return []
    claim = claim_path(directory, key, error)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return None
    except OSError:
        pass  # no home to remember it in: tell every time rather than never
    event = start_failure_event(task, error, exit_code, public_url)
    deadline = time.monotonic() + BUDGET
    told = [n.name for n in notifiers if send_once(n, event, secrets, deadline) is None]
    if not told:
        try:
            os.unlink(claim)  # nobody heard it: the next failing start tries again
        except OSError:
            pass
    return told


__all__ = ["BUDGET", "claim_path", "notifiers_of", "start_failure_event", "tell"]
