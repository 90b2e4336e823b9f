"""Write a file so that a reader sees the old one or the whole new one, never half of it.

One helper for every file cronkit rewrites in place: reports, rendered units and manifests, the
run settings and install state, cron.d files, metrics files, run-outcome journals and start-failure
records. Standard library only and cheap to import: the run path writes journals and records.
"""

from __future__ import annotations

import os
from pathlib import Path

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644, *, owner: tuple[int, int] | None = None,
                 sync_dir: bool = False, sync: bool = True) -> None:
    """Write `data` to `path` through a temp file in the same directory, then rename it over `path`.

    The temp file is `.<name>.<random>.tmp`: a dotted name, which Debian's cron (cron.d) and
    node_exporter's textfile collector (*.prom) both skip. It is created exclusively without
    following links, given `mode` with fchmod (whatever the umask) and `owner` when given,
    fsynced, and removed if anything fails. `sync_dir` also fsyncs the directory, so that the
    rename itself survives a crash; `sync=False` skips the file's fsync too, for a file rebuilt
    from elsewhere at the next occasion (a metrics file). Text is UTF-8, with surrogateescape for foreign bytes read
    the same way (a user's crontab).
    """
    payload = data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else data
    fd, tmp = _create_temp(path)
    try:
        try:
            os.fchmod(fd, mode)
            if owner is not None:
                os.fchown(fd, *owner)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Flush a directory's entries (a rename or an unlink in it) to disk."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _create_temp(path: Path) -> tuple[int, Path]:
    while True:
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, _FLAGS, 0o600), tmp
        except FileExistsError:  # 48 random bits: only a collision brings us here
            continue


__all__ = ["fsync_dir", "write_atomic"]
