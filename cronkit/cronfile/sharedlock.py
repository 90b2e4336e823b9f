"""Lock what installs really share: a user's crontab, or the cron.d directory.

The install lock under CRONKIT_HOME serialises the installs of one home; two projects (two
homes) writing into the same crontab need a lock keyed by the crontab itself, or one's
read-modify-write drops the other's block.

- User target: `<dir>/cronkit-crontab-<user>.lock`, where `<dir>` is /run/lock when it is a
  sticky, world-writable directory (as on Debian), else /tmp: chosen from the directory's mode
  alone, so root installing with `-u USER` and USER installing for themselves pick the same
  file. The file is created 0600 without following links and, when root creates it for
  another user, given to that user; an existing file owned by anyone but that user or root is
  refused (a squatter could otherwise hold it, or make us lock a file nobody else locks).
- cron.d target: the cron.d directory itself is flock()ed; no file is created in it.

flock(2) needs no write access, so the lock file is opened read-only.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cronkit.cronfile.io import CrontabUnavailable, Location
from cronkit.errors import CronkitError
from cronkit.host import invoking_user

LOCK_DIRS = ("/run/lock", "/tmp")
POLL_SECONDS = 0.1


def lock_dir() -> str:
    """Return the shared lock directory: the first of LOCK_DIRS that is sticky and world-writable."""
    for candidate in LOCK_DIRS:
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o1002 == 0o1002:
            return candidate
    return LOCK_DIRS[-1]


def lock_path(user: str) -> Path:
    """Return the lock file of `user`'s crontab (unsafe characters of the name hex-escaped)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"%{ord(m.group()):02x}", user)
    return Path(lock_dir()) / f"cronkit-crontab-{safe}.lock"


def _owner_uid(user: str) -> int | None:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _open_user_lock(user: str) -> tuple[int, Path]:
    path = lock_path(user)
    owner = _owner_uid(user)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
            if os.geteuid() == 0 and owner is not None and owner != 0:
                os.fchown(fd, owner, -1)
        except FileExistsError:
            fd = os.open(path, flags)
    except OSError as exc:
        raise CrontabUnavailable(
            f"cannot open the crontab lock {path}: {exc.strerror}; if another user made it, remove it"
        ) from None
    st = os.fstat(fd)
    allowed = {0, os.geteuid()} | ({owner} if owner is not None else set())
    if not stat.S_ISREG(st.st_mode) or st.st_uid not in allowed or st.st_nlink != 1:
        os.close(fd)
        raise CrontabUnavailable(
            f"refusing the crontab lock {path}: owned by uid {st.st_uid}, not {user} or root "
            "(or not a plain file); remove it"
        )
    return fd, path


def _open_dir_lock(directory: Path) -> tuple[int, Path]:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise CrontabUnavailable(f"cannot lock {directory}: {exc.strerror}") from None
    return fd, directory


@contextmanager
def crontab_lock(location: Location, wait: float, busy: type[CronkitError]) -> Iterator[Path]:
    """Hold the lock of the crontab at `location` (flock); raise `busy` after `wait` seconds."""
    if location.target == "cron.d":
        assert location.path is not None
        fd, path = _open_dir_lock(location.path.parent)
    else:
        fd, path = _open_user_lock(location.user or invoking_user())
    try:
        if not flock_within(fd, wait):
            raise busy(f"another install into {location.describe()} holds {path}; try again later")
        yield path
    finally:
        os.close(fd)


def flock_within(fd: int, wait: float) -> bool:
    """Take an exclusive flock on `fd`, polling for at most `wait` seconds; False when it stayed held."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)
