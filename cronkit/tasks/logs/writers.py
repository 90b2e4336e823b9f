"""Find which files a process this user can inspect holds open for writing (/proc)."""

from __future__ import annotations

import os


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
