"""Render a registry into cronkit's crontab block: a pure function of its inputs.

Each line is the schedule, the user field (cron.d) and the command with `%` escaped; python-crontab
reads them back in the tests. The block markers, the header comment and the order of lines are cronkit's. Nothing here reads the clock, the crontab or
the environment, except the helpers that find the defaults (hostzone.py's `detect_host_zone`,
`find_executable`), which the CLI calls before rendering.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cronkit.config.settings import ENV_VARS, Settings
from cronkit.config.values import check_timezone
from cronkit.cronfile.block import begin_line, end_line
from cronkit.errors import ConfigError, UsageError
from cronkit.registry import Registry
from cronkit.registry.loader import registry_spec
from cronkit.registry.sets import registry_location
from cronkit.schedule.hostlines import host_lines

TARGETS = ("user", "cron.d")
# Debian's cron reads a line into a 1000-byte buffer (MAX_COMMAND); stay below it.
MAX_LINE = 998
BLOCK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
CRON_D_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
USER_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?", re.IGNORECASE)
RUN_CONFIG_DIR = "cron"


def check_target(target: str) -> str:
    """Return `target` if it is `user` or `cron.d`; raise UsageError otherwise."""
    if target not in TARGETS:
        raise UsageError(f"--target: must be user or cron.d, not {target!r}")
    return target


def check_block_id(block_id: str) -> str:
    """Return `block_id` if it can name a block (letters, digits, `.`, `_`, `:`, `-`)."""
    if not BLOCK_ID.fullmatch(block_id):
        raise UsageError(
            f"--id: {block_id!r}: use letters, digits, '.', '_', ':' and '-' (at most 100), "
            "starting with a letter or digit"
        )
    return block_id


def check_user(user: str) -> str:
    if not USER_NAME.fullmatch(user):
        raise UsageError(f"--user: {user!r} is not a user name")
    return user


def cron_d_name(block_id: str) -> str:
    """Return the /etc/cron.d file name for a block: Debian's cron ignores names with dots."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", block_id)
    if not CRON_D_NAME.fullmatch(name):
        raise UsageError(f"cannot derive a cron.d file name from block id {block_id!r}")
    return name


def default_run_config(settings: Settings, block_id: str) -> Path:
    """Return the settings file `install` writes for the cron lines of `block_id`."""
    return settings.home / RUN_CONFIG_DIR / f"{cron_d_name(block_id)}.toml"


def find_executable(argv0: str | None = None) -> str:
    """Return the absolute path of this installation's `cronkit` executable.

    Symlinks are kept, not resolved: a stable `/usr/local/bin/cronkit` pointing into a
    release directory keeps the crontab unchanged across releases.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    if Path(argv0).name.startswith("cronkit") and not argv0.endswith(".py"):
        found = argv0 if "/" in argv0 else shutil.which(argv0)
        if found and os.access(found, os.X_OK):
            return os.path.abspath(found)
    sibling = Path(sys.executable).with_name("cronkit")
    if os.access(sibling, os.X_OK):
        return os.path.abspath(sibling)
    raise ConfigError("cannot find the cronkit executable of this installation; pass --executable PATH")


def _check_path(what: str, path: str) -> str:
    if not os.path.isabs(path):
        raise UsageError(f"{what}: {path!r} must be an absolute path (cron runs with a bare environment)")
    if any(ch in path for ch in "\n\r\\"):
        # A newline ends the cron line and a backslash changes how cron reads '%'.
        raise UsageError(f"{what}: {path!r} holds a newline or backslash and cannot go on a cron line")
    return path


@dataclass(frozen=True)
class RenderInputs:
    """Everything a rendering depends on besides the registry and the settings."""

    block_id: str
    host_zone: str
    executable: str
    run_config: str
    target: str = "user"
    user: str | None = None  # the user field of cron.d lines

    def __post_init__(self) -> None:
        check_target(self.target)
        check_block_id(self.block_id)
        _check_path("--executable", self.executable)
        _check_path("--run-config", self.run_config)
        if self.target == "cron.d":
            if not self.user:
                raise UsageError("--target cron.d needs the user the lines run as (--user NAME)")
            check_user(self.user)
        check_timezone("--host-zone", self.host_zone)


@dataclass(frozen=True)
class RenderedTask:
    name: str
    schedule: str
    timezone: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Rendered:
    """A rendered block: its text (markers included, trailing newline) and the lines per task."""

    block_id: str
    environment: str
    host_zone: str
    text: str
    tasks: tuple[RenderedTask, ...]

    @property
    def lines(self) -> dict[str, list[str]]:
        return {t.name: list(t.lines) for t in self.tasks}


def command_for(inputs: RenderInputs, task: str) -> str:
    """Return the shell command of a task's cron line (quoted, `%` not yet escaped)."""
    return shlex.join([inputs.executable, "--config", inputs.run_config, "run", task, "--trigger", "cron"])


def check_command(inputs: RenderInputs, *extra: str) -> str:
    """Return the shell command of the block's `cronkit check` lines."""
    return shlex.join([inputs.executable, "--config", inputs.run_config, "check", *extra])


def needs_check(settings: Settings, registry: Registry) -> bool:
    """Return True when a duty of `cronkit check` (cronkit.duties.check) needs `cronkit check` scheduled: a notifier, a catch-up policy, auto_sync."""
    return bool(settings.notifiers) or needs_catchup(settings, registry) or settings.auto_sync


def needs_catchup(settings: Settings, registry: Registry) -> bool:
    """Return whether a task scheduled here has a catch-up policy (so the block needs `check` lines)."""
    return any(t.catchup != "skip" for t in registry.enabled_in(settings.environment, settings.task_config))


def check_lines(inputs: RenderInputs, user: str | None, schedule: str) -> list[str]:
    """Return the comment and the two lines that run `cronkit check`: on `schedule` (the
    `check_schedule` setting, every 5 minutes by default) and at boot."""
    return [
        "# cronkit check: catch up slots missed while the host was down (the tasks' catchup policy)",
        _cron_line(schedule, check_command(inputs), user),
        _cron_line("@reboot", check_command(inputs, "--boot"), user),
    ]


def _cron_line(schedule: str, command: str, user: str | None) -> str:
    """Return one crontab line: `schedule` exactly as given, the user field (cron.d), the command.

    A bare `%` in a command is a newline to cron (the rest goes to the job's stdin), so each is
    written `\\%`; nothing else in a shell-quoted command means anything to cron. This used to be
    python-crontab's job, whose import alone (asyncio, ssl, logging) cost `status` and `health`
    ~40 ms a call; tests/cronfile/test_render.py reads every line back with python-crontab.
    """
    escaped = command.strip().replace("%", "\\%")
    return f"{schedule} {user} {escaped}" if user else f"{schedule} {escaped}"


def render(registry: Registry, settings: Settings, inputs: RenderInputs) -> Rendered:
    """Return the block for the tasks enabled in the settings' environment, deterministically.

    Each task gets one line per host schedule (schedule.host_lines): on a host whose zone
    differs from the task's, the lines fire at a superset of the task's instants and
    `cronkit run --trigger cron` drops the minutes that are not its slots.
    """
    user = inputs.user if inputs.target == "cron.d" else None
    body: list[str] = []
    tasks: list[RenderedTask] = []
    enabled = registry.enabled_in(settings.environment, settings.task_config)
    for task in enabled:
        zone = task.zone(settings.timezone)
        schedules = host_lines(task.resolved_schedule, zone, inputs.host_zone)
        command = command_for(inputs, task.name)
        # A task's own `user` (SPEC 18) runs its cron.d lines; a user crontab runs as its owner.
        own = (task.user or user) if user is not None else None
        lines = tuple(_cron_line(schedule, command, own) for schedule in schedules)
        for line in lines:
            if len(line.encode()) > MAX_LINE:
                raise ConfigError(
                    f"task {task.name}: its cron line is {len(line.encode())} bytes, over cron's limit "
                    f"of {MAX_LINE}; use shorter paths"
                )
        if task.resolved_schedule != task.schedule:
            body.append(f"# {task.name}: {task.schedule} spread to {task.resolved_schedule}")
        if schedules != [task.resolved_schedule]:
            body.append(f"# {task.name}: {task.resolved_schedule} in {zone}; `cronkit run` keeps only its slots")
        body.extend(lines)
        tasks.append(RenderedTask(task.name, task.resolved_schedule, zone, lines))
    # With auto_sync the check lines stay even while nothing is scheduled: they are what syncs it back.
    if (enabled or settings.auto_sync) and needs_check(settings, registry):
        body.extend(check_lines(inputs, user, settings.check_schedule))
    header = (
        f"# Managed by cronkit: environment {settings.environment}, host zone {inputs.host_zone}. "
        "Change the registry and run `cronkit install`; edits here are overwritten."
    )
    if not enabled:
        body.append(f"# No task is scheduled in environment {settings.environment}.")
    text = "\n".join([begin_line(inputs.block_id), header, *body, end_line(inputs.block_id)]) + "\n"
    return Rendered(inputs.block_id, settings.environment, inputs.host_zone, text, tuple(tasks))


# --- the settings file the cron lines read ---------------------------------------------------

ALWAYS_WRITTEN = ("home", "environment", "registry")


def run_settings(settings: Settings, registry: Registry) -> dict[str, Any]:
    """Return the settings a cron-triggered run needs, as the config-file keys hold them.

    cron starts runs with a bare environment and in the home directory, so every setting that
    came from an environment variable, an option or a config file is written out, and the
    ones that decide what runs (home, environment, registry) always are.
    """
    values: dict[str, Any] = {}
    for name in ENV_VARS:
        if name not in ALWAYS_WRITTEN and settings.sources.get(name, "default") == "default":
            continue
        value = getattr(settings, name)
        if value is None:
            continue
        values[name] = str(value) if isinstance(value, Path) else value
    # A file registry is stored resolved: cron runs in the home directory, not here; a module
    # registry with the directory it was imported from (the current one, PYTHONPATH's), so that
    # a cron run (cwd $HOME, no PYTHONPATH) imports the same module.
    values["registry"], root = registry_location(registry, registry_spec(registry, settings), settings.adopted)
    if not values["registry"]:  # the adopted file alone: a run loads it by the `adopted` setting
        del values["registry"]
    if root is not None:
        values["registry_path"] = root
    # A relative SQLite path would resolve against the directory each run starts in.
    for name in ("db_url", "app_db_url"):
        if isinstance(values.get(name), str):
            values[name] = absolute_sqlite_url(values[name])
    tables = {name: dict(table) for name, table in sorted(settings.task_config.items())}
    # Notifications: the file's own tables, each task's notify keys, and the values of the
    # variables the notifiers read their secrets from, which cron's bare environment lacks.
    source = settings.notify_source
    if source.get("notify"):
        values["notify"] = source["notify"]
    for name, keys in source.get("tasks", {}).items():
        if keys:
            tables.setdefault(name, {}).update(keys)
    if settings.emf_file is not None:
        values["emf_file"] = str(settings.emf_file)
    secrets = dict(settings.secret_env)
    for notifier in settings.notifiers.values():
        for variable in (notifier.secret_env, notifier.password_env):
            if variable and os.environ.get(variable):
                secrets[variable] = os.environ[variable]
    if secrets:
        values["secret_env"] = dict(sorted(secrets.items()))
    if tables:
        values["tasks"] = dict(sorted(tables.items()))
    return values


def absolute_sqlite_url(url: str) -> str:
    """Return a `sqlite:///relative.db` URL with its path made absolute (from the current directory)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix):].startswith("/"):
        return url
    rest, sep, query = url[len(prefix):].partition("?")
    if not rest or rest == ":memory:":
        return url
    return f"{prefix}{os.path.abspath(rest)}{sep}{query}"


def run_settings_toml(settings: Settings, registry: Registry, block_id: str) -> str:
    """Return the TOML text of `run_settings`, keys in a fixed order."""
    values = run_settings(settings, registry)
    lines = [
        f"# Written by `cronkit install` for the cron lines of block {block_id}: the settings install",
        "# ran with. Mode 0600: it may hold secrets (URLs with passwords, the secret key). Reinstall",
        "# after changing settings; do not edit.",
    ]
    tables = values.pop("tasks", {})
    for key in (*ENV_VARS, "emf_file", "notify", "secret_env"):
        if key in values:
            lines.append(f"{key} = {_toml_value(values[key])}")
    for name, table in tables.items():
        lines.append("")
        lines.append(f"[tasks.{_toml_key(name)}]")
        for key in sorted(table):
            lines.append(f"{_toml_key(key)} = {_toml_value(table[key])}")
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} into the run settings file")
