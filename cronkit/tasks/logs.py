"""daily-log-pruning: delete, compress, rotate and cap the log files of the log directory.

Vocabulary (also in the README, "Maintenance tasks"):

- A **rotated** file is one whose name carries a rotation mark, optionally followed by a
  compression suffix (`.gz .bz2 .xz .zst .lz4`): `app.log.3`, `app.log-20240501`,
  `app.log-20240501-040000`, `app.log.2024-05-01`, `app.log.2024-05-01_13`, the daily files
  of winston and friends (`app-2024-05-01.log`, `app.20240501.log`), or a bare `app.log.gz`.
  Its **log** (the group `max_files` counts in) is the name without those marks: `app.log`.
- Every other regular file is a **live log**: the file a writer appends to. A live log is never
  deleted or compressed; when it outgrows `max_file_size_mb` it is rotated by copy-truncate
  (copied to `<name>-YYYYMMDD-HHMMSS`, then truncated in place), so writers holding it open
  keep working.
- A rotated file is **in use**, and left alone, when a process this user can inspect holds it
  open for writing (`/proc/<pid>/fd` + `fdinfo`, a few milliseconds on a busy host) or when
  it was modified less than `ACTIVE_WINDOW_SECONDS` ago (which also covers writers of other
  users that /proc does not show, such as a daemon still writing to `app.log.1` before
  logrotate's postrotate signal reopened its file).

Safety with hostile contents: every path below the log directory is opened relative to a
directory file descriptor with O_NOFOLLOW, so no symlink is ever followed (a link, including
one made of `..` that points out of the directory, is reported and left alone); files with
several hard links are never read, copied or truncated (the other name may be outside);
other file systems mounted inside the directory are not entered.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import secrets
import stat
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cronkit.context import TaskContext
from cronkit.errors import ConfigError

ACTIVE_WINDOW_SECONDS = 300
STALE_TEMP_SECONDS = 3600
MAX_DEPTH = 16
MAX_REPORTED_PATHS = 50
COPY_CHUNK = 1 << 20
TEMP_PREFIX = ".cronkit-tmp-"
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4")

# A rotation mark at the end of a name: .N, -YYYYMMDD[-HHMMSS], .YYYY-MM-DD[_HH[-MM[-SS]]].
_SUFFIX = re.compile(
    r"(?P<base>.+?)"
    r"(?:\.\d{1,6}|-\d{8}(?:[-_]?\d{2,6})?|\.\d{4}-\d{2}-\d{2}(?:_\d{2}(?:-\d{2}){0,2})?)"
)
# A date inside the name, before the extension: app-2024-05-01.log, app.20240501.log.
_INFIX = re.compile(
    r"(?P<stem>.+?)[-._](?:\d{4}-\d{2}-\d{2}|\d{8})(?P<ext>\.[A-Za-z][A-Za-z0-9]{0,9})"
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def classify(name: str) -> tuple[str, bool] | None:
    """Return (log name, compressed) for a rotated file name, None for a live log."""
    compressed = name.endswith(COMPRESSED_SUFFIXES)
    core = name[: name.rfind(".")] if compressed else name
    base, stripped = core, False
    for _ in range(3):
        match = _SUFFIX.fullmatch(base)
        if not match:
            break
        base, stripped = match["base"], True
    if stripped:
        return base, compressed
    match = _INFIX.fullmatch(core)
    if match:
        return match["stem"] + match["ext"], compressed
    if compressed and core:
        return core, True
    return None


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
        return f"{self.rel_dir}/{self.name}" if self.rel_dir else self.name

    @property
    def key(self) -> tuple[int, int]:
        return (self.st.st_dev, self.st.st_ino)


@dataclass
class Report:
    """Counts and skipped paths; becomes the run's result."""

    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_files: list[dict[str, str]] = field(default_factory=list)

    def skip(self, rel: str, reason: str, detail: str = "") -> None:
        self.skipped[reason] += 1
        if len(self.skipped_files) < MAX_REPORTED_PATHS:
            item = {"path": rel, "reason": reason}
            if detail:
                item["detail"] = detail
            self.skipped_files.append(item)


@dataclass(frozen=True)
class Policy:
    retention_days: int
    max_bytes: int
    max_files: int
    compress: bool

    @classmethod
    def from_config(cls, config: Any) -> Policy:
        def number(key: str, minimum: float) -> float:
            value = config.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
                raise ConfigError(f"tasks.daily-log-pruning.{key}: must be a number >= {minimum:g}")
            return float(value)

        compress = config.get("compress_old_logs", True)
        if not isinstance(compress, bool):
            raise ConfigError("tasks.daily-log-pruning.compress_old_logs: must be true or false")
        return cls(
            retention_days=int(number("retention_days", 1)),
            max_bytes=int(number("max_file_size_mb", 0.001) * 1024 * 1024),
            max_files=int(number("max_files", 0)),
            compress=compress,
        )


def daily_log_pruning(ctx: TaskContext) -> dict[str, Any]:
    """Prune the log directory (and its cronkit/ logs), then the run log's old runs."""
    policy = Policy.from_config(ctx.config)
    report = prune_directory(str(ctx.settings.log_dir), policy, ctx.now, ctx.dry_run, ctx)
    result = report_dict(report, str(ctx.settings.log_dir))
    ctx.check_cancelled()
    result["runlog_runs_pruned"] = prune_run_log(ctx)
    return result


def report_dict(report: Report, log_dir: str) -> dict[str, Any]:
    c = report.counts
    result: dict[str, Any] = {
        "log_dir": log_dir,
        "dry_run": report.dry_run,
        "files_deleted": c["files_deleted"],
        "bytes_deleted": c["bytes_deleted"],
        "files_compressed": c["files_compressed"],
        "bytes_compressed": c["bytes_compressed"],
        "bytes_after_compression": c["bytes_after_compression"],
        "files_rotated": c["files_rotated"],
        "bytes_rotated": c["bytes_rotated"],
        "deleted_by_retention": c["deleted_retention"],
        "deleted_by_max_files": c["deleted_max_files"],
        "files_scanned": c["files_scanned"],
        "skipped": dict(sorted(report.skipped.items())),
        "skipped_files": report.skipped_files,
    }
    if c["log_dir_missing"]:
        result["log_dir_missing"] = True
    return result


def prune_run_log(ctx: TaskContext) -> int:
    """Apply the run log's retention (SPEC 7); in a dry run, count what would go."""
    from cronkit.runlog.reader import RunLog

    cutoff = ctx.now - timedelta(days=ctx.settings.runlog_retention_days)
    runlog = RunLog.open(ctx.settings)
    try:
        if ctx.dry_run:
            counter = getattr(runlog, "count_prunable", None)
            return int(counter(cutoff)) if counter is not None else 0
        return int(runlog.prune(cutoff))
    finally:
        close = getattr(runlog, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------------------------------------
# The pass over the directory


def prune_directory(
    log_dir: str, policy: Policy, now: datetime, dry_run: bool, ctx: TaskContext | None = None
) -> Report:
    """Rotate, delete, cap and compress under `log_dir` by `policy`, as of `now`."""
    report = Report(dry_run=dry_run)
    try:
        root_fd = os.open(log_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        report.counts["log_dir_missing"] = 1
        return report
    except OSError as exc:
        raise ConfigError(
            f"daily-log-pruning: cannot open log directory {log_dir}: {exc.strerror}"
        ) from None
    root_real = os.path.realpath(log_dir)
    dir_fds = [root_fd]
    try:
        root_dev = os.fstat(root_fd).st_dev
        entries = list(_scan(root_fd, "", root_real, root_dev, 0, dir_fds, report, now))
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


def _scan(
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
                    _unlink_quietly(name, dir_fd)
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
        yield from _scan(fd, rel, root_real, root_dev, depth + 1, dir_fds, report, now)


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


class _Pruner:
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
        self.entries = entries
        live = [e for e in entries if e.log is None]
        for entry in live:
            if entry.st.st_size > self.policy.max_bytes:
                self._cancel_point()
                self.rotate(entry)
        rotated = [e for e in self.entries if e.log is not None]
        cutoff = self.now_ts - self.policy.retention_days * 86400
        for entry in rotated:
            if entry.st.st_mtime < cutoff:
                self.delete(entry, "retention")
        groups: dict[tuple[int, str], list[Entry]] = {}
        for entry in rotated:
            if not entry.gone:
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
        except _Skip as skip:
            self.report.skip(entry.rel, skip.reason, skip.detail)
            return
        new_name, new_st, size = copied
        self.report.counts["files_rotated"] += 1
        self.report.counts["bytes_rotated"] += size
        self.entries.append(Entry(entry.dir_fd, entry.rel_dir, new_name, new_st, entry.name,
                                  False, fresh=True))

    def compress(self, entry: Entry) -> None:
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
        except _Skip as skip:
            self.report.skip(entry.rel, skip.reason, skip.detail)
            return
        entry.gone = True
        self.report.counts["files_compressed"] += 1
        self.report.counts["bytes_compressed"] += entry.st.st_size
        self.report.counts["bytes_after_compression"] += out_size


class _Skip(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def open_for_writing(keys: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Return the (dev, inode) pairs among `keys` that a visible process holds open for writing."""
    found: set[tuple[int, int]] = set()
    if not keys:
        return found
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # exited, or another user's process
        for fd in fds:
            try:
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in keys and key not in found and _writable(pid, fd):
                found.add(key)
    return found


def _writable(pid: str, fd: str) -> bool:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", "rb") as fh:
            for line in fh:
                if line.startswith(b"flags:"):
                    return bool(int(line.split()[1], 8) & (os.O_WRONLY | os.O_RDWR))
    except (OSError, ValueError, IndexError):
        pass
    return True  # cannot tell: assume a writer, the safe answer


def _open_regular(dir_fd: int, name: str, expected: os.stat_result, flags: int) -> int:
    """Open `name` without following links; _Skip unless it is still the file we scanned."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Skip("symlink", "became a link during the run") from None
        raise _Skip("open_failed", exc.strerror or "") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_ino != expected.st_ino or st.st_nlink > 1:
        os.close(fd)
        raise _Skip("changed_during_run")
    return fd


def _create_temp(dir_fd: int, mode: int) -> tuple[str, int]:
    name = TEMP_PREFIX + secrets.token_hex(8)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode & 0o666, dir_fd=dir_fd)
    return name, fd


def _publish(dir_fd: int, temp: str, final: str) -> str:
    """Give `temp` the name `final` (or `final.N`) without ever replacing an existing file."""
    candidates = [final] + [f"{final}.{n}" for n in range(1, 100)]
    for candidate in candidates:
        try:
            os.link(temp, candidate, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileExistsError:
            continue
        os.unlink(temp, dir_fd=dir_fd)
        return candidate
    os.unlink(temp, dir_fd=dir_fd)
    raise _Skip("name_taken", final)


def _copy_range(src: int, dst: int, start: int, end: int) -> None:
    """Copy bytes [start, end) of src to the same offsets of dst, keeping holes as holes."""
    pos = start
    while pos < end:
        try:
            data = os.lseek(src, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return  # only a hole remains
            data = pos  # no SEEK_DATA support: copy everything
        if data >= end:
            return
        try:
            hole = min(os.lseek(src, data, os.SEEK_HOLE), end)
        except OSError:
            hole = end
        off = data
        while off < hole:
            try:
                n = os.copy_file_range(src, dst, hole - off, off, off)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                chunk = os.pread(src, min(COPY_CHUNK, hole - off), off)
                n = os.pwrite(dst, chunk, off) if chunk else 0
            if n == 0:
                break
            off += n
        pos = hole


def copy_truncate(
    dir_fd: int, name: str, expected: os.stat_result, rotated: str
) -> tuple[str, os.stat_result, int]:
    """Rotate a live log in place: copy it aside, catch up with appends, then truncate it.

    Writers keep their descriptor; what they append between the last catch-up and the
    truncation (microseconds) is the one loss copy-truncate cannot avoid.
    """
    src = _open_regular(dir_fd, name, expected, os.O_RDWR)
    try:
        temp, dst = _create_temp(dir_fd, expected.st_mode)
        try:
            done = 0
            for _ in range(10):
                size = os.fstat(src).st_size
                if size <= done:
                    break
                _copy_range(src, dst, done, size)
                done = size
            os.ftruncate(dst, done)
            last = os.fstat(src)
            os.fsync(dst)
            os.utime(dst, ns=(last.st_atime_ns, last.st_mtime_ns))
            final = _publish(dir_fd, temp, rotated)
            _fsync_quietly(dir_fd)
            os.ftruncate(src, 0)
            st = os.fstat(dst)
        except BaseException:
            _unlink_quietly(temp, dir_fd)
            raise
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return final, st, done


def gzip_atomically(dir_fd: int, name: str, expected: os.stat_result) -> int:
    """Replace `name` by `name.gz`; at every instant one complete copy exists.

    The archive is written under a temporary name, synced, linked to its final name (never
    replacing a file), and only then is the original removed. A `name.gz` left by a run
    that died between those two steps is recognised by its content and completed.
    """
    src = _open_regular(dir_fd, name, expected, os.O_RDONLY)
    try:
        final = name + ".gz"
        try:
            existing = os.stat(final, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None:
            if stat.S_ISREG(existing.st_mode) and _gzip_matches(dir_fd, final, src):
                os.unlink(name, dir_fd=dir_fd)
                return existing.st_size
            raise _Skip("compressed_copy_exists", final)
        temp, dst = _create_temp(dir_fd, expected.st_mode)
        try:
            with os.fdopen(dst, "wb", closefd=False) as raw, gzip.GzipFile(
                filename=name, mode="wb", fileobj=raw, compresslevel=6, mtime=int(expected.st_mtime)
            ) as gz:
                while chunk := os.read(src, COPY_CHUNK):
                    gz.write(chunk)
            now_st = os.fstat(src)
            if now_st.st_size != expected.st_size or now_st.st_mtime_ns != expected.st_mtime_ns:
                raise _Skip("changed_during_run", "appended to while compressing")
            os.fsync(dst)
            os.utime(dst, ns=(expected.st_atime_ns, expected.st_mtime_ns))
            size = os.fstat(dst).st_size
            try:
                os.link(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileExistsError:
                raise _Skip("compressed_copy_exists", final) from None
            _unlink_quietly(temp, dir_fd)
            _fsync_quietly(dir_fd)  # the archive's name is durable before the original goes
            os.unlink(name, dir_fd=dir_fd)
        except BaseException:
            _unlink_quietly(temp, dir_fd)
            raise
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return size


def _gzip_matches(dir_fd: int, gz_name: str, src: int) -> bool:
    """True when the archive is complete and holds exactly the bytes of `src`."""
    try:
        fd = os.open(gz_name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            os.lseek(src, 0, os.SEEK_SET)
            while True:
                a = gz.read(COPY_CHUNK)
                b = os.read(src, len(a)) if a else os.read(src, 1)
                if a != b:
                    return False
                if not a:
                    return True
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    finally:
        os.lseek(src, 0, os.SEEK_SET)


def _unlink_quietly(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _fsync_quietly(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:
        pass
