"""Facts about this host: its name as cronkit records it, its processes (from /proc), its user.

Imported on the run path: standard library only.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

# os.uname().nodename is what socket.gethostname() returns on Linux, without importing socket.
_name = os.uname().nodename
# Process names of cron daemons (Debian cron, cronie/busybox crond, fcron, dcron).
CRON_DAEMON_NAMES = frozenset({"cron", "crond", "fcron", "dcron", "cronie"})


def hostname() -> str:
    """Return the host name cronkit records and compares (runs, locks, slots).

    The `hostname` setting (CRONKIT_HOSTNAME) overrides the system's, for containers whose host
    names change with every start and for tests that play several hosts; `config.activate`
    applies it.
    """
    return _name


def set_hostname(name: str) -> None:
    """Record this process's host name (called by `config.activate` with the setting)."""
    global _name
    _name = name


def process_start(pid: int) -> int | None:
    """Return a process's start time in clock ticks since boot, None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rpartition(b")")[2].split()
    return int(fields[19])


def is_alive(pid: int, start: int | None) -> bool:
    """Tell whether the process that was `pid` (started at `start`) still runs on this host."""
    current = process_start(pid)
    if current is None:
        return False
    return start is None or current == start


def children_of(parent: int) -> list[int]:
    """Return the pids whose parent is `parent`, from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        if int(stat[stat.rindex(b")") + 2:].split()[1]) == parent:
            found.append(int(name))
    return found


def cron_daemon_pids(proc: Path = Path("/proc")) -> list[int]:
    """Return the pids of cron daemon processes running on this host (not zombies)."""
    pids = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            if name not in CRON_DAEMON_NAMES:
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state = stat.rpartition(")")[2].split()[:1]
        if state and state[0] not in ("Z", "X"):
            pids.append(int(entry.name))
    return sorted(pids)


def invoking_user() -> str:
    """Return the name of the user running this process (the default user field of cron.d lines)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def cli_actor() -> str:
    """Return who ran a command, as the audit records it: `cli:<user>`, the user of the process's
    real uid (its number when it has no name), and for root under sudo the user who ran sudo too
    (`cli:root (sudo: alice)`): the login variables are the user's to set, the uid is not."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid {uid}"
    sudo = os.environ.get("SUDO_USER") if uid == 0 else None
    return (f"cli:{name}" + (f" (sudo: {sudo})" if sudo and sudo != name else ""))[:64]  # the audit's column


__all__ = ["CRON_DAEMON_NAMES", "cli_actor", "children_of", "cron_daemon_pids", "hostname", "invoking_user", "is_alive",
           "process_start", "set_hostname"]
