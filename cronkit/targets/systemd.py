"""Render the registry as systemd units: `<prefix><task>.service` and `<prefix><task>.timer`.

A timer's `OnCalendar=` lines name the schedule in the task's zone (`... Europe/Paris`).
systemd matches all the fields of one expression (AND); Debian's cron fires on a day that
matches the day-of-month OR the day-of-week when both are restricted, so such a schedule
gets two lines. A schedule that fires every hour at fixed minutes on every day is written
in UTC when the zone's offsets are whole hours: the same instants, and unlike a zone form it
keeps both passes of a repeated fall-back hour, as cron does. What remains different across
DST is pinned by the tests and stated in the README ("Other schedulers").
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from cronkit.config.settings import ENV_VARS, Settings
from cronkit.errors import UsageError
from cronkit.host import invoking_user
from cronkit.registry import Registry, Task
from cronkit.registry.limits import systemd_lines
from cronkit.registry.loader import registry_spec
from cronkit.registry.sets import registry_location
from cronkit.schedule import days_and, parse_fields
from cronkit.schedule.hostlines import whole_hour_offsets
from cronkit.targets.common import OUTER_MARGIN, rendered_by, value_runs

WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
# A word systemd reads as it is (after `%%`); any other is written in double quotes.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def _escape(text: str) -> str:
    """Return `text` with systemd's specifiers taken literally (`%` is `%%`)."""
    return text.replace("%", "%%")


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or ord(ch) == 0x7F


def systemd_word(text: str, argument: bool = False) -> str:
    """Return `text` as one word of ExecStart= (`argument`) or Environment=, which systemd reads back
    as `text`: specifiers resolved first, then quotes and C escapes, then (arguments only) `$`."""
    text = _escape(text.replace("$", "$$") if argument else text)
    if _PLAIN_WORD.fullmatch(text):
        return text
    quoted = "".join(_C_ESCAPES.get(ch) or (f"\\x{ord(ch):02x}" if _is_control(ch) else ch) for ch in text)
    return f'"{quoted}"'


def systemd_executable(path: str) -> str:
    """Return the first word of ExecStart=: systemd takes no escape, quote or `$` variable in it."""
    if any(ch in "'\"\\" or _is_control(ch) for ch in path):
        raise UsageError(f"--executable: {path!r}: systemd cannot run a path holding a quote, a backslash "
                         "or a control character")
    text = _escape(path)
    return text if _PLAIN_WORD.fullmatch(text) else f'"{text}"'


def registry_environment(registry: Registry, settings: Settings) -> dict[str, str]:
    """Return the variables that make a unit import the registry the way the cron lines do: the
    registry (a file by its absolute path) and, for a module from a directory of its own (the
    project directory), that directory as `registry_path`, which is looked in first."""
    spec, root = registry_location(registry, registry_spec(registry, settings), settings.adopted)
    # The adopted file alone: a unit loads it by the `adopted` setting (the home is in its environment).
    environment = {ENV_VARS["registry"]: spec} if spec else {}
    if root is not None:
        environment[ENV_VARS["registry_path"]] = root
    return environment


def unit_base(settings: Settings, task: str) -> str:
    return f"{settings.systemd.unit_prefix}{task}"


def _values(values: set[int], low: int, high: int) -> str:
    """Return a calendar component: '*' for all, else a list with `a..b` runs of three or more."""
    if values == set(range(low, high + 1)):
        return "*"
    return ",".join(f"{a:02d}..{b:02d}" if b - a >= 2 else ",".join(f"{v:02d}" for v in range(a, b + 1))
                    for a, b in value_runs(values))


def _weekdays(values: set[int]) -> str:
    # Monday first, as systemd counts: a range never wraps past Sunday.
    order = [1, 2, 3, 4, 5, 6, 0]
    picked = [i for i, day in enumerate(order) if day in values]
    parts: list[str] = []
    start = previous = picked[0]
    for value in [*picked[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        names = [WEEKDAYS[order[i]] for i in range(start, previous + 1)]
        parts.append(f"{names[0]}..{names[-1]}" if len(names) > 2 else ",".join(names))
        if value is not None:
            start = previous = value
    return ",".join(parts)


def calendar_expressions(expr: str, zone: str) -> list[str]:
    """Return the `OnCalendar=` values that fire at the schedule's instants in `zone`."""
    fields, sets = parse_fields(expr)
    minutes, hours, dom, months, dow = sets
    every_day = fields[2] == fields[3] == fields[4] == "*"
    if fields[1] == "*" and every_day and whole_hour_offsets(zone):
        zone = "UTC"
    time = f"{_values(hours, 0, 23)}:{_values(minutes, 0, 59)}:00"
    month_text = _values(months, 1, 12)
    all_days, all_weekdays = set(range(1, 32)), set(range(7))

    def line(days: set[int], weekdays: set[int]) -> str:
        prefix = "" if weekdays == all_weekdays else _weekdays(weekdays) + " "
        return f"{prefix}*-{month_text}-{_values(days, 1, 31)} {time} {zone}"

    if days_and(fields) or dom == all_days or dow == all_weekdays:
        if not days_and(fields):  # either covers every day: cron's OR fires daily
            return [line(all_days, all_weekdays)]
        return [line(dom, dow)]
    return [line(dom, all_weekdays), line(all_days, dow)]


def timeout_start(task: Task) -> int:
    return math.ceil(task.timeout) + OUTER_MARGIN


def unit_user(settings: Settings, user: str | None = None, user_units: bool = False) -> str | None:
    """Return the User= of the units: none for user units (the user's own systemd runs them as
    that user), else `user` (`--user NAME`), the `[systemd]` user, or whoever renders them, so
    that a system unit never runs as root by omission, against root's home and settings."""
    if user_units:
        return None
    return user or settings.systemd.user or invoking_user()


def service_lines(settings: Settings, description: str, unit_type: str, arguments: list[str],
                  executable: str, registry: Registry, run_as: str | None) -> list[str]:
    """Return the [Unit] section and the start of [Service] that every cronkit unit shares:
    `executable [--config FILE] ARGUMENTS`, the settings that decide what runs (the registry as
    the cron lines find it, the home whatever the unit's user), the secrets' file and the user
    (`run_as`, from unit_user)."""
    if not Path(executable).is_absolute():
        raise UsageError(f"--executable: {executable!r} must be an absolute path")
    command = []
    if settings.config_file is not None:
        command += ["--config", str(settings.config_file)]
    environment = {
        ENV_VARS["environment"]: settings.environment,
        **registry_environment(registry, settings),
        ENV_VARS["timezone"]: settings.timezone,
        # Always: the default home depends on the user's HOME (and XDG_STATE_HOME), which a unit
        # does not share with the shell that rendered it; the run log must be the one `history` reads.
        ENV_VARS["home"]: str(settings.home),
    }
    lines = [
        "[Unit]",
        f"Description={_escape(description)}",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        f"Type={unit_type}",
        "ExecStart=" + " ".join([systemd_executable(executable),
                                 *(systemd_word(word, argument=True) for word in [*command, *arguments])]),
        *(f"Environment={systemd_word(f'{key}={value}')}" for key, value in environment.items()),
    ]
    if settings.systemd.environment_file:
        lines.append(f"EnvironmentFile=-{_escape(settings.systemd.environment_file)}")
    if run_as:
        lines.append(f"User={systemd_word(run_as)}")
    return lines


def service(task: Task, settings: Settings, executable: str, registry: Registry, run_as: str | None) -> str:
    """Return the `.service` unit: one oneshot `cronkit run TASK --trigger cron`."""
    lines = service_lines(settings, f"cronkit task {task.name}: {task.description or task.schedule}", "oneshot",
                          ["run", task.name, "--trigger", "cron"], executable, registry, run_as)
    lines += [
        # cronkit enforces the timeout and records it; systemd steps in only if cronkit hangs.
        f"TimeoutStartSec={timeout_start(task)}",
        # Exit 75 means skipped (lock held, not enabled here): not a failure of the unit.
        "SuccessExitStatus=75",
        # The task's limits (SPEC 18): systemd enforces them on the whole unit, cronkit on the attempt.
        *systemd_lines(task.limits),
    ]
    if task.user and run_as is not None:  # the task's own user wins in a system unit; user units have none
        lines = [line for line in lines if not line.startswith("User=")] + [f"User={systemd_word(task.user)}"]
    return "\n".join(lines) + "\n"


def timer(task: Task, settings: Settings, base: str) -> str:
    """Return the `.timer` unit firing at the task's instants in its zone."""
    zone = task.zone(settings.timezone)
    lines = [
        "[Unit]",
        f"Description=cronkit schedule of {task.name}: {task.schedule} in {zone}",
        "",
        "[Timer]",
        *(f"OnCalendar={expression}" for expression in calendar_expressions(task.resolved_schedule, zone)),
        # A slot missed while the machine was off runs at boot unless the task skips catch-up.
        f"Persistent={'false' if task.catchup == 'skip' else 'true'}",
        "AccuracySec=1s",
        "RandomizedDelaySec=0",
        f"Unit={base}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
    ]
    return "\n".join(lines) + "\n"


def render(registry: Registry, settings: Settings, executable: str, user: str | None = None,
           user_units: bool = False) -> dict[str, str]:
    """Return {unit file name: text} for the tasks enabled in the settings' environment: system
    units run as unit_user(settings, user), user units (`user_units`) as their owner."""
    run_as = unit_user(settings, user, user_units)
    if not Path(executable).is_absolute():
        raise UsageError(f"--executable: {executable!r} must be an absolute path")
    header = (f"{rendered_by(registry.id or registry_spec(registry, settings), settings.environment)}. "
              "Edits are overwritten by `cronkit install --target systemd`.\n")
    files: dict[str, str] = {}
    for task in registry.enabled_in(settings.environment, settings.task_config):
        base = unit_base(settings, task.name)
        files[f"{base}.service"] = header + service(task, settings, executable, registry, run_as)
        files[f"{base}.timer"] = header + timer(task, settings, base)
    return files
