"""Operate on files relative to a directory descriptor: copy-truncate, gzip, temp files.

Nothing here follows a symlink (O_NOFOLLOW, `follow_symlinks=False`) or touches a file with
several hard links; a file that changed since it was scanned raises Skip, and the pass
reports it and leaves it alone. No file is ever replaced: new names are linked, never renamed
over an existing one.
"""

from __future__ import annotations

import errno
import gzip
import os
import secrets
import stat
import time

COPY_CHUNK = 1 << 20
TEMP_PREFIX = ".cronkit-tmp-"

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Skip(Exception):
    """Leave this file alone, for `reason` (and `detail`), which the report records."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _open_regular(dir_fd: int, name: str, expected: os.stat_result, flags: int) -> int:
    """Open `name` without following links; Skip unless it is still the file we scanned."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Skip("symlink", "became a link during the run") from None
        raise Skip("open_failed", exc.strerror or "") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_ino != expected.st_ino or st.st_nlink > 1:
        os.close(fd)
        raise Skip("changed_during_run")
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
    raise Skip("name_taken", final)


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
            # The copy is dated at its rotation, not at the source's last write: retention
            # counts from the moment a file became rotated, so a stale live log that is
            # rotated gets a full retention period as a rotated file before it can go.
            now_ns = time.time_ns()
            os.utime(dst, ns=(now_ns, now_ns))
            os.fsync(dst)
            final = _publish(dir_fd, temp, rotated)
            _fsync_quietly(dir_fd)
            os.ftruncate(src, 0)
            st = os.fstat(dst)
        except BaseException:
            unlink_quietly(temp, dir_fd)
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
            raise Skip("compressed_copy_exists", final)
        temp, dst = _create_temp(dir_fd, expected.st_mode)
        try:
            with os.fdopen(dst, "wb", closefd=False) as raw, gzip.GzipFile(
                filename=name, mode="wb", fileobj=raw, compresslevel=6, mtime=int(expected.st_mtime)
            ) as gz:
                while chunk := os.read(src, COPY_CHUNK):
                    gz.write(chunk)
            now_st = os.fstat(src)
            if now_st.st_size != expected.st_size or now_st.st_mtime_ns != expected.st_mtime_ns:
                raise Skip("changed_during_run", "appended to while compressing")
            os.fsync(dst)
            os.utime(dst, ns=(expected.st_atime_ns, expected.st_mtime_ns))
            size = os.fstat(dst).st_size
            try:
                os.link(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileExistsError:
                raise Skip("compressed_copy_exists", final) from None
            unlink_quietly(temp, dir_fd)
            _fsync_quietly(dir_fd)  # the archive's name is durable before the original goes
            os.unlink(name, dir_fd=dir_fd)
        except BaseException:
            unlink_quietly(temp, dir_fd)
            raise
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return size


def _gzip_matches(dir_fd: int, gz_name: str, src: int) -> bool:
    """Return whether the archive is complete and holds exactly the bytes of `src`."""
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


def unlink_quietly(name: str, dir_fd: int) -> None:
    """Remove `name` from `dir_fd` if it can; an error is not worth reporting here."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _fsync_quietly(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:
        pass
