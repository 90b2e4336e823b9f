"""Install state under CRONKIT_HOME, backups, the install lock, and the default render inputs.

`<home>/install-state.json` records what the last `cronkit install` wrote; `<home>/backups/`
keeps the crontabs it replaced; `<home>/install.lock` serialises installs. `default_inputs` is
the one place the render inputs of an install are derived (block id, host zone, executable,
run settings file), for the CLI and for drift checks alike.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cronkit.clock import now
from cronkit.config.settings import Settings
from cronkit.cronfile.block import extract, inner_lines
from cronkit.cronfile.hostzone import detect_host_zone, detected_zone
from cronkit.cronfile.io import Location, location_for, read_crontab
from cronkit.cronfile.render import (
    Rendered,
    RenderInputs,
    check_block_id,
    check_target,
    default_run_config,
    find_executable,
    render,
)
from cronkit.cronfile.sharedlock import flock_within
from cronkit.errors import EXIT_SKIPPED, ConfigError, CronkitError
from cronkit.host import invoking_user
from cronkit.registry import Registry
from cronkit.registry.loader import registry_spec
from cronkit.safe.files import write_atomic

STATE_FILE = "install-state.json"
LOCK_FILE = "install.lock"
BACKUP_DIR = "backups"
BACKUPS_KEPT = 20
LOCK_WAIT_SECONDS = 30.0
STATE_VERSION = 1
DEFAULT_TARGET = "user"


class InstallBusy(CronkitError):
    """Another `cronkit install` or `uninstall` holds the install lock."""

    exit_code = EXIT_SKIPPED
    what_to_do = "Wait for the other install to finish, then run it again."


class CrontabEditedMeanwhile(CronkitError):
    """Someone else changed the crontab while cronkit was writing it (crontab(1) takes no lock)."""

    exit_code = EXIT_SKIPPED
    what_to_do = ("Both versions are saved under the home's backups (the line names them): check the other "
                  "edit is in the crontab, then run the command again.")


# --- private files under the home ------------------------------------------------------------


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_private(path: Path, text: str) -> None:
    """Write a 0600 file atomically, in a private directory (the run settings may hold secrets)."""
    _private_dir(path.parent)
    write_atomic(path, text, 0o600)


@contextmanager
def install_lock(settings: Settings, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold `<home>/install.lock` (flock) across a read-modify-write of a crontab."""
    path = _private_dir(settings.home) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not flock_within(fd, wait):
            raise InstallBusy(f"another cronkit install holds {path}; try again later")
        yield
    finally:
        os.close(fd)


def backup(settings: Settings, location: Location, text: str | None, label: str = "") -> Path | None:
    """Save the previous crontab under `<home>/backups/` (0600, timestamped); keep the newest 20.

    `label` ends the name (`-theirs`, `-cronkit`) when one save holds something else than the
    crontab before a write."""
    if text is None:
        return None
    directory = _private_dir(settings.home / BACKUP_DIR)
    stamp = now().strftime("%Y%m%dT%H%M%S.%fZ")
    path = directory / f"{location.slug}-{stamp}{label}.crontab"
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"{location.slug}-{stamp}-{counter}{label}.crontab"
    write_private(path, text)
    old = sorted(directory.glob(f"{location.slug}-*.crontab"), key=lambda p: p.stat().st_mtime_ns)
    for stale in old[:-BACKUPS_KEPT]:
        stale.unlink(missing_ok=True)
    return path


# --- the install state file ------------------------------------------------------------------


def read_install_state(settings: Settings) -> dict[str, Any] | None:
    """Return what the last `cronkit install` recorded under this home, None if nothing.

    Shape (JSON): {"version": 1, "block_id": str, "target": "user" | "cron.d",
    "user": str | None (crontab -u user, or the user field of cron.d lines),
    "path": str | None (the cron.d file), "host_zone": str,
    "executable": str, "run_config": str, "run_config_written": bool, "environment": str,
    "registry": str, "installed_at": ISO UTC of the last write,
    "tasks": {task: {"schedule": str, "timezone": str, "lines": [str], "installed_at": ISO UTC
    since when this exact line is installed}}, "lines": [str] (every task line, block order),
    "block": str (the block text written)}.
    """
    path = settings.home / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else None


def record_install(settings: Settings, registry: Registry, inputs: RenderInputs, location: Location,
                   rendered: Rendered, run_config_written: bool, when: str) -> None:
    """Write the install state of a block just installed (`when`: ISO UTC of this install).

    A task whose lines did not change keeps the `installed_at` it had; so does the whole
    install when the block text did not change.
    """
    previous = read_install_state(settings) or {}
    same = (previous.get("block_id") == inputs.block_id and previous.get("target") == inputs.target
            and previous.get("path") == (str(location.path) if location.path else None))
    old_tasks = previous.get("tasks", {}) if same else {}
    tasks = {}
    for task in rendered.tasks:
        old = old_tasks.get(task.name, {})
        since = old.get("installed_at") if old.get("lines") == list(task.lines) else None
        tasks[task.name] = {"schedule": task.schedule, "timezone": task.timezone,
                            "lines": list(task.lines), "installed_at": since or when}
    state = {
        "version": STATE_VERSION,
        "block_id": inputs.block_id,
        "target": inputs.target,
        "user": location.user if inputs.target == "user" else inputs.user,
        "path": str(location.path) if location.path else None,
        "host_zone": inputs.host_zone,
        "detected_zone": detected_zone(),  # drift flags a host whose zone changes since
        "executable": inputs.executable,
        "run_config": inputs.run_config,
        "run_config_written": run_config_written,
        "environment": settings.environment,
        "registry": registry.source or registry_spec(registry, settings),
        "installed_at": when if (not same or previous.get("block") != rendered.text)
        else previous.get("installed_at", when),
        "tasks": tasks,
        "lines": [line for task in rendered.tasks for line in task.lines],
        "block": rendered.text,
    }
    write_private(settings.home / STATE_FILE, json.dumps(state, indent=2, sort_keys=True) + "\n")


def forget_install(settings: Settings, block_id: str, target: str) -> None:
    """Remove the install state (and the run settings file install wrote) of an uninstalled block."""
    state = read_install_state(settings)
    if state and state.get("block_id") == block_id and state.get("target") == target:
        (settings.home / STATE_FILE).unlink(missing_ok=True)
        if state.get("run_config_written"):
            Path(state["run_config"]).unlink(missing_ok=True)


# --- the default inputs of an install --------------------------------------------------------


def default_block_id(settings: Settings, registry: Registry) -> str:
    """Return the block id used when none is given: the registry's id, else its name in the settings."""
    return registry.id or registry_spec(registry, settings)


def default_inputs(settings: Settings, registry: Registry, target: str = DEFAULT_TARGET,
                   state: Mapping[str, Any] | None = None, *, block_id: str | None = None,
                   user: str | None = None, host_zone: str | None = None,
                   executable: str | None = None, run_config: str | None = None) -> RenderInputs:
    """Return the render inputs of an install: each value given, else the recorded or the default one.

    When `state` records an install for `target` (and for `block_id`, if given), the values not
    given are the recorded ones: what a reinstall would use. Otherwise they are derived: the
    block id from the registry, the host zone from /etc/localtime, this installation's
    executable, the run settings file under the home, and for cron.d the invoking user.
    """
    check_target(target)
    if state and state.get("target") == target and block_id in (None, state.get("block_id")):
        return RenderInputs(
            block_id=state["block_id"], host_zone=host_zone or state["host_zone"],
            executable=executable or state["executable"], run_config=run_config or state["run_config"],
            target=target, user=(user or state.get("user")) if target == "cron.d" else None,
        )
    block_id = check_block_id(block_id or default_block_id(settings, registry))
    line_user = (user or invoking_user()) if target == "cron.d" else None
    return RenderInputs(
        block_id=block_id,
        host_zone=host_zone or detect_host_zone(),
        executable=executable or find_executable(),
        run_config=run_config or str(default_run_config(settings, block_id)),
        target=target,
        user=line_user,
    )


# --- what is installed, and what a reinstall would write -------------------------------------


def _recorded_location(settings: Settings, target: str, block_id: str, state: Mapping[str, Any],
                       user: str | None) -> Location:
    """Return where the block lives: where `state` says it was installed, else the default place."""
    if target == "user" and user is None and state.get("target") == "user":
        user = state.get("user")
    location = location_for(settings, target, block_id, user=user if target == "user" else None)
    if target == "cron.d" and state.get("target") == "cron.d" and state.get("block_id") == block_id:
        location = Location("cron.d", path=Path(state["path"]))
    return location


def installed_lines(settings: Settings, registry: Registry, target: str = DEFAULT_TARGET,
                    state: Mapping[str, Any] | None = None) -> list[str] | None:
    """Return the lines between our markers in the crontab now, None when there is no block.

    The block id and location come from `state` when it is for `target`, else the defaults.
    Raises CrontabUnavailable (69) when the crontab cannot be read and CrontabParseError (78)
    when its markers do not pair up.
    """
    state = state or {}
    recorded = state.get("target") == target
    block_id = state["block_id"] if recorded else default_block_id(settings, registry)
    location = _recorded_location(settings, target, block_id, state if recorded else {}, None)
    text = read_crontab(location)
    block = None if text is None else extract(text, block_id)
    return None if block is None else inner_lines(block)


def expected_lines(settings: Settings, registry: Registry, target: str = DEFAULT_TARGET) -> list[str]:
    """Return the lines (between the markers, comments included) a reinstall would write now.

    Uses the inputs of the recorded install when it was for `target`, else the defaults.
    """
    inputs = default_inputs(settings, registry, target, read_install_state(settings))
    return inner_lines(render(registry, settings, inputs).text)
