"""Probe the services the scheduler needs, each within a deadline.

Every probe runs in a daemon thread joined with a deadline, so a hanging Redis, PostgreSQL or a
locked SQLite file makes a check report "no answer within N s" instead of hanging the command.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from cronkit.errors import ServiceUnavailable
from cronkit.host import cron_daemon_pids, hostname
from cronkit.runlog.engines import describe_url, first_line

T = TypeVar("T")

UP, DOWN, UNUSED = "up", "down", "unused"

# Budget of every probe and of the run-log queries of one command; `health` must stay within a
# few seconds even with a service hanging.
CHECK_TIMEOUT = 4.0
REDIS_TIMEOUT = 1.5


class NoAnswer(ServiceUnavailable):
    """A service did not answer within its deadline."""

    what_to_do = "Look at the service the line names: it is up but hung (a lock held, a full disk, a network stall)."


class Pending(Generic[T]):
    """Run a call in a daemon thread at once; wait for it later, with a deadline.

    The thread is abandoned, not killed, when the deadline passes: it dies with the process,
    which is what a CLI check wants.
    """

    def __init__(self, what: str, func: Callable[[], T]) -> None:
        self.what = what
        self._started = time.monotonic()
        self.elapsed: float | None = None  # seconds the call took, once it returned
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(func,), name=f"cronkit-{what}", daemon=True)
        self._thread.start()

    def _run(self, func: Callable[[], T]) -> None:
        try:
            self._value = func()
        except BaseException as exc:  # handed to the waiting thread
            self._error = exc
        finally:
            self.elapsed = max(0.0, time.monotonic() - self._started)  # a clock stepped back: 0, not negative

    def outcome(self, seconds: float, *, budget: float | None = None) -> T | BaseException:
        """Wait up to `seconds`; return the value, the exception the call raised, or NoAnswer.

        With `budget` (the deadline shared by several waits), NoAnswer says "no answer within
        `budget` s" rather than naming the call and the share of the budget that was left.
        """
        self._thread.join(max(seconds, 0.0))
        if self._thread.is_alive():
            if budget is not None:
                return NoAnswer(f"no answer within {budget:g} s")
            return NoAnswer(f"{self.what}: no answer within {seconds:g} s")
        if self._error is not None:
            return self._error
        return self._value  # type: ignore[return-value]

    def result(self, seconds: float) -> T:
        """Return the value within `seconds`; raise what the call raised, or NoAnswer."""
        out = self.outcome(seconds)
        if isinstance(out, BaseException):
            raise out
        return out


def bounded(what: str, seconds: float, func: Callable[[], T]) -> T:
    """Return func() computed in a daemon thread; raise NoAnswer when it takes longer than `seconds`."""
    return Pending(what, func).result(seconds)


def message(exc: BaseException) -> str:
    """Return the first line of an error, as a check reports it."""
    return first_line(exc)


def redacted(url: str) -> str:
    """Return `url` with its secrets hidden, as the checks show it."""
    return describe_url(url)


@dataclass
class Probe:
    """What one probe found: a state (up, down) and a one-line detail."""

    state: str
    detail: str = ""


def probe_cron_daemon() -> Probe:
    """Tell whether a cron daemon runs on this host."""
    pids = cron_daemon_pids()
    if pids:
        return Probe(UP, f"pid {', '.join(map(str, pids))}")
    return Probe(DOWN, "no cron daemon process (cron, crond) is running on this host")


def probe_log_dir(path: Path) -> Probe:
    """Tell whether runs can write their logs under `path` (or create it)."""
    if path.is_dir():
        if os.access(path, os.W_OK | os.X_OK):
            return Probe(UP, str(path))
        return Probe(DOWN, f"{path} is not writable")
    if path.exists():
        return Probe(DOWN, f"{path} is not a directory")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Probe(UP, f"{path} (created on first run)")
    return Probe(DOWN, f"{path} does not exist and {parent} is not writable")


# The probe does what a run does with Redis: a key written with an expiry, and a Lua script that
# deletes it (the lease's renewal and release are scripts). A PING answers on a read-only replica,
# on a server out of memory, under an ACL that forbids writes: none of them can hold a lease.
_PROBE_DELETE = "return redis.call('del', KEYS[1])"


def probe_redis(url: str, timeout: float = REDIS_TIMEOUT) -> Probe:
    """Tell whether Redis at `url` takes the writes a run needs, with socket timeouts of `timeout` seconds."""
    # lazy: redis-py, only where a Redis is configured
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    key = f"cronkit:health:{hostname()}:{os.getpid()}"
    try:
        client.set(key, b"1", px=max(1000, int(timeout * 4000)))
        client.eval(_PROBE_DELETE, 1, key)
    except redis.exceptions.RedisError as exc:
        return Probe(DOWN, f"{redacted(url)}: {message(exc)}")
    finally:
        client.close()
    return Probe(UP, redacted(url))
