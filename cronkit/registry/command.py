"""A shell command as a task (SPEC 17): what `registry.command` records, checked at registration.

Plain data and its validation only; the forked attempt runs it (runner/command.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from cronkit.errors import RegistryError
from cronkit.plain import field, record

ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"  # text: compiled only when a command task sets env
DESCRIPTION_CHARS = 100


@record(frozen=True)
class CommandSpec:
    """How to run a command task: `shell -c command` in `cwd`, with `env` over the run's environment."""

    command: str
    shell: str = "/bin/sh"
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cwd: str | None = None
    success_codes: tuple[int, ...] = (0,)
    retry_codes: tuple[int, ...] = ()

    def outcome(self, code: int) -> str:
        """Return what an exit code means: `succeeded`, `retry` (transient) or `failed`."""
        if code in self.success_codes:
            return "succeeded"
        return "retry" if code in self.retry_codes else "failed"


def command_spec(where: str, command: str, shell: str, env: Mapping[str, str] | None, cwd: str | None,
                 success_codes: Iterable[int], retry_codes: Iterable[int]) -> CommandSpec:
    """Validate a command task's options; raise RegistryError naming the one that is wrong."""
    if not isinstance(command, str) or not command.strip():
        raise RegistryError(f"{where}: command must be a non-empty string")
    if "\0" in command:
        raise RegistryError(f"{where}: command holds a NUL byte")
    if not isinstance(shell, str) or not os.path.isabs(shell):
        raise RegistryError(f"{where}: shell must be an absolute path, such as /bin/sh")
    if cwd is not None and (not isinstance(cwd, str) or not os.path.isabs(cwd)):
        raise RegistryError(f"{where}: cwd must be an absolute path")
    checked: dict[str, str] = {}
    for name, value in (env or {}).items():
        if not isinstance(name, str) or not re.fullmatch(ENV_NAME, name):
            raise RegistryError(f"{where}: env: {name!r} is not a variable name")
        if not isinstance(value, str) or "\0" in value:
            raise RegistryError(f"{where}: env {name}: the value must be a string without NUL")
        checked[name] = value
    success, retry = _codes(where, "success_codes", success_codes), _codes(where, "retry_codes", retry_codes)
    if not success:
        raise RegistryError(f"{where}: success_codes must name at least one exit code")
    if set(success) & set(retry):
        raise RegistryError(f"{where}: exit code {min(set(success) & set(retry))} is in both success_codes "
                            "and retry_codes")
    return CommandSpec(command, shell, MappingProxyType(checked), cwd, success, retry)


def _codes(where: str, what: str, codes: Iterable[int]) -> tuple[int, ...]:
    """Return exit codes as a tuple, each a whole number from 0 to 255."""
    if isinstance(codes, int):
        codes = (codes,)
    values = tuple(codes)
    for code in values:
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
            raise RegistryError(f"{where}: {what}: {code!r} is not an exit code (0-255)")
    return values


def describe_command(command: str) -> str:
    """Return a one-line description of a command: its first line, shortened."""
    line = " ".join(command.strip().splitlines()[0].split()) if command.strip() else ""
    return line if len(line) <= DESCRIPTION_CHARS else line[:DESCRIPTION_CHARS - 1] + "…"
