"""Walk the log directory by descriptors: yield its regular files, report everything else.

Every directory is opened relative to its parent's descriptor with O_NOFOLLOW, so no link is
followed; links are reported (inside or pointing out), other file systems and directories
deeper than MAX_DEPTH are not entered, hidden files are not logs.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from cronkit.tasks.logs.fileops import TEMP_PREFIX, unlink_quietly
from cronkit.tasks.logs.names import classify
from cronkit.tasks.logs.report import Report

STALE_TEMP_SECONDS = 3600
MAX_DEPTH = 16

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Entry:
    """One regular file found under the log directory."""

    dir_fd: int
    rel_dir: str
    name: str
    st: os.stat_result
    log: str | None  # group name for rotated files, None for live logs
    compressed: bool
    fresh: bool = False  # made by this run: nobody else has it open
    gone: bool = False

    @property
    def rel(self) -> str:
        """Return the path relative to the log directory."""
        return f"{self.rel_dir}/{self.name}" if self.rel_dir else self.name

    @property
    def key(self) -> tuple[int, int]:
        """Return (device, inode): the file's identity, whatever its name."""
        return (self.st.st_dev, self.st.st_ino)


def scan(
    dir_fd: int, rel_dir: str, root_real: str, root_dev: int, depth: int,
    dir_fds: list[int], report: Report, now: datetime,
) -> Iterator[Entry]:
    """Yield the regular files below `dir_fd`, reporting and skipping everything else."""
    subdirs: list[str] = []
    with os.scandir(dir_fd) as it:
        for de in it:
            name = de.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                st = de.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                _report_link(dir_fd, rel_dir, name, rel, root_real, report)
            elif stat.S_ISDIR(mode):
                if st.st_dev != root_dev:
                    report.skip(rel, "other_filesystem")
                elif depth >= MAX_DEPTH:
                    report.skip(rel, "too_deep")
                else:
                    subdirs.append(name)
            elif not stat.S_ISREG(mode):
                report.skip(rel, "not_a_regular_file")
            elif name.startswith(TEMP_PREFIX):
                # A temporary file of an interrupted run of ours: remove it once clearly stale.
                if time.time() - st.st_mtime > STALE_TEMP_SECONDS and not report.dry_run:
                    unlink_quietly(name, dir_fd)
            elif name.startswith("."):
                continue  # hidden files (.gitkeep, editor swap files) are not logs
            else:
                group = classify(name)
                yield Entry(dir_fd, rel_dir, name, st, group[0] if group else None,
                            bool(group and group[1]))
    for name in subdirs:
        rel = f"{rel_dir}/{name}" if rel_dir else name
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            # ELOOP: replaced by a symlink since the scan; anything else: not ours to read.
            report.skip(rel, "unreadable_directory", exc.strerror or "")
            continue
        dir_fds.append(fd)
        yield from scan(fd, rel, root_real, root_dev, depth + 1, dir_fds, report, now)


def _report_link(
    dir_fd: int, rel_dir: str, name: str, rel: str, root_real: str, report: Report
) -> None:
    try:
        target = os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return
    # realpath only computes where the link leads; nothing is opened through it.
    where = os.path.realpath(os.path.join(root_real, rel_dir, name))
    inside = where == root_real or where.startswith(root_real + os.sep)
    report.skip(rel, "symlink" if inside else "symlink_outside", target)
