"""The user a cron.d file's lines run as, when root installs them for another user.

Those lines read the run settings file and write the run log under the home, so the user must
reach the home (every directory above it searchable by them) and own it. `install` checks that
first (a dry run too) and refuses with what to change; then it creates a missing home for the
user, and hands them the files it writes there as root (the 0600 run settings file, the SQLite
run log). A user this host does not know is left alone: the file may be meant for another host.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from cronkit.errors import ConfigError

if TYPE_CHECKING:
    import pwd


def other_line_user(target: str, user: str | None) -> pwd.struct_passwd | None:
    """Return the password entry of the cron.d lines' user when it is a user of this host other than us."""
    if target != "cron.d" or user is None:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry if entry.pw_uid != os.geteuid() else None


def check_reach(entry: pwd.struct_passwd, home: Path, run_config: Path) -> list[Path]:
    """Refuse (exit 78) a home or run settings directory the lines' user could not use; return
    the directories install will create, to be handed over with `hand_over`."""
    name = entry.pw_name
    if os.geteuid() != 0:
        raise ConfigError(f"--user {name}: only root installs cron.d lines that run as another user")
    made: list[Path] = []
    groups = set(os.getgrouplist(name, entry.pw_gid))
    for directory in dict.fromkeys([home, run_config.parent]):
        if not directory.exists():
            if not directory.parent.exists() and directory.parent not in made:
                raise ConfigError(f"cron.d lines run as {name}: create {directory.parent} first"
                                  f" (a directory {name} can reach)")
            made.append(directory)
        elif directory == home and home.stat().st_uid != entry.pw_uid:
            raise ConfigError(f"cron.d lines run as {name}, but {home} belongs to {_owner(home)}:"
                              f" `chown {name} {home}` or choose a home {name} owns (--home)")
        for ancestor in (directory if directory.exists() else directory.parent, *directory.parents):
            if ancestor.exists() and ancestor not in made and not _can_enter(entry.pw_uid, groups, ancestor):
                raise ConfigError(f"cron.d lines run as {name}, who cannot reach {directory}:"
                                  f" {_mode_of(ancestor)}; choose a home {name} can reach (--home)")
    return made


def hand_over(entry: pwd.struct_passwd, *paths: Path) -> None:
    """Give the lines' user the files and directories install made for them (root only)."""
    for path in paths:
        if path.exists():
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _can_enter(uid: int, groups: set[int], path: Path) -> bool:
    """Whether a user (uid, groups) may search the directory `path`: the owner's, group's or others' x bit."""
    info = path.stat()
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _owner(path: Path) -> str:
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _mode_of(path: Path) -> str:
    return f"{path} is {stat.filemode(path.stat().st_mode)} {_owner(path)}"
