"""Per-task limits (SPEC section 18): what one run of a task may consume, as the kernel enforces it.

Cron has nothing like systemd's `MemoryMax=` or Kubernetes' `resources.limits`, so cronkit sets
rlimits in the attempt's own process before the task runs (setrlimit, inherited by whatever the
task starts): each limit is a named kernel limit, so a run it stops can be told by how it ended
(MemoryError, EMFILE, SIGXCPU, SIGXFSZ) and recorded `failed` with the limit's name, not a guess
from a measured figure. `memory` is the address space (RLIMIT_AS), the one memory limit a
process can set on itself without a cgroup; `cpu` is CPU time (RLIMIT_CPU: SIGXCPU at the limit,
SIGKILL a grace later); `fsize` the largest file it may write. Standard library only: the child
applies them on the run path.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import signal
from collections.abc import Callable, Mapping

from cronkit.errors import RegistryError
from cronkit.plain import TYPE_CHECKING, field, record

if TYPE_CHECKING:
    from typing import Any

KEYS = ("memory", "cpu", "nofile", "nproc", "fsize")
CPU_KILL_GRACE = 5  # seconds of CPU between SIGXCPU (soft) and SIGKILL (hard)
NICE_RANGE = range(-20, 20)
_SIZE = r"(?i)(\d+)([KMGT]?)i?B?"  # text: compiled only when a task limits memory or files
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


@record(frozen=True)
class Limits:
    """A task's limits, in the kernel's units; `written` keeps each as the registry wrote it."""

    memory: int | None = None  # bytes of address space
    cpu: int | None = None  # seconds of CPU time
    nofile: int | None = None
    nproc: int | None = None
    fsize: int | None = None  # bytes
    nice: int | None = None
    written: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(getattr(self, key) is not None for key in (*KEYS, "nice"))

    def said(self, key: str) -> str:
        """Return the limit as the registry wrote it (`512M`, `10m`)."""
        return self.written.get(key, str(getattr(self, key)))


def parse_size(where: str, value: Any) -> int:
    """Return bytes for `512M`, `1G`, `64K`, `2048` (binary units, as systemd reads them)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(_SIZE, str(value).strip()) if isinstance(value, str) else None
    if match is None or int(match.group(1)) <= 0:
        raise RegistryError(f"{where}: {value!r} is not a size such as 512M, 1G or 65536")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def _count(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RegistryError(f"{where}: must be a whole number > 0")
    return value


def parse_limits(where: str, limits: Mapping[str, Any] | None, nice: int | None,
                 parse_duration: Callable[[Any, str], float]) -> Limits:
    """Check a registration's `limits` and `nice` (`cpu` read by `parse_duration`); RegistryError naming the bad key."""
    limits = dict(limits or {})
    for key in limits:
        if key not in KEYS:
            raise RegistryError(f"{where}: limits.{key}: unknown limit (known: {', '.join(KEYS)})")
    values: dict[str, Any] = {}
    if "memory" in limits:
        values["memory"] = parse_size(f"{where}: limits.memory", limits["memory"])
    if "fsize" in limits:
        values["fsize"] = parse_size(f"{where}: limits.fsize", limits["fsize"])
    if "cpu" in limits:
        seconds = parse_duration(limits["cpu"], f"{where}: limits.cpu")
        if seconds < 1:
            raise RegistryError(f"{where}: limits.cpu: must be at least 1s of CPU time")
        values["cpu"] = int(seconds)
    for key in ("nofile", "nproc"):
        if key in limits:
            values[key] = _count(f"{where}: limits.{key}", limits[key])
    if nice is not None and (isinstance(nice, bool) or not isinstance(nice, int) or nice not in NICE_RANGE):
        raise RegistryError(f"{where}: nice must be a whole number from -20 to 19")
    return Limits(**values, nice=nice, written={k: str(v) for k, v in limits.items()})


def apply(limits: Limits) -> None:
    """Set the limits on this process (the attempt's child, before the task runs)."""
    def cap(kind: int, soft: int, hard: int | None = None) -> None:
        current_hard = resource.getrlimit(kind)[1]
        wanted = soft if hard is None else hard
        if current_hard != resource.RLIM_INFINITY:
            wanted, soft = min(wanted, current_hard), min(soft, current_hard)
        resource.setrlimit(kind, (soft, wanted))

    if limits.memory is not None:
        cap(resource.RLIMIT_AS, limits.memory)
    if limits.cpu is not None:
        cap(resource.RLIMIT_CPU, limits.cpu, limits.cpu + CPU_KILL_GRACE)
    if limits.nofile is not None:
        cap(resource.RLIMIT_NOFILE, limits.nofile)
    if limits.nproc is not None:
        cap(resource.RLIMIT_NPROC, limits.nproc)
    if limits.fsize is not None:
        cap(resource.RLIMIT_FSIZE, limits.fsize)
    if limits.nice is not None:
        os.nice(limits.nice - os.nice(0))


def broken_by(limits: Limits, exc: BaseException) -> str | None:
    """Return the limit a task's exception says it ran into (`memory limit 512M exceeded`), else None."""
    if limits.memory is not None and isinstance(exc, MemoryError):
        return f"memory limit {limits.said('memory')} exceeded"
    if isinstance(exc, OSError):
        if limits.nofile is not None and exc.errno in (errno.EMFILE, errno.ENFILE):
            return f"nofile limit {limits.said('nofile')} exceeded (too many open files)"
        if limits.nproc is not None and exc.errno == errno.EAGAIN:
            return f"nproc limit {limits.said('nproc')} exceeded (cannot start a process)"
        if limits.fsize is not None and exc.errno == errno.EFBIG:
            return f"fsize limit {limits.said('fsize')} exceeded (file too large)"
        if limits.memory is not None and exc.errno == errno.ENOMEM:
            return f"memory limit {limits.said('memory')} exceeded"
    return None


def killed_by(limits: Limits, signum: int, cpu_seconds: float | None = None) -> str | None:
    """Return the limit a signal that ended the attempt stands for, else None."""
    if limits.cpu is not None and (signum == signal.SIGXCPU or (
            signum == signal.SIGKILL and cpu_seconds is not None and cpu_seconds >= limits.cpu)):
        return f"cpu limit {limits.said('cpu')} exceeded"
    if limits.fsize is not None and signum == signal.SIGXFSZ:
        return f"fsize limit {limits.said('fsize')} exceeded"
    return None


def systemd_lines(limits: Limits) -> list[str]:
    """Return the [Service] lines of the limits (`MemoryMax=`, `LimitCPU=`, `LimitNOFILE=`, `LimitNPROC=`, `Nice=`)."""
    lines = []
    if limits.memory is not None:
        lines.append(f"MemoryMax={limits.memory}")
    # No LimitFSIZE=: on the unit it would bound cronkit's own writes too (the run log, the task
    # log), and a run log larger than the task's limit would fail every run; cronkit sets it on the
    # attempt alone.
    for key, directive in (("cpu", "LimitCPU"), ("nofile", "LimitNOFILE"), ("nproc", "LimitNPROC")):
        value = getattr(limits, key)
        if value is not None:
            lines.append(f"{directive}={value}")
    if limits.nice is not None:
        lines.append(f"Nice={limits.nice}")
    return lines


def _quantity(size: int) -> str:
    """Return bytes as a Kubernetes quantity: `512Mi`, `1Gi`, or plain bytes."""
    for suffix, unit in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def kubernetes_limits(limits: Limits) -> tuple[dict[str, str], list[str]]:
    """Return `resources.limits` of the limits, and a note for each limit Kubernetes cannot express."""
    resources = {"memory": _quantity(limits.memory)} if limits.memory is not None else {}
    notes = [f"limits.{key} {limits.said(key)} has no container limit: cronkit sets it on the task's process in the pod"
             for key in ("cpu", "nofile", "nproc", "fsize") if getattr(limits, key) is not None]
    if limits.nice is not None:
        notes.append(f"nice {limits.nice} is not expressible in a pod spec; the pod runs at the default priority")
    return resources, notes


__all__ = ["KEYS", "Limits", "apply", "broken_by", "killed_by", "kubernetes_limits", "parse_limits",
           "parse_size", "systemd_lines"]
