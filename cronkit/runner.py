"""One run of one task: slot, locks, attempts in a child process, timeout, signals, capture, record.

The runner (the `cronkit run` process) never runs task code itself: each attempt is a forked child
in its own process group, so a timeout or a signal can stop the task with everything it started,
even when it is blocked in C code, and the runner stays free to record what happened.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import tempfile
import time
import traceback as tb
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .config import Settings
from .errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_SKIPPED,
    EXIT_TIMEOUT,
    EXIT_UNAVAILABLE,
    ConfigError,
    CronkitError,
    ServiceUnavailable,
    UsageError,
)
from .host import children_of
from .registry import Registry, Task, task_config
from .runlog.times import to_ms
from .runlog.writer import HEARTBEAT_INTERVAL, OUTPUT_TAIL_BYTES, RunStore
from .status import RunStatus, Trigger

STOP_GRACE = 10.0  # seconds between asking a task to stop and killing it
STOP_GRACE_ENV = "CRONKIT_STOP_GRACE"
# Stop a task this long (plus one Redis timeout, which a hung renewal may cost) before the
# grace period would run into its lease's expiry.
LEASE_MARGIN = 0.5
REDIS_TIMEOUT = 2.0  # seconds; at most a quarter of the lease TTL


@dataclass
class RunRequest:
    task: str
    trigger: Trigger = Trigger.MANUAL
    params: dict[str, str] = field(default_factory=dict)
    date: date | None = None
    dry_run: bool = False
    dead_letter_id: int | None = None  # set by `dlq retry`: resolve this letter on success
    slot: datetime | None = None  # the slot a retried cron run served (ctx.slot); never claimed again
    run_id: int | None = None  # adopt this `running` run (recorded by `cronkit serve`) instead of a new one


@dataclass
class RunOutcome:
    """What happened, for the CLI to report: exit code, status, and a one-line summary."""

    exit_code: int
    status: str | None = None
    run_id: int | None = None
    summary: str = ""
    result: Any = None
    duration_ms: int = 0
    quiet: bool = False  # nothing to print (a cron run that was not due)
    dead_letter_id: int | None = None


@dataclass
class AttemptResult:
    status: RunStatus
    error: str | None = None
    traceback: str | None = None
    result: Any = None
    transient: bool = False
    exit_code: int = EXIT_OK


def stop_grace(environ: Mapping[str, str] = os.environ) -> float:
    """Return the grace period between TERM and KILL: CRONKIT_STOP_GRACE seconds, else STOP_GRACE."""
    raw = environ.get(STOP_GRACE_ENV, "").strip()
    if not raw:
        return STOP_GRACE
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0.0 <= seconds <= 3600.0:
        raise ConfigError(f"{STOP_GRACE_ENV}: {raw!r} is not a number of seconds between 0 and 3600")
    return seconds


def run_task(settings: Settings, registry: Registry, request: RunRequest, environ: Mapping[str, str],
             *, adopt_orphans: bool = False) -> RunOutcome:
    """Run one task as SPEC section 6 says, record it, and return what the CLI should report.

    `adopt_orphans` (for a process that starts no children of its own, like the `cronkit run`
    CLI) makes this process the reaper of what the task detaches, so that it is stopped too.
    """
    from .clock import now as clock_now

    task = registry[request.task]  # UnknownTask: exit 2, nothing recorded
    config = task_config(task, settings.for_task(task.name))
    started = clock_now()
    slot = request.slot if request.trigger != Trigger.CRON else None
    if request.trigger == Trigger.CRON:
        from .schedule import slot_for

        slot = slot_for(task.schedule, task.zone(settings.timezone), started)
        if slot is None:
            return RunOutcome(EXIT_OK, quiet=True, summary=f"{task.name}: not due now in {task.zone(settings.timezone)}")

    store = RunStore.open(settings.db_url)
    try:
        run = _Run(settings, task, config, request, environ, store, started, slot)
        run.adopting = adopt_orphans and _become_subreaper()
        return run.execute()
    finally:
        store.close()


class _Run:
    def __init__(self, settings: Settings, task: Task, config: dict[str, Any], request: RunRequest,
                 environ: Mapping[str, str], store: RunStore, started: datetime, slot: datetime | None) -> None:
        from .locks import lease_ttl_ms
        from .redact import redactor_for

        self.grace = stop_grace(environ)
        self.lease_ttl_ms = lease_ttl_ms(environ)
        self.renew_every = self.lease_ttl_ms / 1000 / 3
        self.redis_timeout = min(REDIS_TIMEOUT, self.lease_ttl_ms / 1000 / 4)
        self.lease_margin = self.redis_timeout + LEASE_MARGIN
        self.settings = settings
        self.task = task
        self.config = config
        self.request = request
        self.environ = environ
        self.store = store
        self.started = started
        self.slot = slot
        self.redact = redactor_for(settings, environ)
        self.t0 = time.monotonic()
        self.run_id = 0
        self.attempts = 0
        self.signal_received: int | None = None
        self.redis: Any = None
        self.lease: Any = None
        self.local_lock: Any = None
        self.output_path: str | None = None
        self.notes: list[str] = []
        self.next_beat = 0.0
        self.next_renew = 0.0
        self.lease_stop_at: float | None = None  # when to stop the task because the lease is going
        self.lease_trouble: str | None = None
        self.dead_letter_id: int | None = None
        self.adopting = False  # this process reaps the task's orphans (see _become_subreaper)

    # -- the run ------------------------------------------------------------------------------------

    def execute(self) -> RunOutcome:
        store, task = self.store, self.task
        if self.request.run_id is not None:
            # Adopt before marking lost: until now the run's pid was the server's (or ours).
            if not store.adopt_run(self.request.run_id, task=task.name, trigger=self.request.trigger.value,
                                   at=to_ms(_now())):
                raise UsageError(f"--run-id: no running {self.request.trigger.value} run "
                                 f"{self.request.run_id} of {task.name} to adopt")
            self.run_id = self.request.run_id
            store.mark_lost(task=task.name)
        else:
            store.mark_lost(task=task.name)
            params: dict[str, Any] = dict(self.request.params)
            if self.request.date is not None:
                params["date"] = self.request.date.isoformat()
            import getpass

            self.run_id = store.start_run(
                task=task.name, trigger=self.request.trigger.value, started_at=to_ms(self.started),
                scheduled_for=to_ms(self.slot) if self.slot else None, user=_user(getpass),
                params=self.redact.value(params), dry_run=self.request.dry_run,  # type: ignore[arg-type]
            )
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(wake_r, False)
        self.wake_r = wake_r
        old_wakeup = signal.set_wakeup_fd(wake_w)
        for sig in previous:
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        try:
            return self._execute()
        except BaseException as exc:  # record what we can; never leave the run `running`
            if isinstance(exc, CronkitError):
                message, code = str(exc), exc.exit_code
            else:
                message, code = f"cronkit internal error: {type(exc).__name__}: {exc}", EXIT_FAILED
            self._finish(RunStatus.FAILED, code, error=self.redact(message), traceback=self.redact(tb.format_exc()))
            raise
        finally:
            self._release_locks()
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(wake_r)
            os.close(wake_w)
            if self.output_path:
                try:
                    os.unlink(self.output_path)
                except OSError:
                    pass

    def _execute(self) -> RunOutcome:
        task, settings = self.task, self.settings
        if self.request.trigger == Trigger.CRON:
            enabled = task.runs_in(settings.environment) and settings.for_task(task.name).get("enabled", True)
            if not enabled:
                return self._skip(f"not enabled in environment {settings.environment}")
        if task.singleton:
            stopped = self._take_locks()
            if stopped is not None:
                return stopped
        if self.request.trigger == Trigger.CRON:  # a retry serves its slot again on purpose
            stopped = self._claim_slot()
            if stopped is not None:
                return stopped
        return self._attempts()

    def _skip(self, reason: str) -> RunOutcome:
        self._finish(RunStatus.SKIPPED, EXIT_SKIPPED, error=reason)
        return self._outcome(RunStatus.SKIPPED, EXIT_SKIPPED, f"{self.task.name} skipped: {reason}")

    def _uses_redis(self) -> bool:
        """Redis guards global singletons (lease) and cron slots (claim) when it is configured."""
        return bool(self.settings.redis_url) and self.task.lock_scope == "global"

    def _take_locks(self) -> RunOutcome | None:
        from .locks import Holder, LocalLock, LockHeld, RedisLease

        me = Holder.me(self.run_id)
        self.local_lock = LocalLock(self.settings.home / "locks", self.task.name)
        try:
            self.local_lock.acquire(me)
        except LockHeld as held:
            self.local_lock = None
            return self._skip(str(held).split(": ", 1)[1])
        except OSError as exc:
            self.local_lock = None
            raise ServiceUnavailable(f"{self.task.name}: cannot take the local lock: {exc.strerror}") from None
        if self._uses_redis():
            try:
                lease = RedisLease(self._redis(), self.task.name, self.lease_ttl_ms)
                lease.acquire(me)
                self.lease = lease
            except LockHeld as held:
                return self._skip(str(held).split(": ", 1)[1])
            except ServiceUnavailable as exc:
                return self._redis_down(exc, "lock")
        return None

    def _redis(self) -> Any:
        if self.redis is None:
            self.redis = _redis_client(self.settings.redis_url or "", self.redis_timeout)
        return self.redis

    def _redis_down(self, exc: ServiceUnavailable, need: str) -> RunOutcome | None:
        """Fail closed when Redis is unreachable, or go on without it when the task allows."""
        self.redis = None
        if self.task.redis_fallback:
            self._note(f"{_after_colon(exc)}; running without the Redis {need} (redis_fallback)")
            return None
        message = self.redact(f"{exc}; {self.task.name} needs the Redis {need} (fail closed)")
        self._finish(RunStatus.FAILED, EXIT_UNAVAILABLE, error=message)
        self._write_dead_letter(message, None)
        return self._outcome(RunStatus.FAILED, EXIT_UNAVAILABLE, self._failure_summary(RunStatus.FAILED, message))

    def _claim_slot(self) -> RunOutcome | None:
        assert self.slot is not None
        slot_ms = to_ms(self.slot)
        holder = self.store.claim_slot(self.task.name, slot_ms, self.run_id)
        if holder is not None:
            return self._skip(f"slot {self.slot.isoformat()} already served by run {holder}")
        if self._uses_redis() and (self.redis is not None or not self.task.singleton):
            from .locks import claim_slot

            try:
                other = claim_slot(self._redis(), self.task.name, slot_ms, self.run_id)
            except ServiceUnavailable as exc:
                return self._redis_down(exc, "slot claim")
            if other is not None:
                who = f"run {other.get('run_id')} on {other.get('host')}"
                return self._skip(f"slot {self.slot.isoformat()} already served by {who}")
        return None

    def _attempts(self) -> RunOutcome:
        task = self.task
        deadline = self.t0 + task.timeout
        fd, self.output_path = tempfile.mkstemp(prefix=f"cronkit-{task.name}-", suffix=".out")
        os.close(fd)
        notes, self.notes = self.notes, []
        for note in notes:
            self._note(note)
        now = time.monotonic()
        self.next_beat = now + HEARTBEAT_INTERVAL
        self.next_renew = now + self.renew_every
        last = AttemptResult(RunStatus.FAILED, error="no attempt was made")
        for number in range(1, task.retries + 2):
            self.attempts = number
            attempt_started = to_ms(_now())
            last = self._one_attempt(number, deadline)
            self.store.record_attempt(
                self.run_id, number, started_at=attempt_started, finished_at=to_ms(_now()),
                status=last.status.value, error=self.redact(last.error) if last.error else None,
            )
            if last.status != RunStatus.FAILED or not last.transient or number > task.retries:
                break
            delay = min(task.backoff_max, task.backoff * 2 ** (number - 1)) * random.random()
            if time.monotonic() + delay >= deadline:
                # No time left for another attempt inside the timeout: fail now rather than sleep to it.
                last.error = f"{last.error} (no time left for attempt {number + 1} within the {task.timeout:g}s timeout)"
                break
            cut = self._sleep(delay)
            if cut is not None:
                last = cut
                break
        return self._conclude(last)

    def _interrupted_result(self) -> AttemptResult:
        code = EXIT_SIGINT if self.signal_received == signal.SIGINT else EXIT_SIGTERM
        name = signal.Signals(self.signal_received or signal.SIGTERM).name
        return AttemptResult(RunStatus.INTERRUPTED, error=f"interrupted by {name}", exit_code=code)

    def _lease_lost_result(self) -> AttemptResult:
        return AttemptResult(
            RunStatus.FAILED, exit_code=EXIT_UNAVAILABLE,
            error=f"{self.lease_trouble}; stopped the task before its lease could expire, so that no other"
            " host runs it at the same time",
        )

    def _conclude(self, last: AttemptResult) -> RunOutcome:
        status = last.status
        exit_code = last.exit_code if status != RunStatus.SUCCEEDED else EXIT_OK
        if status == RunStatus.FAILED and exit_code == EXIT_OK:
            exit_code = EXIT_FAILED
        error = self.redact(last.error) if last.error else None
        trace = self.redact(last.traceback) if last.traceback else None
        result = self.redact.value(last.result) if last.result is not None else None
        self._finish(status, exit_code, error=error, traceback=trace, result=result)
        if status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
            self._write_dead_letter(error, trace)
        if status == RunStatus.SUCCEEDED and self.request.dead_letter_id is not None:
            self.store.resolve_dead_letter(self.request.dead_letter_id, self.run_id, to_ms(_now()))
        if status == RunStatus.SUCCEEDED:
            summary = f"{self.task.name} succeeded in {_seconds(self._elapsed_ms())} (run {self.run_id})"
            if self.request.dead_letter_id is not None:
                summary += f"; dead letter {self.request.dead_letter_id} resolved"
        else:
            summary = self._failure_summary(status, error)
        return self._outcome(status, exit_code, summary, result)

    def _write_dead_letter(self, error: str | None, trace: str | None) -> None:
        """Keep a run that failed for good for a person to act on; a failed retry keeps its letter open."""
        if self.request.dead_letter_id is not None:
            return
        self.dead_letter_id = self.store.dead_letter(
            run_id=self.run_id, task=self.task.name, params=self.redact.value(self._params()),  # type: ignore[arg-type]
            scheduled_for=to_ms(self.slot) if self.slot else None, error=error, traceback=trace,
            attempts=self.attempts, created_at=to_ms(_now()),
        )

    def _failure_summary(self, status: RunStatus, error: str | None) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        summary = f"{self.task.name} {status.value}{tries}: {error} (run {self.run_id}; cronkit show {self.run_id}"
        if self.dead_letter_id is not None:
            summary += f"; dead letter {self.dead_letter_id}"
        elif self.request.dead_letter_id is not None:
            summary += f"; dead letter {self.request.dead_letter_id} stays open"
        return summary + ")"

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.request.params)
        if self.request.date is not None:
            params["date"] = self.request.date.isoformat()
        if self.request.dry_run:
            params["dry_run"] = True
        return params

    def _outcome(self, status: RunStatus, exit_code: int, summary: str, result: Any = None) -> RunOutcome:
        return RunOutcome(exit_code, status.value, self.run_id, summary, result, self._elapsed_ms(),
                          dead_letter_id=self.dead_letter_id)

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self.t0) * 1000)

    def _finish(self, status: RunStatus, exit_code: int, *, error: str | None = None,
                traceback: str | None = None, result: Any = None) -> None:
        output = self._collect_output()
        self.store.finish_run(
            self.run_id, status=status.value, finished_at=to_ms(_now()), duration_ms=self._elapsed_ms(),
            attempts=self.attempts, exit_code=exit_code, error=error, traceback=traceback,
            result=result, output=output,
        )

    def _note(self, text: str) -> None:
        """Add a line of cronkit's own to the run's captured output (before the first attempt: keep it)."""
        if not self.output_path:
            self.notes.append(text)
            return
        stamp = _now().isoformat(timespec="seconds")
        try:
            with open(self.output_path, "a", encoding="utf-8") as fh:  # O_APPEND: safe beside the task's writes
                fh.write(f"cronkit: {stamp} {text}\n")
        except OSError:
            pass

    # -- one attempt in a child process ------------------------------------------------------------

    def _one_attempt(self, number: int, deadline: float) -> AttemptResult:
        if self.signal_received is not None:
            return self._interrupted_result()
        if self.lease_stop_at is not None and time.monotonic() >= self.lease_stop_at:
            return self._lease_lost_result()
        if time.monotonic() >= deadline:
            return AttemptResult(RunStatus.TIMED_OUT, error=f"timed out after {self.task.timeout:g}s",
                                 exit_code=EXIT_TIMEOUT)
        result_r, result_w = os.pipe()
        life_r, life_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(result_r)
            os.close(life_w)
            if self.local_lock is not None:
                self.local_lock.close_in_child()
            _child_main(self, number, result_w, life_r)
        try:  # also here, so that a TERM to the group cannot race the child's own setpgid
            os.setpgid(pid, pid)
        except OSError:
            pass
        os.close(result_w)
        os.close(life_r)
        try:
            return self._supervise(pid, result_r, deadline)
        finally:
            os.close(result_r)
            os.close(life_w)

    def _supervise(self, pid: int, result_r: int, deadline: float) -> AttemptResult:
        chunks: list[bytes] = []
        status: int | None = None
        stop_at: float | None = None  # when to SIGKILL the group
        stopping: AttemptResult | None = None
        pipe_open = True
        while status is None:
            now = time.monotonic()
            if stopping is None:
                if self.signal_received is not None:
                    stopping = self._interrupted_result()
                    _signal(pid, signal.SIGTERM, group=False)  # the task's cancellation flag
                    stop_at = now + self.grace
                elif now >= deadline:
                    stopping = AttemptResult(RunStatus.TIMED_OUT, error=f"timed out after {self.task.timeout:g}s",
                                             exit_code=EXIT_TIMEOUT)
                    _signal(pid, signal.SIGTERM, group=True)
                    stop_at = now + self.grace
                elif self.lease_stop_at is not None and now >= self.lease_stop_at:
                    stopping = self._lease_lost_result()
                    _signal(pid, signal.SIGTERM, group=True)
                    # Dead before the lease can expire, even when the grace period is longer than that.
                    stop_at = max(now, min(now + self.grace, self.lease.expires_at - self.lease_margin))
            elif stop_at is not None and now >= stop_at:
                _signal(pid, signal.SIGKILL, group=True)
                stop_at = None
            self._maintain(now)
            waits = [self._next_duty(now) - now, 1.0]
            if stopping is None:
                waits.append(deadline - now)
            if stop_at is not None:
                waits.append(stop_at - now)
            timeout = max(0.0, min(waits))
            readers = [self.wake_r] + ([result_r] if pipe_open else [])
            ready, _, _ = _select(readers, timeout)
            if self.wake_r in ready:
                _drain(self.wake_r)
            if result_r in ready:
                data = os.read(result_r, 65536)
                if data:
                    chunks.append(data)
                else:
                    pipe_open = False
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = code
        if pipe_open:  # the child is gone; read what it wrote before it went
            os.set_blocking(result_r, False)
            try:
                while data := os.read(result_r, 65536):
                    chunks.append(data)
            except BlockingIOError:
                pass
        _signal(pid, signal.SIGKILL, group=True)  # nothing the task started outlives the attempt
        if self.adopting:  # nor what it detached from its group (setsid, a daemon's double fork)
            left = _stop_adopted()
            if left:
                self._note(f"killed {left} process(es) the task left running outside its process group")
        if stopping is not None:  # the runner decided the outcome, whatever the task said
            return stopping
        return _decode_child(b"".join(chunks), status)

    # -- duties while a task runs or waits: heartbeat, lease --------------------------------------

    def _maintain(self, now: float) -> None:
        """Beat the run's heartbeat and renew its Redis lease when they are due."""
        if now >= self.next_beat:
            try:
                self.store.heartbeat(self.run_id, to_ms(_now()))
                self.next_beat = now + HEARTBEAT_INTERVAL
            except ServiceUnavailable:  # a busy or unreachable run log must not fail the task: beat again soon
                self.next_beat = now + HEARTBEAT_INTERVAL / 6
        if self.lease is not None and now >= self.next_renew:
            # A renewal blocks up to one Redis timeout: none may delay a stop the lease requires.
            if self.lease_stop_at is None or now + self.redis_timeout < self.lease_stop_at:
                self._renew_lease(now)
            else:
                self.next_renew = float("inf")

    def _next_duty(self, now: float) -> float:
        duties = [self.next_beat]
        if self.lease is not None:
            duties.append(self.next_renew)
        if self.lease_stop_at is not None and self.lease_stop_at > now:
            duties.append(self.lease_stop_at)
        return min(duties)

    def _renew_lease(self, now: float) -> None:
        """Renew the lease; when that fails, decide when the task must stop (SPEC 6, README "Runs")."""
        try:
            renewed: bool | None = self.lease.renew()
            why = "the Redis lease was taken over by another holder"
        except Exception as exc:  # noqa: BLE001 - any Redis failure means the same here
            renewed = None
            why = f"the Redis lease could not be renewed (Redis unavailable: {_first_line(exc)})"
        if renewed:
            if self.lease_trouble is not None:
                self._note("the Redis lease is renewed again")
            self.lease_trouble = None
            self.lease_stop_at = None
            self.next_renew = now + self.renew_every
            return
        if self.lease_trouble is None:
            if self.task.redis_fallback:
                self._note(f"{why}; going on under the local lock (redis_fallback)")
            else:
                self._note(f"{why}; the task is stopped unless the lease is renewed in time")
        self.lease_trouble = self.redact(why)
        if self.task.redis_fallback:
            self.next_renew = now + self.renew_every
            return
        if renewed is False:
            stop = now  # someone else runs the task now: stop at once
        else:
            # The lease is ours until expires_at; the task must be dead by then, KILL included.
            stop = self.lease.expires_at - self.grace - self.lease_margin
        self.lease_stop_at = stop if self.lease_stop_at is None else min(self.lease_stop_at, stop)
        self.next_renew = now + min(self.renew_every, 1.0)  # keep trying: Redis may be back in time

    def _sleep(self, seconds: float) -> AttemptResult | None:
        """Sleep between attempts, keeping up heartbeat and lease; the result that cut it short, if any."""
        end = time.monotonic() + seconds
        while True:
            if self.signal_received is not None:
                return self._interrupted_result()
            now = time.monotonic()
            if self.lease_stop_at is not None and now >= self.lease_stop_at:
                return self._lease_lost_result()
            if now >= end:
                return None
            self._maintain(now)
            ready, _, _ = _select([self.wake_r], max(0.0, min(end, self._next_duty(now)) - now))
            if ready:
                _drain(self.wake_r)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.signal_received is None:
            self.signal_received = signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM

    # -- output and locks --------------------------------------------------------------------------

    def _collect_output(self) -> str | None:
        """Redact the attempts' output, append it to the task's log file, return the stored tail."""
        if not self.output_path:
            return None
        try:
            with open(self.output_path, "rb") as fh:
                raw = fh.read()
        except OSError:
            return None
        if not raw:
            return None
        text = self.redact(raw.decode("utf-8", "replace"))
        log_dir = self.settings.task_log_dir
        try:
            log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            header = f"--- run {self.run_id} {self.started.isoformat(timespec='seconds')} ---\n"
            fd = os.open(log_dir / f"{self.task.name}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(header + text + ("" if text.endswith("\n") else "\n"))
        except OSError:
            pass  # the run log keeps the tail even when the log directory is not writable
        encoded = text.encode()
        if len(encoded) > OUTPUT_TAIL_BYTES:
            text = encoded[-OUTPUT_TAIL_BYTES:].decode("utf-8", "ignore")
        return text

    def _release_locks(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self.local_lock is not None:
            self.local_lock.release()
            self.local_lock = None


def _child_main(run: _Run, number: int, result_w: int, life_r: int) -> None:
    """Run one attempt of the task in this forked child and report on `result_w`; never return."""
    code = 0
    try:
        os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C reaches the runner, which decides
        out = os.open(run.output_path or os.devnull, os.O_WRONLY | os.O_APPEND)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(devnull)
        report = _attempt_in_child(run, number, life_r)
    except BaseException as exc:  # noqa: BLE001 - the child must always report
        report = {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": tb.format_exc()}
    try:
        payload = json.dumps(report, default=str).encode()
    except (TypeError, ValueError) as exc:
        payload = json.dumps({"status": "failed", "error": f"result is not JSON-serialisable: {exc}"}).encode()
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(result_w, view):]
    except OSError:
        code = 1
    os._exit(code)


def _attempt_in_child(run: _Run, number: int, life_r: int) -> dict[str, Any]:
    import io
    import logging
    import sys
    import threading

    from .context import TaskContext
    from .errors import Cancelled, TransientError

    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)

    def lifeline() -> None:  # the runner died (kill -9): take the whole attempt down with it
        os.read(life_r, 1)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=lifeline, daemon=True).start()
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    ctx = TaskContext(
        task=run.task.name, settings=run.settings, config=run.config, now=run.started,
        params=dict(run.request.params), slot=run.slot, date=run.request.date,
        dry_run=run.request.dry_run, run_id=run.run_id, attempt=number,
        logger=logging.getLogger(f"cronkit.task.{run.task.name}"), cancel_event=cancel,
    )
    try:
        func = run.task.load()
        result = func(ctx)
        if result is not None and not isinstance(result, dict):
            raise TypeError(f"a task returns a dict or None, not {type(result).__name__}")
        return {"status": "succeeded", "result": result}
    except Cancelled as exc:
        return {"status": "interrupted", "error": str(exc) or "cancelled"}
    except CronkitError as exc:
        return {"status": "failed", "error": str(exc), "traceback": tb.format_exc(),
                "exit_code": exc.exit_code}
    except BaseException as exc:  # noqa: BLE001
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": tb.format_exc(),
                "transient": isinstance(exc, TransientError) or _is_transient(exc)}


def _is_transient(exc: BaseException) -> bool:
    """Tell connection and timeout errors of known clients from bugs."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    module = type(exc).__module__
    if module.startswith("redis"):
        from .redisutil import TRANSIENT_ERRORS

        return isinstance(exc, TRANSIENT_ERRORS)
    if module.startswith("sqlalchemy"):
        from sqlalchemy.exc import DBAPIError, OperationalError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        return isinstance(exc, (OperationalError, PoolTimeout)) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        )
    return False


def _decode_child(payload: bytes, status: int) -> AttemptResult:
    try:
        report = json.loads(payload) if payload else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        if os.WIFSIGNALED(status):
            why = f"the task process was killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            why = f"the task process exited with status {os.WEXITSTATUS(status)} without reporting"
        return AttemptResult(RunStatus.FAILED, error=why, exit_code=EXIT_FAILED)
    kind = RunStatus(report.get("status", "failed"))
    return AttemptResult(
        kind,
        error=report.get("error"),
        traceback=report.get("traceback"),
        result=report.get("result"),
        transient=bool(report.get("transient")),
        exit_code=int(report.get("exit_code") or (EXIT_SIGTERM if kind == RunStatus.INTERRUPTED else EXIT_FAILED)),
    )


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); True if it now is.

    A process the task detaches (setsid, a daemon's double fork) leaves the attempt's process
    group, so killing the group misses it; as a subreaper, the runner gets it as a child when its
    parent dies, and _stop_adopted finds it there. Only for a process that owns all its children:
    _stop_adopted reaps any child it finds.
    """
    try:
        import ctypes

        return int(ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # not Linux, or no prctl
        return False


def _stop_adopted(limit: float = 5.0) -> int:
    """SIGKILL and reap the processes an attempt left behind, adopted by this process; return how many.

    A killed process's own children are adopted in turn and go in the next round. Gives up after
    `limit` seconds (a process stuck in the kernel cannot be reaped), leaving the rest to init.
    """
    me = os.getpid()
    killed: set[int] = set()
    deadline = time.monotonic() + limit
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no children left
            return len(killed)
        if pid:
            continue
        if time.monotonic() >= deadline:
            return len(killed)
        for child in children_of(me):
            _signal(child, signal.SIGKILL, group=False)
            killed.add(child)
        time.sleep(0.005)


def _signal(pid: int, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _select(readers: list[int], timeout: float) -> tuple[list[int], list[int], list[int]]:
    try:
        return select.select(readers, [], [], timeout)
    except InterruptedError:
        return [], [], []


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _redis_client(url: str, timeout: float) -> Any:
    from .redisutil import connect

    return connect(url, timeout=timeout)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _after_colon(exc: BaseException) -> str:
    """Drop the leading "<task>: " of a cronkit error message."""
    return str(exc).split(": ", 1)[-1]


def _now() -> datetime:
    from .clock import now

    return now()


def _user(getpass: Any) -> str | None:
    try:
        return str(getpass.getuser())
    except (KeyError, OSError):
        return None


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.1f}s" if ms >= 100 else f"{ms}ms"


__all__ = ["RunOutcome", "RunRequest", "run_task"]
