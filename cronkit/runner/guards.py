"""The singleton locks a run holds: the local flock, the Redis lease or the PostgreSQL advisory lock."""

from __future__ import annotations

from cronkit.plain import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from cronkit.locks import LocalLock, RedisLease
    from cronkit.locks.postgres import AdvisoryLock


class Guards:
    """The singleton locks a run holds, and the Redis client it connected for them."""

    def __init__(self) -> None:
        self.local: LocalLock | None = None
        self.lease: RedisLease | None = None
        self.advisory: AdvisoryLock | None = None  # on a PostgreSQL run log, without the Redis lease
        self.redis: Any = None

    def kept_fds(self) -> tuple[int, ...]:
        """Return the descriptors that hold locks, which the task's process closes (it must not hold them)."""
        fds = [self.local.fd if self.local is not None else None,
               self.advisory.fileno() if self.advisory is not None else None]
        return tuple(fd for fd in fds if fd is not None)

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self.advisory is not None:
            self.advisory.release()
            self.advisory = None
        if self.local is not None:
            self.local.release()
            self.local = None
