"""The supervision loop's duties while a task runs or waits: the run's heartbeat and its Redis lease.

The loop calls Duties.maintain() on every turn and sleeps no longer than Duties.next_due(); a
lease that cannot be renewed sets Duties.stop_at, the instant by which the loop must stop the task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cronkit.clock import now as clock_now
from cronkit.errors import ServiceUnavailable
from cronkit.locks import redis_trouble
from cronkit.plain import TYPE_CHECKING
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import HEARTBEAT_INTERVAL, RunStore

if TYPE_CHECKING:
    from cronkit.locks import RedisLease

# Stop a task this long (plus one Redis timeout, which a hung renewal may cost) before the
# grace period would run into its lease's expiry.
LEASE_MARGIN = 0.5
REDIS_TIMEOUT = 2.0  # seconds; at most a quarter of the lease TTL


class LeaseTiming:
    """How often a lease of `ttl_ms` is renewed, how long one Redis call may take, the safety margin."""

    def __init__(self, ttl_ms: int) -> None:
        self.ttl_ms = ttl_ms
        self.renew_every = ttl_ms / 1000 / 3
        self.redis_timeout = min(REDIS_TIMEOUT, ttl_ms / 1000 / 4)
        self.margin = self.redis_timeout + LEASE_MARGIN  # how long before the lease expires a task must be dead




class Heartbeat:
    """Beat a run's heartbeat in the run log every `interval` seconds, never holding up the loop.

    A SQLite run log is local: a beat waits at most HEARTBEAT_WAIT_MS for its lock. A run log over
    the network can stop answering without a reset, and nothing on the client side bounds a query
    then; so there a beat goes in a worker thread the loop never waits for, and no new beat starts
    while one is still out.
    """

    def __init__(self, store: RunStore, run_id: int, now: float, interval: float = HEARTBEAT_INTERVAL) -> None:
        self.store = store
        self.run_id = run_id
        self.interval = interval
        self.next_at = now + interval
        self._out: threading.Thread | None = None  # a beat to a remote run log not yet answered

    def beat(self, now: float) -> None:
        """Beat when due; a busy or unreachable run log must not fail the task: beat again soon."""
        if now < self.next_at:
            return

        at = to_ms(clock_now())
        if self.store.remote:
            if self._out is None or not self._out.is_alive():
                self._out = threading.Thread(target=self._send, args=(at,), name="cronkit-heartbeat", daemon=True)
                self._out.start()
                self.next_at = now + self.interval
            else:
                self.next_at = now + self.interval / 6
            return
        try:
            self.store.heartbeat(self.run_id, at)
            self.next_at = now + self.interval
        except ServiceUnavailable:
            self.next_at = now + self.interval / 6

    def _send(self, at: int) -> None:
        try:
            self.store.heartbeat(self.run_id, at)
        except Exception:  # noqa: BLE001 - a missed beat is retried by the next one
            pass


class LeaseKeeper:
    """Renew a run's Redis lease; when renewal fails, decide by when the task must stop."""

    def __init__(self, lease: RedisLease, timing: LeaseTiming, *, grace: float, fallback: bool,
                 redact: Callable[[str], str], note: Callable[[str], None], now: float) -> None:
        self.lease = lease
        self.timing = timing
        self.grace = grace
        self.fallback = fallback  # the task's redis_fallback: go on under the local lock alone
        self.redact = redact
        self.note = note
        self.next_renew = now + timing.renew_every
        self.stop_at: float | None = None  # when to stop the task because the lease is going
        self.trouble: str | None = None  # why, redacted
        self.replaced_by: dict[str, object] | None = None  # a replacing run's stop request

    def keep(self, now: float) -> None:
        """Renew when due, unless a renewal (one Redis timeout) could delay a stop the lease requires."""
        if now < self.next_renew:
            return
        if self.stop_at is None or now + self.timing.redis_timeout < self.stop_at:
            self._renew(now)
        else:
            self.next_renew = float("inf")

    def kill_by(self, now: float) -> float:
        """Return when to KILL a task stopped for its lease: after the grace, yet before the lease expires."""
        return max(now, min(now + self.grace, self.lease.expires_at - self.timing.margin))

    def _renew(self, now: float) -> None:
        """Renew the lease; when that fails, decide when the task must stop (SPEC 6, README "Runs")."""
        try:
            renewed: bool | None = self.lease.renew()
            why = "the Redis lease was taken over by another holder"
        except Exception as exc:  # noqa: BLE001 - any Redis failure means the same here
            renewed = None
            why = f"the Redis lease could not be renewed (Redis unavailable: {redis_trouble(exc)})"
        if renewed:
            if self.trouble is not None:
                self.note("the Redis lease is renewed again")
            self.trouble = None
            self.stop_at = None
            self.next_renew = now + self.timing.renew_every
            self._heed_stop_request(now)
            return
        if self.trouble is None:
            if self.fallback:
                self.note(f"{why}; going on under the local lock (redis_fallback)")
            else:
                self.note(f"{why}; the task is stopped unless the lease is renewed in time")
        self.trouble = self.redact(why)
        if self.fallback:
            self.next_renew = now + self.timing.renew_every
            return
        if renewed is False:
            stop = now  # someone else runs the task now: stop at once
        else:
            # The lease is ours until expires_at; the task must be dead by then, KILL included.
            stop = self.lease.expires_at - self.grace - self.timing.margin
        self.stop_at = stop if self.stop_at is None else min(self.stop_at, stop)
        self.next_renew = now + min(self.timing.renew_every, 1.0)  # keep trying: Redis may be back in time


    def _heed_stop_request(self, now: float) -> None:
        """Stop the task at once when a run with concurrency="replace" asked for it (issue 16)."""
        try:
            request = self.lease.stop_requested()
        except Exception:  # noqa: BLE001 - a replacement that cannot be read waits for the next renewal
            return
        if request is not None and self.replaced_by is None:
            self.replaced_by = request
            self.note(f"replaced by run {request.get('by')} on {request.get('host')}: stopping the task")
            self.stop_at = now


class Duties:
    """What the supervision loop keeps up between its other work: heartbeat, then lease."""

    def __init__(self, heartbeat: Heartbeat, lease: LeaseKeeper | None) -> None:
        self.heartbeat = heartbeat
        self.lease = lease

    @property
    def stop_at(self) -> float | None:
        """Return the instant the lease requires the task to stop by, if it does."""
        return self.lease.stop_at if self.lease is not None else None

    @property
    def replaced_by(self) -> dict[str, object] | None:
        return self.lease.replaced_by if self.lease is not None else None

    @property
    def lease_trouble(self) -> str | None:
        return self.lease.trouble if self.lease is not None else None

    def maintain(self, now: float) -> None:
        """Beat the run's heartbeat and renew its Redis lease when they are due."""
        self.heartbeat.beat(now)
        if self.lease is not None:
            self.lease.keep(now)

    def next_due(self, now: float) -> float:
        """Return the next instant a duty needs the loop: a beat, a renewal, a stop the lease requires."""
        due = [self.heartbeat.next_at]
        if self.lease is not None:
            due.append(self.lease.next_renew)
            if self.lease.stop_at is not None and self.lease.stop_at > now:
                due.append(self.lease.stop_at)
        return min(due)
