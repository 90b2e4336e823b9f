"""Singleton locks: a local flock the kernel releases with the process, and a Redis lease."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from cronkit.config.settings import DEFAULT_DB_NAME, DEFAULT_LEASE_TTL, Settings
from cronkit.errors import EXIT_SKIPPED, CheckFailed, ConfigError, CronkitError, ServiceUnavailable
from cronkit.host import hostname, is_alive, process_start
from cronkit.plain import TYPE_CHECKING, record
from cronkit.runlog.engines import sqlite_path
from cronkit.runlog.status import RunStatus

if TYPE_CHECKING:
    from typing import Any

LEASE_TTL_MS = int(DEFAULT_LEASE_TTL * 1000)
SLOT_TTL_S = 3 * 86400


class LockHeld(CronkitError):
    """Another run holds the task's lock."""

    exit_code = EXIT_SKIPPED
    what_to_do = ("Nothing, if the holder the line names still runs; if it is gone, `cronkit unlock TASK` "
                  "(a dead local holder frees itself).")

    def __init__(self, task: str, holder: dict[str, Any] | None, where: str) -> None:
        self.holder = holder or {}
        who = ", ".join(f"{k} {self.holder[k]}" for k in ("host", "pid", "run_id") if k in self.holder)
        super().__init__(f"{task}: {where} lock held by {who or 'another process'}")


@record
class Holder:
    host: str
    pid: int
    pid_start: int | None
    run_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "pid_start": self.pid_start, "run_id": self.run_id}

    def alive(self) -> bool:
        """Tell whether the holder provably still runs; only knowable on its own host."""
        return self.host != hostname() or is_alive(self.pid, self.pid_start)

    @classmethod
    def me(cls, run_id: int | None) -> Holder:
        pid = os.getpid()
        return cls(hostname(), pid, process_start(pid), run_id)

    @classmethod
    def parse(cls, raw: bytes | str | None) -> Holder | None:
        try:
            data = json.loads(raw or b"")
            return cls(str(data["host"]), int(data["pid"]), data.get("pid_start"), data.get("run_id"))
        except (ValueError, KeyError, TypeError):
            return None


def lock_dir(settings: Settings) -> Path:
    """Return where the local singleton locks live: beside a SQLite run log, else in the home.

    Every home whose run log is the same SQLite file takes the same locks (one singleton per run
    log, not per home): `locks/` beside the default `cronkit.db`, `<name>.locks/` beside any other
    file (two run logs in one directory keep apart), the symlinks resolved.
    """
    path = sqlite_path(settings.db_url)
    if path is None:
        return settings.home / "locks"
    path = path.resolve()
    return path.parent / ("locks" if path.name == DEFAULT_DB_NAME else f"{path.name}.locks")


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
            for _ in range(20):  # the holder writes its record just after taking the lock
                if current is not None:
                    break
                time.sleep(0.01)
                current = Holder.parse(os.pread(fd, 4096, 0))
            os.close(fd)
            raise LockHeld(self.task, current.as_dict() if current else None, "local") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder.as_dict()).encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None


# Renew our lease; take it again when it vanished (a Redis restart without persistence):
# nobody else holds it then, and we stop long before it could expire under us.
_RENEW = """
local current = redis.call('get', KEYS[1])
if current == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
if not current then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
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

    def __init__(self, client: Any, task: str, ttl_ms: int | None = None) -> None:
        self.client = client
        self.task = task
        self.key = lease_key(task)
        self.ttl_ms = ttl_ms or LEASE_TTL_MS
        self.value: bytes | None = None
        # Monotonic instant until which the lease is surely ours: TTL counted from when the
        # last successful SET or PEXPIRE was sent, not from when its reply arrived.
        self.expires_at = 0.0

    def acquire(self, holder: Holder) -> None:
        """Take the lease; take over one whose holder on this host is provably dead; else LockHeld."""
        # os.urandom(16).hex() is secrets.token_hex(16), without importing hmac on the run path.
        value = json.dumps({**holder.as_dict(), "token": os.urandom(16).hex()}).encode()
        sent = time.monotonic()
        with _redis_errors(self.task):
            if self.client.set(self.key, value, nx=True, px=self.ttl_ms):
                self._took(value, sent)
                return
            raw = self.client.get(self.key)
            current = Holder.parse(raw)
            if raw is not None and current is not None and not current.alive():
                if self.client.eval(_REPLACE, 1, self.key, raw, value, self.ttl_ms):
                    self._took(value, sent)
                    return
            if raw is None and self.client.set(self.key, value, nx=True, px=self.ttl_ms):
                self._took(value, sent)
                return
        raise LockHeld(self.task, current.as_dict() if current else None, "Redis")

    def _took(self, value: bytes, sent: float) -> None:
        self.value = value
        self.expires_at = sent + self.ttl_ms / 1000

    def renew(self) -> bool:
        """Extend the lease; False when another owner holds it now. Redis errors propagate."""
        if self.value is None:
            return False
        sent = time.monotonic()
        if self.client.eval(_RENEW, 1, self.key, self.value, self.ttl_ms):
            self.expires_at = sent + self.ttl_ms / 1000
            return True
        return False

    def ask_holder_to_stop(self, holder: Mapping[str, Any], by: int) -> None:
        """Leave a stop request the holder's lease renewal reads (concurrency="replace")."""
        with _redis_errors(self.task):
            self.client.set(stop_key(self.task), stop_request(holder.get("run_id"), by), px=self.ttl_ms * 2)

    def stop_requested(self) -> dict[str, Any] | None:
        """Return the stop request a replacing run left for this lease's run, if any. Redis errors propagate."""
        if self.value is None:
            return None
        mine = Holder.parse(self.value)
        return parse_stop(self.client.get(stop_key(self.task)), mine.run_id if mine else None)

    def release(self) -> None:
        if self.value is not None:
            try:
                self.client.eval(_RELEASE, 1, self.key, self.value)
            except Exception:  # the lease expires by itself; never fail a run on release
                pass
            self.value = None


# --- concurrency="replace": a new run asks the holder to stop (issue 16) -------------------------


def stop_key(task: str) -> str:
    return f"cronkit:stop:{task}"


def stop_file(directory: Path, task: str) -> Path:
    return directory / f"{task}.stop"


def stop_request(victim: int | None, by: int) -> bytes:
    """Return the record a replacing run leaves for the run it replaces."""
    return json.dumps({"victim": victim, "by": by, "host": hostname()}).encode()


def parse_stop(raw: bytes | str | None, run_id: int | None) -> dict[str, Any] | None:
    """Return a stop request if it names run `run_id` as the one to stop, else None."""
    try:
        data = dict(json.loads(raw or b""))
    except (ValueError, TypeError):
        return None
    return data if run_id is not None and data.get("victim") == run_id else None


def ask_local_holder_to_stop(directory: Path, task: str, holder: Mapping[str, Any], by: int) -> None:
    """Leave a stop request next to the local lock and TERM the holding runner, as a timeout would."""
    path = stop_file(directory, task)
    path.write_bytes(stop_request(holder.get("run_id"), by))
    pid = holder.get("pid")
    if isinstance(pid, int) and is_alive(pid, holder.get("pid_start")):
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def local_stop_request(directory: Path, task: str, run_id: int | None) -> dict[str, Any] | None:
    """Return the stop request left for run `run_id` next to the local lock, if there is one."""
    try:
        return parse_stop(stop_file(directory, task).read_bytes(), run_id)
    except OSError:
        return None


def claim_slot(client: Any, task: str, slot_ms: int, run_id: int) -> dict[str, Any] | None:
    """Claim a slot across hosts; return the holder's record when another run already has it."""
    value = json.dumps({"host": hostname(), "run_id": run_id}).encode()
    with _redis_errors(task):
        if client.set(slot_key(task, slot_ms), value, nx=True, ex=SLOT_TTL_S):
            return None
        raw = client.get(slot_key(task, slot_ms))
    try:
        return dict(json.loads(raw or b"{}"))
    except ValueError:
        return {}


def unlock(client: Any | None, directory: Path, task: str,
           run_status: Callable[[int], str | None] | None = None,
           lease_ttl_s: float = DEFAULT_LEASE_TTL) -> dict[str, Any]:
    """Clear a task's Redis lease whose holder is gone; refuse (CheckFailed) while it may be alive.

    The local lock needs no clearing: the kernel releases a flock with its process, so a held
    one has a live holder. A lease holder on this host is checked by pid and process start time;
    one on another host by its run in the (shared) run log through `run_status`.
    """
    report: dict[str, Any] = {"task": task, "local": "free", "redis": "unused", "holder": None}
    local = LocalLock(directory, task)
    try:
        local.acquire(Holder.me(None))
        local.release()
    except LockHeld as held:
        raise CheckFailed(f"refusing to unlock {task}: {_describe(held.holder)} holds its local lock and is alive") from None
    if client is None:
        return report
    key = lease_key(task)
    with _redis_errors(task):
        raw = client.get(key)
        if raw is None:
            report["redis"] = "free"
            return report
        holder = Holder.parse(raw)
        if holder is not None:
            report["holder"] = holder.as_dict()
            who = _describe(holder.as_dict())
            if holder.host == hostname():
                if is_alive(holder.pid, holder.pid_start):
                    raise CheckFailed(f"refusing to unlock {task}: the Redis lease holder, {who}, is alive")
            else:
                status = run_status(holder.run_id) if run_status is not None and holder.run_id else None
                if status is None:
                    raise CheckFailed(
                        f"refusing to unlock {task}: the Redis lease holder, {who}, is on another host and not in"
                        f" this run log, so its liveness cannot be checked; the lease expires by itself"
                        f" {lease_ttl_s:g}s after its holder stops renewing it"
                    )
                if status == RunStatus.RUNNING:
                    raise CheckFailed(f"refusing to unlock {task}: the Redis lease holder, {who}, is still running")
        # Delete only the value we inspected: a new holder that took it meanwhile keeps its lease.
        report["redis"] = "cleared" if client.eval(_RELEASE, 1, key, raw) else "free"
    return report


def _describe(holder: Mapping[str, Any] | None) -> str:
    holder = holder or {}
    parts = [f"pid {holder['pid']}" if holder.get("pid") else "a process"]
    if holder.get("host"):
        parts.append(f"on {holder['host']}")
    if holder.get("run_id"):
        parts.append(f"(run {holder['run_id']})")
    return " ".join(parts)


@contextmanager
def _redis_errors(task: str) -> Iterator[None]:
    """Turn redis-py connection failures into ServiceUnavailable."""
    try:
        yield
    except Exception as exc:
        if type(exc).__module__.startswith("redis") and "DB index is out of range" in str(exc):
            raise ConfigError(f"redis_url: the database number is out of this server's range ({exc})") from None
        if type(exc).__module__.startswith("redis"):
            raise ServiceUnavailable(f"{task}: Redis unavailable: {redis_trouble(exc)}") from None
        raise


def redis_trouble(exc: BaseException) -> str:
    """Say what a Redis client error means in cronkit's words, the client's own text after them.

    The kind comes from the exception's class and cause, never from the client's wording,
    which changes between redis-py releases ("Timeout reading from socket" became "... from
    host:port"); the callers append "; <what it meant>".
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    cause = exc.__cause__ or exc.__context__
    if "AuthenticationError" in names or "AuthenticationWrongNumberOfArgsError" in names:
        what = "it refused the credentials in redis_url"
    elif "BusyLoadingError" in names:
        what = "it is still loading its data"
    elif "TimeoutError" in names or isinstance(cause, TimeoutError):
        what = "no answer in time"
    elif isinstance(cause, ConnectionRefusedError):
        what = "connection refused"
    elif "ConnectionError" in names:
        what = "connection failed"
    else:
        what = f"error {type(exc).__name__}"
    lines = str(exc).strip().splitlines()
    detail = lines[0].rstrip(".") if lines else ""
    return f"{what} ({detail})" if detail else what
