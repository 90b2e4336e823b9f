"""The run policy: whether a run goes ahead, its attempts with backoff, and what the run log keeps.

In order (SPEC section 6): skip a cron run the environment does not enable; take the singleton
locks (local flock, then the Redis lease); claim the cron slot; run attempts, retrying transient
failures with jittered exponential backoff inside the timeout; record the run, its attempts and,
for a run that failed for good, a dead letter. The process work of each attempt is the
Supervisor's (supervise.py); this module only decides.
"""

from __future__ import annotations

import random
import time
import traceback as tb
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_UNAVAILABLE,
    CronkitError,
    ServiceUnavailable,
    UsageError,
)
from ..registry import Task
from ..runlog.times import to_ms
from ..runlog.writer import RunStore
from ..status import RunStatus, Trigger
from .capture import Capture
from .duties import Duties, Heartbeat, LeaseKeeper, LeaseTiming
from .spec import AttemptResult, AttemptSpec, RunOutcome, RunRequest, TaskCall
from .supervise import SignalWatch, Supervisor, become_subreaper

if TYPE_CHECKING:
    from ..locks import LocalLock, RedisLease
    from ..redact import Redactor


@dataclass(frozen=True)
class RunFacts:
    """What a run is, fixed before it starts: the task, its settings, the request, slot and timings."""

    settings: Settings
    task: Task
    config: dict[str, Any]
    request: RunRequest
    started: datetime
    slot: datetime | None
    grace: float  # seconds between TERM and KILL
    lease: LeaseTiming
    redact: Redactor

    @classmethod
    def build(cls, settings: Settings, task: Task, config: dict[str, Any], request: RunRequest,
              environ: Mapping[str, str], started: datetime, slot: datetime | None) -> RunFacts:
        """Read the timings from the environment (ConfigError when out of range) and build the redactor."""
        from ..redact import redactor_for

        grace = settings.stop_grace
        timing = LeaseTiming(settings.lease_ttl_ms)
        return cls(settings, task, config, request, started, slot, grace, timing, redactor_for(settings, environ))

    def params(self, *, with_dry_run: bool = False) -> dict[str, Any]:
        """Return the run's parameters as recorded: --param pairs, the --date, and dry_run if asked."""
        params: dict[str, Any] = dict(self.request.params)
        if self.request.date is not None:
            params["date"] = self.request.date.isoformat()
        if with_dry_run and self.request.dry_run:
            params["dry_run"] = True
        return params


class Guards:
    """The singleton locks a run holds, and the Redis client it connected for them."""

    def __init__(self) -> None:
        self.local: LocalLock | None = None
        self.lease: RedisLease | None = None
        self.redis: Any = None

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self.local is not None:
            self.local.release()
            self.local = None


class Record:
    """The run's row in the run log: what it has done so far, and how it is written and reported."""

    def __init__(self, facts: RunFacts, store: RunStore, capture: Capture) -> None:
        self.facts = facts
        self.store = store
        self.capture = capture
        self.t0 = time.monotonic()
        self.run_id = 0
        self.attempts = 0
        self.dead_letter_id: int | None = None
        self.error: str | None = None  # the error recorded by finish(), for `run --json`

    def start(self) -> None:
        """Record the run's start, or adopt the `running` row `cronkit serve` recorded for it."""
        import getpass

        facts = self.facts
        if facts.request.run_id is not None:
            if not self.store.adopt_run(facts.request.run_id, task=facts.task.name,
                                        trigger=facts.request.trigger.value, at=to_ms(_now())):
                raise UsageError(f"--run-id: no running {facts.request.trigger.value} run "
                                 f"{facts.request.run_id} of {facts.task.name} to adopt")
            self.run_id = facts.request.run_id
            return
        self.run_id = self.store.start_run(
            task=facts.task.name, trigger=facts.request.trigger.value, started_at=to_ms(facts.started),
            scheduled_for=to_ms(facts.slot) if facts.slot else None, user=_user(getpass),
            params=facts.redact.value(facts.params()), dry_run=facts.request.dry_run,  # type: ignore[arg-type]
        )

    def finish(self, status: RunStatus, exit_code: int, *, error: str | None = None,
               traceback: str | None = None, result: Any = None) -> None:
        """Write the run's end, with the tail of its captured output."""
        self.error = error
        header = f"--- run {self.run_id} {self.facts.started.isoformat(timespec='seconds')} ---\n"
        output = self.capture.collect(self.facts.redact, self.facts.settings.task_log_dir, header)
        self.store.finish_run(
            self.run_id, status=status.value, finished_at=to_ms(_now()), duration_ms=self.elapsed_ms(),
            attempts=self.attempts, exit_code=exit_code, error=error, traceback=traceback,
            result=result, output=output,
        )

    def fail(self, exc: BaseException) -> None:
        """Record a run that raised (call it while handling `exc`): never leave it `running`."""
        if isinstance(exc, CronkitError):
            message, code = str(exc), exc.exit_code
        else:
            message, code = f"cronkit internal error: {type(exc).__name__}: {exc}", EXIT_FAILED
        redact = self.facts.redact
        self.finish(RunStatus.FAILED, code, error=redact(message), traceback=redact(tb.format_exc()))

    def dead_letter(self, error: str | None, trace: str | None) -> None:
        """Keep a run that failed for good for a person to act on; a failed retry keeps its letter open."""
        facts = self.facts
        if facts.request.dead_letter_id is not None:
            return
        self.dead_letter_id = self.store.dead_letter(
            run_id=self.run_id, task=facts.task.name,
            params=facts.redact.value(facts.params(with_dry_run=True)),  # type: ignore[arg-type]
            scheduled_for=to_ms(facts.slot) if facts.slot else None, error=error, traceback=trace,
            attempts=self.attempts, created_at=to_ms(_now()),
        )

    def failure_summary(self, status: RunStatus, error: str | None) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        summary = f"{self.facts.task.name} {status.value}{tries}: {error} (run {self.run_id}; cronkit show {self.run_id}"
        if self.dead_letter_id is not None:
            summary += f"; dead letter {self.dead_letter_id}"
        elif self.facts.request.dead_letter_id is not None:
            summary += f"; dead letter {self.facts.request.dead_letter_id} stays open"
        return summary + ")"

    def outcome(self, status: RunStatus, exit_code: int, summary: str, result: Any = None) -> RunOutcome:
        return RunOutcome(exit_code, status.value, self.run_id, summary, result, self.elapsed_ms(),
                          dead_letter_id=self.dead_letter_id, error=self.error)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.t0) * 1000)


class RunPolicy:
    """Decide one run from its facts: go ahead or skip, how many attempts, what is recorded."""

    def __init__(self, facts: RunFacts, store: RunStore, *, adopt_orphans: bool = False) -> None:
        self.facts = facts
        self.store = store
        self.capture = Capture(facts.task.name)
        self.record = Record(facts, store, self.capture)
        self.guards = Guards()
        self.adopting = adopt_orphans and become_subreaper()

    def execute(self) -> RunOutcome:
        """Record the run's start, decide and run it, record its end; always release what it took."""
        if self.facts.request.run_id is None:
            self.store.mark_lost(task=self.facts.task.name)
        self.record.start()  # adopting first: until then the adopted run's pid is the server's
        if self.facts.request.run_id is not None:
            self.store.mark_lost(task=self.facts.task.name)
        try:
            with SignalWatch() as signals:
                try:
                    return self._decide(signals)
                except BaseException as exc:  # record what we can; never leave the run `running`
                    self.record.fail(exc)
                    raise
                finally:
                    self.guards.release()
        finally:
            self.capture.discard()

    def _decide(self, signals: SignalWatch) -> RunOutcome:
        task, settings, cron = self.facts.task, self.facts.settings, self.facts.request.trigger == Trigger.CRON
        if cron:
            enabled = task.runs_in(settings.environment) and settings.for_task(task.name).get("enabled", True)
            if not enabled:
                return self._skip(f"not enabled in environment {settings.environment}")
        if task.singleton:
            stopped = self._take_locks()
            if stopped is not None:
                return stopped
        if cron:  # a retry serves its slot again on purpose
            stopped = self._claim_slot()
            if stopped is not None:
                return stopped
        return self._attempts(signals)

    def _skip(self, reason: str) -> RunOutcome:
        self.record.finish(RunStatus.SKIPPED, EXIT_SKIPPED, error=reason)
        return self.record.outcome(RunStatus.SKIPPED, EXIT_SKIPPED, f"{self.facts.task.name} skipped: {reason}")

    def _uses_redis(self) -> bool:
        """Redis guards global singletons (lease) and cron slots (claim) when it is configured."""
        return bool(self.facts.settings.redis_url) and self.facts.task.lock_scope == "global"

    def _take_locks(self) -> RunOutcome | None:
        from ..locks import Holder, LocalLock, LockHeld, RedisLease

        task = self.facts.task
        me = Holder.me(self.record.run_id)
        local = LocalLock(self.facts.settings.home / "locks", task.name)
        try:
            local.acquire(me)
        except LockHeld as held:
            return self._skip(str(held).split(": ", 1)[1])
        except OSError as exc:
            raise ServiceUnavailable(f"{task.name}: cannot take the local lock: {exc.strerror}") from None
        self.guards.local = local
        if self._uses_redis():
            try:
                lease = RedisLease(self._redis(), task.name, self.facts.lease.ttl_ms)
                lease.acquire(me)
                self.guards.lease = lease
            except LockHeld as held:
                return self._skip(str(held).split(": ", 1)[1])
            except ServiceUnavailable as exc:
                return self._redis_down(exc, "lock")
        return None

    def _redis(self) -> Any:
        if self.guards.redis is None:
            from ..redisutil import connect

            self.guards.redis = connect(self.facts.settings.redis_url or "", timeout=self.facts.lease.redis_timeout)
        return self.guards.redis

    def _redis_down(self, exc: ServiceUnavailable, need: str) -> RunOutcome | None:
        """Fail closed when Redis is unreachable, or go on without it when the task allows."""
        self.guards.redis = None
        task = self.facts.task
        if task.redis_fallback:
            self.capture.note(f"{_after_colon(exc)}; running without the Redis {need} (redis_fallback)")
            return None
        message = self.facts.redact(f"{exc}; {task.name} needs the Redis {need} (fail closed)")
        self.record.finish(RunStatus.FAILED, EXIT_UNAVAILABLE, error=message)
        self.record.dead_letter(message, None)
        return self.record.outcome(RunStatus.FAILED, EXIT_UNAVAILABLE,
                                   self.record.failure_summary(RunStatus.FAILED, message))

    def _claim_slot(self) -> RunOutcome | None:
        task, slot = self.facts.task, self.facts.slot
        assert slot is not None
        slot_ms = to_ms(slot)
        holder = self.store.claim_slot(task.name, slot_ms, self.record.run_id)
        if holder is not None:
            return self._skip(f"slot {slot.isoformat()} already served by run {holder}")
        if self._uses_redis() and (self.guards.redis is not None or not task.singleton):
            from ..locks import claim_slot

            try:
                other = claim_slot(self._redis(), task.name, slot_ms, self.record.run_id)
            except ServiceUnavailable as exc:
                return self._redis_down(exc, "slot claim")
            if other is not None:
                who = f"run {other.get('run_id')} on {other.get('host')}"
                return self._skip(f"slot {slot.isoformat()} already served by {who}")
        return None

    def _attempts(self, signals: SignalWatch) -> RunOutcome:
        """Run attempts until one succeeds, fails for good, or the retries or the timeout run out."""
        task, record = self.facts.task, self.record
        deadline = record.t0 + task.timeout
        output_path = self.capture.open()
        supervisor = Supervisor(signals, self._duties(time.monotonic()), self.capture.note, adopting=self.adopting)
        call = self._call()
        kept = (self.guards.local.fd,) if self.guards.local is not None and self.guards.local.fd is not None else ()
        last = AttemptResult(RunStatus.FAILED, error="no attempt was made")
        for number in range(1, task.retries + 2):
            record.attempts = number
            attempt_started = to_ms(_now())
            last = supervisor.attempt(AttemptSpec(call, number, output_path, deadline, self.facts.grace, kept))
            self.store.record_attempt(
                record.run_id, number, started_at=attempt_started, finished_at=to_ms(_now()),
                status=last.status.value, error=self.facts.redact(last.error) if last.error else None,
            )
            if last.status != RunStatus.FAILED or not last.transient or number > task.retries:
                break
            delay = min(task.backoff_max, task.backoff * 2 ** (number - 1)) * random.random()
            if time.monotonic() + delay >= deadline:
                # No time left for another attempt inside the timeout: fail now rather than sleep to it.
                last.error = f"{last.error} (no time left for attempt {number + 1} within the {task.timeout:g}s timeout)"
                break
            cut = supervisor.pause(delay)
            if cut is not None:
                last = cut
                break
        return self._conclude(last)

    def _duties(self, now: float) -> Duties:
        facts, lease = self.facts, self.guards.lease
        keeper = None
        if lease is not None:
            keeper = LeaseKeeper(lease, facts.lease, grace=facts.grace, fallback=facts.task.redis_fallback,
                                 redact=facts.redact, note=self.capture.note, now=now)
        return Duties(Heartbeat(self.store, self.record.run_id, now), keeper)

    def _call(self) -> TaskCall:
        facts = self.facts
        return TaskCall(facts.task, facts.settings, facts.config, facts.started, facts.request.params,
                        facts.slot, facts.request.date, facts.request.dry_run, self.record.run_id)

    def _conclude(self, last: AttemptResult) -> RunOutcome:
        """Record how the last attempt ended (a dead letter if for good) and say it in one line."""
        record, redact, request = self.record, self.facts.redact, self.facts.request
        status = last.status
        exit_code = last.exit_code if status != RunStatus.SUCCEEDED else EXIT_OK
        if status == RunStatus.FAILED and exit_code == EXIT_OK:
            exit_code = EXIT_FAILED
        error = redact(last.error) if last.error else None
        trace = redact(last.traceback) if last.traceback else None
        result = redact.value(last.result) if last.result is not None else None
        record.finish(status, exit_code, error=error, traceback=trace, result=result)
        if status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
            record.dead_letter(error, trace)
        if status == RunStatus.SUCCEEDED and request.dead_letter_id is not None:
            self.store.resolve_dead_letter(request.dead_letter_id, record.run_id, to_ms(_now()))
        if status == RunStatus.SUCCEEDED:
            summary = f"{self.facts.task.name} succeeded in {_seconds(record.elapsed_ms())} (run {record.run_id})"
            if request.dead_letter_id is not None:
                summary += f"; dead letter {request.dead_letter_id} resolved"
        else:
            summary = record.failure_summary(status, error)
        return record.outcome(status, exit_code, summary, result)


def _after_colon(exc: BaseException) -> str:
    """Drop the leading "<task>: " of a cronkit error message."""
    return str(exc).split(": ", 1)[-1]


def _now() -> datetime:
    from ..clock import now

    return now()


def _user(getpass: Any) -> str | None:
    try:
        return str(getpass.getuser())
    except (KeyError, OSError):
        return None


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.1f}s" if ms >= 100 else f"{ms}ms"
