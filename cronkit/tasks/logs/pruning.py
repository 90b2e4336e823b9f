"""Decide and carry out the pass: rotate big live logs, delete by age and count, compress.

A rotated file a writer may still be appending to (open for writing by a visible process, or
modified less than ACTIVE_WINDOW_SECONDS ago) is reported and left alone.
"""

from __future__ import annotations

import os
import stat
import time
from datetime import datetime

from cronkit.context import TaskContext
from cronkit.errors import ConfigError
from cronkit.tasks.logs.fileops import Skip, copy_truncate, gzip_atomically
from cronkit.tasks.logs.policy import Policy
from cronkit.tasks.logs.report import Report
from cronkit.tasks.logs.scan import Entry, scan
from cronkit.tasks.logs.writers import open_for_writing

ACTIVE_WINDOW_SECONDS = 300


def prune_directory(
    log_dir: str, policy: Policy, now: datetime, dry_run: bool, ctx: TaskContext | None = None
) -> Report:
    """Rotate, delete, cap and compress under `log_dir` by `policy`, as of `now`."""
    report = Report(dry_run=dry_run)
    # The log directory itself must not be a symlink: its last component is opened with
    # O_NOFOLLOW (a trailing slash would make the kernel follow it, hence the strip). Links
    # among its parents (/var/log -> /data/log) are the host's layout and are followed.
    path = log_dir.rstrip("/") or "/"
    try:
        root_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        report.counts["log_dir_missing"] = 1
        return report
    except OSError as exc:
        if os.path.islink(path):
            raise ConfigError(
                f"daily-log-pruning: log directory {log_dir} is a symlink to "
                f"{os.readlink(path)}; links are not followed: set CRONKIT_LOG_DIR to the "
                f"directory itself ({os.path.realpath(path)})"
            ) from None
        raise ConfigError(
            f"daily-log-pruning: cannot open log directory {log_dir}: {exc.strerror}"
        ) from None
    root_real = os.path.realpath(log_dir)
    dir_fds = [root_fd]
    try:
        root_dev = os.fstat(root_fd).st_dev
        entries = list(scan(root_fd, "", root_real, root_dev, 0, dir_fds, report, now))
        report.counts["files_scanned"] = len(entries)
        if ctx is not None:
            ctx.check_cancelled()
        pruner = _Pruner(policy, now, dry_run, report, ctx)
        # Compression and rotation sync their directory themselves; plain deletions need no
        # sync (a deletion lost in a crash is simply redone by the next run).
        pruner.run(entries)
    finally:
        for fd in dir_fds:
            os.close(fd)
    return report


class _Pruner:
    """Carry out one pass's decisions over the scanned entries, recording them in the report."""

    def __init__(self, policy: Policy, now: datetime, dry_run: bool, report: Report,
                 ctx: TaskContext | None) -> None:
        self.policy = policy
        self.now_ts = now.timestamp()
        self.now = now
        self.dry_run = dry_run
        self.report = report
        self.ctx = ctx
        self.writers: set[tuple[int, int]] | None = None
        self.entries: list[Entry] = []

    def run(self, entries: list[Entry]) -> None:
        """Rotate oversized live logs, delete by age then by count, compress what is left."""
        self.entries = entries
        live = [e for e in entries if e.log is None]
        for entry in live:
            if entry.st.st_size > self.policy.max_bytes:
                self._cancel_point()
                self.rotate(entry)
        rotated = [e for e in self.entries if e.log is not None]
        # A rotation never feeds a deletion in the same run: the copies this run made (fresh)
        # are neither aged nor counted against max_files until the next run, which dates
        # them at their rotation (copy_truncate gives the copy that mtime).
        cutoff = self.now_ts - self.policy.retention_days * 86400
        for entry in rotated:
            if not entry.fresh and entry.st.st_mtime < cutoff:
                self.delete(entry, "retention")
        groups: dict[tuple[int, str], list[Entry]] = {}
        for entry in rotated:
            if not entry.gone and not entry.fresh:
                groups.setdefault((entry.dir_fd, entry.log or ""), []).append(entry)
        for members in groups.values():
            if len(members) > self.policy.max_files:
                members.sort(key=lambda e: (e.st.st_mtime_ns, e.name), reverse=True)
                for entry in members[self.policy.max_files:]:
                    self.delete(entry, "max_files")
        if self.policy.compress:
            for entry in rotated:
                if not entry.gone and not entry.compressed and entry.log is not None:
                    self._cancel_point()
                    self.compress(entry)

    def _cancel_point(self) -> None:
        if self.ctx is not None:
            self.ctx.check_cancelled()

    # -- in-use detection ---------------------------------------------------------------------

    def in_use(self, entry: Entry) -> str | None:
        """Return why `entry` must be left alone because a writer may be appending, or None."""
        if entry.fresh:
            return None
        # Wall-clock time on purpose: this is about a writer active right now, not about the
        # run's (possibly pinned) reference instant.
        if time.time() - entry.st.st_mtime < ACTIVE_WINDOW_SECONDS:
            return "recently_modified"
        if self.writers is None:
            keys = {e.key for e in self.entries if e.log is not None}
            self.writers = open_for_writing(keys)
        if entry.key in self.writers:
            return "open_for_writing"
        return None

    def _still_same(self, entry: Entry) -> bool:
        try:
            st = os.stat(entry.name, dir_fd=entry.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            entry.gone = True
            return False
        return (st.st_ino == entry.st.st_ino and stat.S_ISREG(st.st_mode)
                and st.st_mtime_ns == entry.st.st_mtime_ns and st.st_size == entry.st.st_size)

    # -- actions ------------------------------------------------------------------------------

    def delete(self, entry: Entry, why: str) -> None:
        """Delete a rotated file (`why`: retention or max_files) unless it is in use or changed."""
        if entry.fresh:  # made by this run's rotation: never deleted by the same run
            return
        busy = self.in_use(entry)
        if busy:
            self.report.skip(entry.rel, busy, f"would be deleted ({why})")
            return
        if not self.dry_run:
            if not self._still_same(entry):
                if not entry.gone:
                    self.report.skip(entry.rel, "changed_during_run")
                return
            try:
                os.unlink(entry.name, dir_fd=entry.dir_fd)
            except FileNotFoundError:
                entry.gone = True
                return
            except OSError as exc:
                self.report.skip(entry.rel, "delete_failed", exc.strerror or "")
                return
        entry.gone = True
        self.report.counts["files_deleted"] += 1
        self.report.counts["bytes_deleted"] += entry.st.st_size
        self.report.counts[f"deleted_{why}"] += 1

    def rotate(self, entry: Entry) -> None:
        """Copy a live log to `<name>-YYYYMMDD-HHMMSS` and truncate it in place."""
        if entry.st.st_nlink > 1:
            self.report.skip(entry.rel, "hard_link", "not rotated")
            return
        stamp = self.now.strftime("%Y%m%d-%H%M%S")
        if self.dry_run:
            self.report.counts["files_rotated"] += 1
            self.report.counts["bytes_rotated"] += entry.st.st_size
            virtual = Entry(entry.dir_fd, entry.rel_dir, f"{entry.name}-{stamp}", entry.st,
                            entry.name, False, fresh=True)
            self.entries.append(virtual)
            return
        try:
            copied = copy_truncate(entry.dir_fd, entry.name, entry.st, f"{entry.name}-{stamp}")
        except Skip as skip:
            self.report.skip(entry.rel, skip.reason, skip.detail)
            return
        new_name, new_st, size = copied
        self.report.counts["files_rotated"] += 1
        self.report.counts["bytes_rotated"] += size
        self.entries.append(Entry(entry.dir_fd, entry.rel_dir, new_name, new_st, entry.name,
                                  False, fresh=True))

    def compress(self, entry: Entry) -> None:
        """Gzip a rotated file in place unless it has other links or is in use."""
        if entry.st.st_nlink > 1:
            self.report.skip(entry.rel, "hard_link", "not compressed")
            return
        busy = self.in_use(entry)
        if busy:
            self.report.skip(entry.rel, busy, "not compressed")
            return
        if self.dry_run:
            self.report.counts["files_compressed"] += 1
            self.report.counts["bytes_compressed"] += entry.st.st_size
            return
        try:
            out_size = gzip_atomically(entry.dir_fd, entry.name, entry.st)
        except Skip as skip:
            self.report.skip(entry.rel, skip.reason, skip.detail)
            return
        entry.gone = True
        self.report.counts["files_compressed"] += 1
        self.report.counts["bytes_compressed"] += entry.st.st_size
        self.report.counts["bytes_after_compression"] += out_size
