"""Singleton locks: a local flock the kernel releases with the process, and a Redis lease."""

from __future__ import annotations

import fcntl
import json
import os
import secrets as _random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CronkitError, EXIT_SKIPPED, ServiceUnavailable
from .runstore import HOST, is_alive, process_start

LEASE_TTL_MS = 60_000
SLOT_TTL_S = 3 * 86400


class LockHeld(CronkitError):
    """Another run holds the task's lock."""

    exit_code = EXIT_SKIPPED

    def __init__(self, task: str, holder: dict[str, Any] | None, where: str) -> None:
        self.holder = holder or {}
        who = ", ".join(f"{k} {self.holder[k]}" for k in ("host", "pid", "run_id") if k in self.holder)
        super().__init__(f"{task}: {where} lock held by {who or 'another process'}")


@dataclass
class Holder:
    host: str
    pid: int
    pid_start: int | None
    run_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "pid_start": self.pid_start, "run_id": self.run_id}

    def alive(self) -> bool:
        """Tell whether the holder provably still runs; only knowable on its own host."""
        return self.host != HOST or is_alive(self.pid, self.pid_start)

    @classmethod
    def me(cls, run_id: int | None) -> Holder:
        pid = os.getpid()
        return cls(HOST, pid, process_start(pid), run_id)

    @classmethod
    def parse(cls, raw: bytes | str | None) -> Holder | None:
        try:
            data = json.loads(raw or b"")
            return cls(str(data["host"]), int(data["pid"]), data.get("pid_start"), data.get("run_id"))
        except (ValueError, KeyError, TypeError):
            return None


class LocalLock:
    """An exclusive, non-blocking flock on `<home>/locks/<task>.lock`, holder recorded inside."""

    def __init__(self, directory: Path, task: str) -> None:
        self.path = directory / f"{task}.lock"
        self.task = task
        self.fd: int | None = None

    def acquire(self, holder: Holder) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            current = Holder.parse(os.pread(fd, 4096, 0))
            os.close(fd)
            raise LockHeld(self.task, current.as_dict() if current else None, "local") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder.as_dict()).encode(), 0)
        self.fd = fd

    def update(self, holder: Holder) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, json.dumps(holder.as_dict()).encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None

    def close_in_child(self) -> None:
        """Drop the child's copy of the descriptor so the lock dies with the runner alone."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
_REPLACE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


def lease_key(task: str) -> str:
    return f"cronkit:lock:{task}"


def slot_key(task: str, slot_ms: int) -> str:
    return f"cronkit:slot:{task}:{slot_ms}"


class RedisLease:
    """A lease in Redis with an owner token: taken atomically, renewed, released only by its owner."""

    def __init__(self, client: Any, task: str, ttl_ms: int = LEASE_TTL_MS) -> None:
        self.client = client
        self.task = task
        self.key = lease_key(task)
        self.ttl_ms = ttl_ms
        self.value: bytes | None = None

    def acquire(self, holder: Holder) -> None:
        """Take the lease; take over one whose holder on this host is provably dead; else LockHeld."""
        value = json.dumps({**holder.as_dict(), "token": _random.token_hex(16)}).encode()
        with _redis_errors(self.task):
            if self.client.set(self.key, value, nx=True, px=self.ttl_ms):
                self.value = value
                return
            raw = self.client.get(self.key)
            current = Holder.parse(raw)
            if raw is not None and current is not None and not current.alive():
                if self.client.eval(_REPLACE, 1, self.key, raw, value, self.ttl_ms):
                    self.value = value
                    return
            if raw is None and self.client.set(self.key, value, nx=True, px=self.ttl_ms):
                self.value = value
                return
        raise LockHeld(self.task, current.as_dict() if current else None, "Redis")

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours. Redis errors propagate."""
        if self.value is None:
            return False
        return bool(self.client.eval(_RENEW, 1, self.key, self.value, self.ttl_ms))

    def release(self) -> None:
        if self.value is not None:
            try:
                self.client.eval(_RELEASE, 1, self.key, self.value)
            except Exception:  # the lease expires by itself; never fail a run on release
                pass
            self.value = None


def claim_slot(client: Any, task: str, slot_ms: int, run_id: int) -> dict[str, Any] | None:
    """Claim a slot across hosts; return the holder's record when another run already has it."""
    value = json.dumps({"host": HOST, "run_id": run_id}).encode()
    with _redis_errors(task):
        if client.set(slot_key(task, slot_ms), value, nx=True, ex=SLOT_TTL_S):
            return None
        raw = client.get(slot_key(task, slot_ms))
    try:
        return dict(json.loads(raw or b"{}"))
    except ValueError:
        return {}


def unlock(client: Any | None, directory: Path, task: str) -> dict[str, Any]:
    """Clear a lease (and report the local lock) whose holder is gone; refuse while it is alive."""
    from .errors import CheckFailed

    report: dict[str, Any] = {"task": task, "redis": "unused", "local": "free"}
    local = LocalLock(directory, task)
    try:
        local.acquire(Holder.me(None))
        local.release()
    except LockHeld as held:
        raise CheckFailed(f"{task}: refusing to unlock: the local lock is held by a live process ({held.holder})") from None
    if client is not None:
        key = lease_key(task)
        with _redis_errors(task):
            raw = client.get(key)
            if raw is None:
                report["redis"] = "free"
                return report
            holder = Holder.parse(raw)
            if holder is not None and holder.host != HOST:
                raise CheckFailed(
                    f"{task}: refusing to unlock: the lease belongs to host {holder.host} (pid {holder.pid}),"
                    " whose liveness cannot be checked from here; it expires by itself within"
                    f" {LEASE_TTL_MS // 1000}s of its holder's death"
                )
            if holder is not None and holder.alive():
                raise CheckFailed(f"{task}: refusing to unlock: pid {holder.pid} holding the lease is alive")
            client.eval(_RELEASE, 1, key, raw)
            report["redis"] = "cleared"
    return report


class _redis_errors:
    """Turn redis-py connection failures into ServiceUnavailable."""

    def __init__(self, task: str) -> None:
        self.task = task

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc is not None and type(exc).__module__.startswith("redis"):
            raise ServiceUnavailable(f"{self.task}: Redis unavailable: {exc}") from None
        return False
