"""The run policy: whether a run goes ahead, its attempts with backoff, and what the run log keeps.

In order (SPEC section 6): skip a cron run the environment does not enable; take the singleton
locks (local flock, then the Redis lease); claim the cron slot; run attempts, retrying transient
failures with jittered exponential backoff inside the timeout; record the run, its attempts and,
for a run that failed for good, a dead letter. The process work of each attempt is the
Supervisor's (supervise.py); this module only decides.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime

from cronkit.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_UNAVAILABLE,
    ServiceUnavailable,
)
from cronkit.host import hostname
from cronkit.locks import (
    Holder,
    LocalLock,
    LockHeld,
    RedisLease,
    _redis_errors,
    ask_local_holder_to_stop,
    claim_slot,
    local_stop_request,
    lock_dir,
    stop_file,
)
from cronkit.plain import TYPE_CHECKING
from cronkit.runlog.leftover import salvager
from cronkit.runlog.status import RunStatus, Trigger
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore
from cronkit.runner.capture import Capture
from cronkit.runner.duties import Duties, Heartbeat, LeaseKeeper
from cronkit.runner.guards import Guards
from cronkit.runner.record import Record, _now, seconds
from cronkit.runner.slots import SlotChoice
from cronkit.runner.spec import AttemptResult, AttemptSpec, RunFacts, RunOutcome, TaskCall
from cronkit.runner.supervise import SignalWatch, Supervisor, become_subreaper

if TYPE_CHECKING:
    from typing import Any

    from cronkit.locks import LocalLock, RedisLease


REPLACE_POLL = 0.05  # seconds between tries to take a lock whose holder was asked to stop
REPLACE_MARGIN = 5.0  # seconds past the holder's grace to wait before giving up the replacement


class RunPolicy:
    """Decide one run from its facts: go ahead or skip, how many attempts, what is recorded."""

    def __init__(self, facts: RunFacts, store: RunStore, *, adopt_orphans: bool = False) -> None:
        self.facts = facts
        self.store = store
        self.capture = Capture(facts.task.name, facts.settings.home)
        self.record = Record(facts, store, self.capture)
        self.guards = Guards()
        self.adopting = adopt_orphans and become_subreaper()

    def execute(self) -> RunOutcome:
        """Record the run's start, decide and run it, record its end; always release what it took."""
        salvage = salvager(self.facts.settings.home, self.facts.redact)
        lost: list[int] = []
        if self.facts.request.run_id is None:
            lost = self.store.mark_lost(task=self.facts.task.name, salvage=salvage)
        self.record.start()  # adopting first: until then the adopted run's pid is the server's
        if self.facts.request.run_id is not None:
            lost = self.store.mark_lost(task=self.facts.task.name, salvage=salvage)
        try:
            try:
                with SignalWatch() as signals:
                    self.record.cancelled = lambda: signals.received is not None
                    outcome = self._decide(signals)
            except BaseException as exc:  # record what we can; never leave the run `running`
                self.guards.release()
                self.record.fail(exc)
                if not isinstance(exc, (OSError, MemoryError)):
                    raise
                # The host ran out of something (descriptors, memory): a failed run, said in one line.
                outcome = self.record.outcome(RunStatus.FAILED, EXIT_FAILED,
                                              self.record.failure_summary(RunStatus.FAILED, self.record.error))
            finally:
                self.guards.release()
        finally:
            self.capture.discard()
        self._aftermath(lost)
        return outcome

    def _aftermath(self, lost: list[int]) -> None:
        """Once the run is recorded: its metrics files, then its notifications (issue 15).

        Nothing here changes the outcome: errors are swallowed, deliveries are bounded in time
        and what cannot be delivered waits in the outbox. Without notifiers, the notify package's
        channels (HTTP, SMTP) are not imported.
        """
        facts = self.facts
        settings, task = facts.settings, facts.task
        try:
            # lazy: runner -> notify, after the run is recorded
            from cronkit.notify.promfile import write

            write(self.store, settings, task, _now())
            if settings.emf_file is not None:
                from cronkit.notify import emf  # lazy: only with an emf_file

                row = self.store.sql("SELECT status, duration_ms FROM runs WHERE id = :id", {"id": self.record.run_id})
                emf.append(settings.emf_file, emf.line(task.name, self.record.run_id, row[0][0], row[0][1], hostname(),
                                                       to_ms(_now())))
        except Exception:  # noqa: S110 (a metrics file must not fail a recorded run)
            pass
        if settings.notifiers:
            from cronkit.notify.hook import after_run  # lazy: runner -> notify, only with notifiers

            after_run(self.store, settings, task.name, [*lost, self.record.run_id], facts.redact, facts.environ)

    def _decide(self, signals: SignalWatch) -> RunOutcome:
        task, settings = self.facts.task, self.facts.settings
        if self.facts.paused is not None:  # `cronkit pause` (issue 28): every host skips the task
            return self._skip(self.facts.paused)
        # A catch-up run serves a missed slot as its cron run would have: same checks, same claim.
        cron = self.facts.request.trigger in (Trigger.CRON, Trigger.CATCHUP)
        if cron:
            enabled = task.runs_in(settings.environment) and settings.for_task(task.name).get("enabled", True)
            if not enabled:
                return self._skip(f"not enabled in environment {settings.environment}")
        letter = self.facts.request.dead_letter_id
        if letter is not None:
            taken = self.store.claim_letter(letter, self.record.run_id, to_ms(self.facts.started))
            if taken is not None:
                return self._skip(taken)
        if task.singleton:
            stopped = self._served() or self._take_locks(signals)
            if stopped is not None:
                return stopped
        if cron:  # a retry serves its slot again on purpose
            stopped = self._claim_slot() or self._late_start()
            if stopped is not None:
                return stopped
        return self._attempts(signals)

    def _skip(self, reason: str) -> RunOutcome:
        # Exit 75 (EXIT_SKIPPED): a lock held, a slot served, a dead letter another retry claimed.
        self.record.finish(RunStatus.SKIPPED, EXIT_SKIPPED, error=reason)
        return self.record.outcome(RunStatus.SKIPPED, EXIT_SKIPPED, f"{self.facts.task.name} skipped: {reason}")

    def _uses_redis(self) -> bool:
        """Redis guards global singletons (lease) and cron slots (claim) when it is configured."""
        return bool(self.facts.settings.redis_url) and self.facts.task.lock_scope == "global"

    def _served(self) -> RunOutcome | None:
        """Skip a cron run whose slot another run has claimed, before it takes (or keeps) a lock.

        Its lock would only harm the run serving the slot: "replace" would stop it, and a lease
        Redis forgot and we took would fence it out (its renewal finds the lease in other hands).
        """
        slot = self.facts.slot
        if slot is None or self.facts.request.trigger not in (Trigger.CRON, Trigger.CATCHUP):
            return None
        holder = self.store.slot_holder(self.facts.task.name, to_ms(slot))
        if holder is None or holder == self.record.run_id:
            return None
        self.guards.release()  # before the skip is written: the serving run renews its lease meanwhile
        return self._skip(self._served_by(slot, holder))

    def _served_by(self, slot: datetime, holder: int) -> str:
        """Return the skip reason naming the run that serves the slot, and its host."""
        host = self.store.host_of(holder)
        return f"slot {slot.isoformat()} already served by run {holder}" + (f" on {host}" if host else "")

    def _serving_my_slot(self, holder: Mapping[str, Any]) -> str | None:
        """Say so when a lock's holder is a run of this cron run's own slot, which "replace" must not stop."""
        slot, run_id = self.facts.slot, holder.get("run_id")
        if self.facts.task.concurrency != "replace" or slot is None or not run_id \
                or self.facts.request.trigger not in (Trigger.CRON, Trigger.CATCHUP):
            return None
        rows = self.store.sql("SELECT scheduled_for FROM runs WHERE id = :id AND task = :task",
                              {"id": run_id, "task": self.facts.task.name})
        if not rows or rows[0][0] is None or int(rows[0][0]) != to_ms(slot):
            return None
        return f"slot {slot.isoformat()} is being served by run {run_id} on {holder.get('host')}"

    def _take_locks(self, signals: SignalWatch) -> RunOutcome | None:
        task = self.facts.task
        me = Holder.me(self.record.run_id)
        local = LocalLock(lock_dir(self.facts.settings), task.name)
        try:
            local.acquire(me)
        except LockHeld as held:
            if (mine := self._serving_my_slot(held.holder)) is not None:
                return self._skip(mine)
            if task.concurrency != "replace" or not self._replace_local(local, me, held.holder):
                return self._skip(str(held).split(": ", 1)[1])
        except OSError as exc:
            raise ServiceUnavailable(f"{task.name}: cannot take the local lock: {exc.strerror}") from None
        self.guards.local = local
        if not self._uses_redis():
            return self._take_advisory()
        try:
            lease = RedisLease(self._redis(), task.name, self.facts.lease.ttl_ms)
            try:
                lease.acquire(me)
            except LockHeld as held:
                if (mine := self._serving_my_slot(held.holder)) is not None:
                    return self._skip(mine)
                if task.concurrency != "replace" or not self._replace_lease(lease, me, held.holder):
                    raise
            self.guards.lease = lease
            return self._fence(lease, signals)
        except LockHeld as held:
            return self._skip(str(held).split(": ", 1)[1])
        except ServiceUnavailable as exc:
            return self._redis_down(exc, "lock")

    def _take_advisory(self) -> RunOutcome | None:
        """On a PostgreSQL run log, take the task's advisory lock: one run across the hosts sharing it.

        Taken when Redis does not guard the task (none configured, or down with redis_fallback);
        a task whose lock_scope is "local" runs once per host, under its local lock alone.
        """
        engine = self.store.engine
        if self.facts.task.lock_scope != "global" or engine is None or engine.dialect.name != "postgresql":
            return None
        # Only on a PostgreSQL run log, where SQLAlchemy is loaded already.
        from cronkit.locks.postgres import AdvisoryLock  # lazy: only on a PostgreSQL run log

        advisory = AdvisoryLock(engine, self.facts.task.name, self.record.run_id)
        try:
            advisory.acquire()
        except LockHeld as held:
            self.guards.release()  # before the skip is written
            return self._skip(str(held).split(": ", 1)[1])
        self.guards.advisory = advisory
        return None

    def _fence(self, lease: RedisLease, signals: SignalWatch) -> RunOutcome | None:
        """Wait, keeping the new lease, while an earlier run of the task may still be running.

        A lease can be taken while its previous holder still runs: Redis restarted without
        persistence (or failed over) and forgot it. That holder stops as soon as it fails to renew
        (its lease is gone or someone else's) and at the latest before its own lease would have
        expired, which is within one TTL of our taking it; so the run waits until no earlier run
        of the task is `running` in the run log, one TTL at most (README "Locks").
        """
        task, timing = self.facts.task.name, self.facts.lease
        end = time.monotonic() + timing.ttl_ms / 1000 + 1.0
        waited, renewed_at = False, time.monotonic()
        while (others := self.store.running_before(task, self.record.run_id)) and time.monotonic() < end:
            served = self._served()  # the earlier run serves our slot: give its lease back at once
            if served is not None:
                return served
            if not waited:
                self.capture.note(f"the Redis lease was free while run {others[0]} of {task} is still `running`"
                                  " (a Redis restart?): waiting for it to end, one lease TTL at most")
                waited = True
            if signals.interrupted() is not None:
                return None  # the first attempt sees the signal
            signals.wait([], min(0.2, max(0.0, end - time.monotonic())))
            if time.monotonic() - renewed_at >= timing.renew_every:
                with _redis_errors(task):
                    if not lease.renew():
                        raise LockHeld(task, None, "Redis")
                renewed_at = time.monotonic()
        return None

    # --- concurrency="replace" (issue 16): stop the holder the way a timeout does, then take over ---

    def _replace_local(self, local: LocalLock, me: Any, holder: dict[str, Any]) -> bool:
        """Ask the local holder to stop (TERM, its runner KILLs after the grace); True once the lock is ours."""
        ask_local_holder_to_stop(local.path.parent, local.task, holder, self.record.run_id)
        deadline = time.monotonic() + self.facts.grace + REPLACE_MARGIN
        while time.monotonic() < deadline:
            try:
                local.acquire(me)
            except LockHeld:
                time.sleep(REPLACE_POLL)
                continue
            stop_file(local.path.parent, local.task).unlink(missing_ok=True)
            self.capture.note(f"replaced run {holder.get('run_id')} (pid {holder.get('pid')})")
            return True
        return False

    def _replace_lease(self, lease: RedisLease, me: Any, holder: dict[str, Any]) -> bool:
        """Ask the lease's holder (any host) to stop; True once it released the lease or it expired.

        The lease is only ever taken with SET NX (or from a provably dead holder), so the holder
        and this run never both hold it: the holder stops its task, then releases; a holder that
        cannot be reached loses the lease when it expires, and stops before that by itself.
        """
        lease.ask_holder_to_stop(holder, self.record.run_id)
        deadline = time.monotonic() + self.facts.lease.ttl_ms / 1000 + self.facts.grace + REPLACE_MARGIN
        while time.monotonic() < deadline:
            time.sleep(REPLACE_POLL)
            try:
                lease.acquire(me)
            except LockHeld:
                continue
            self.capture.note(f"replaced run {holder.get('run_id')} on {holder.get('host')}")
            return True
        return False

    def _redis(self) -> Any:
        if self.guards.redis is None:
            # lazy: runner -> redis, only with a redis_url
            from cronkit.locks.redisconn import connect

            self.guards.redis = connect(self.facts.settings.redis_url or "", timeout=self.facts.lease.redis_timeout)
        return self.guards.redis

    def _redis_down(self, exc: ServiceUnavailable, need: str) -> RunOutcome | None:
        """Fail closed when Redis is unreachable, or go on without it when the task allows."""
        self.guards.redis = None
        task = self.facts.task
        if task.redis_fallback:
            self.capture.note(f"{_after_colon(exc)}; running without the Redis {need} (redis_fallback)")
            return self._take_advisory() if need == "lock" else None
        message = self.facts.redact(f"{exc}; {task.name} needs the Redis {need} (fail closed)")
        self.record.finish(RunStatus.FAILED, EXIT_UNAVAILABLE, error=message, letter=True)
        return self.record.outcome(RunStatus.FAILED, EXIT_UNAVAILABLE,
                                   self.record.failure_summary(RunStatus.FAILED, message))

    def _claim_slot(self) -> RunOutcome | None:
        task, slot = self.facts.task, self.facts.slot
        assert slot is not None
        slot_ms = to_ms(slot)
        holder = self.store.claim_slot(task.name, slot_ms, self.record.run_id)
        if holder is not None:
            return self._skip(self._served_by(slot, holder))
        if self._uses_redis() and (self.guards.redis is not None or not task.singleton):
            try:
                other = claim_slot(self._redis(), task.name, slot_ms, self.record.run_id)
            except ServiceUnavailable as exc:
                return self._redis_down(exc, "slot claim")
            if other is not None:
                who = f"run {other.get('run_id')} on {other.get('host')}"
                return self._skip(f"slot {slot.isoformat()} already served by {who}")
        return None

    def _late_start(self) -> RunOutcome | None:
        """Skip a start past the task's grace (its slot is claimed: it stays recorded); note a late one."""
        facts = self.facts
        assert facts.slot is not None
        late = SlotChoice(facts.slot, facts.late_ms, facts.task.grace)
        if late.too_late:
            return self._skip(late.note())
        if not late.in_minute:
            self.capture.note(late.note())
        return None

    def _attempts(self, signals: SignalWatch) -> RunOutcome:
        """Run attempts until one succeeds, fails for good, or the retries or the timeout run out."""
        task, record = self.facts.task, self.record
        deadline = record.t0 + task.timeout
        output_path = self.capture.open(record.run_id)
        if any("start" in n.on for n in self.facts.settings.notifiers_for(task.name)):
            # lazy: runner -> notify, only with notifiers
            from cronkit.notify.hook import START_BUDGET, before_run

            before_run(self.store, self.facts.settings, task.name, record.run_id, self.facts.redact,
                       self.facts.environ, min(START_BUDGET, task.timeout / 4))
        supervisor = Supervisor(signals, self._duties(time.monotonic()), self.capture.note, adopting=self.adopting)
        call = self._call()
        kept = self.guards.kept_fds()
        last = AttemptResult(RunStatus.FAILED, error="no attempt was made")
        for number in range(1, task.retries + 2):
            record.attempts = number
            attempt_started = to_ms(_now())
            last = supervisor.attempt(AttemptSpec(call, number, output_path, deadline, self.facts.grace, kept))
            record.attempt(number, attempt_started, last.status,
                           self.facts.redact(last.error) if last.error else None, last.usage)
            if last.output_dropped:
                self.capture.note(f"{last.output_dropped} bytes of the task's output were dropped (attempt {number}):"
                                  " the disk of the capture file was full")
            if last.status != RunStatus.FAILED or not last.transient or number > task.retries:
                break
            import random  # lazy: only a retry needs it, not every cron tick

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
        return Duties(Heartbeat(self.store, self.record.run_id, now, facts.heartbeat), keeper)

    def _call(self) -> TaskCall:
        facts = self.facts
        return TaskCall(facts.task, facts.settings, facts.config, facts.started, facts.request.params,
                        facts.slot, facts.request.date, facts.request.dry_run, self.record.run_id)

    def _conclude(self, last: AttemptResult) -> RunOutcome:
        """Record how the last attempt ended (a dead letter if for good) and say it in one line."""
        record, redact, request = self.record, self.facts.redact, self.facts.request
        status = last.status
        if status == RunStatus.INTERRUPTED and self.guards.local is not None:
            replaced = local_stop_request(self.guards.local.path.parent, self.facts.task.name, record.run_id)
            if replaced is not None:  # a run with concurrency="replace" sent the TERM
                last.error = f"replaced by run {replaced.get('by')} on {replaced.get('host')}"
        exit_code = last.exit_code if status != RunStatus.SUCCEEDED else EXIT_OK
        if status == RunStatus.FAILED and exit_code == EXIT_OK:
            exit_code = EXIT_FAILED
        error = redact(last.error) if last.error else None
        trace = redact(last.traceback) if last.traceback else None
        result = redact.value(last.result) if last.result is not None else None
        record.finish(status, exit_code, error=error, traceback=trace, result=result,
                      letter=status in (RunStatus.FAILED, RunStatus.TIMED_OUT), resolve=status == RunStatus.SUCCEEDED)
        if status == RunStatus.SUCCEEDED:
            summary = f"{self.facts.task.name} succeeded in {seconds(record.elapsed_ms())} (run {record.run_id})"
            if request.dead_letter_id is not None:
                summary += f"; dead letter {request.dead_letter_id} resolved"
        else:
            summary = record.failure_summary(status, error)
        return record.outcome(status, exit_code, summary, result)


def _after_colon(exc: BaseException) -> str:
    """Drop the leading "<task>: " of a cronkit error message."""
    return str(exc).split(": ", 1)[-1]


