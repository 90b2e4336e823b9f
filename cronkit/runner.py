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
from pathlib import Path
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
    CronkitError,
    ServiceUnavailable,
)
from .registry import Registry, Task, task_config
from .runstore import HEARTBEAT_INTERVAL, OUTPUT_TAIL_BYTES, RunStatus, RunStore, Trigger, to_ms

STOP_GRACE = 10.0  # seconds between asking a task to stop and killing it
STOP_GRACE_ENV = "CRONKIT_STOP_GRACE"


@dataclass
class RunRequest:
    task: str
    trigger: Trigger = Trigger.MANUAL
    params: dict[str, str] = field(default_factory=dict)
    date: date | None = None
    dry_run: bool = False
    dead_letter_id: int | None = None


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


@dataclass
class AttemptResult:
    status: RunStatus
    error: str | None = None
    traceback: str | None = None
    result: Any = None
    transient: bool = False
    exit_code: int = EXIT_OK


def stop_grace() -> float:
    try:
        return float(os.environ.get(STOP_GRACE_ENV, STOP_GRACE))
    except ValueError:
        return STOP_GRACE


def run_task(settings: Settings, registry: Registry, request: RunRequest, environ: Mapping[str, str]) -> RunOutcome:
    """Run one task as SPEC section 6 says, record it, and return what the CLI should report."""
    from .clock import now as clock_now

    task = registry[request.task]  # UnknownTask: exit 2, nothing recorded
    config = task_config(task, settings.for_task(task.name))
    started = clock_now()
    slot = None
    if request.trigger == Trigger.CRON:
        from .schedule import slot_for

        slot = slot_for(task.schedule, task.zone(settings.timezone), started)
        if slot is None:
            return RunOutcome(EXIT_OK, quiet=True, summary=f"{task.name}: not due now in {task.zone(settings.timezone)}")

    store = RunStore.open(settings.db_url)
    try:
        return _Run(settings, task, config, request, environ, store, started, slot).execute()
    finally:
        store.close()


class _Run:
    def __init__(self, settings: Settings, task: Task, config: dict[str, Any], request: RunRequest,
                 environ: Mapping[str, str], store: RunStore, started: datetime, slot: datetime | None) -> None:
        from .redact import redactor_for

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

    # -- the run ------------------------------------------------------------------------------------

    def execute(self) -> RunOutcome:
        store, task = self.store, self.task
        store.mark_lost(task=task.name)
        params: dict[str, Any] = dict(self.request.params)
        if self.request.date is not None:
            params["date"] = self.request.date.isoformat()
        import getpass

        self.run_id = store.start_run(
            task=task.name, trigger=self.request.trigger.value, started_at=to_ms(self.started),
            scheduled_for=to_ms(self.slot) if self.slot else None, user=_user(getpass),
            params=params, dry_run=self.request.dry_run,
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
            message = f"cronkit internal error: {type(exc).__name__}: {exc}"
            self._finish(RunStatus.FAILED, EXIT_FAILED, error=self.redact(message),
                         traceback=self.redact(tb.format_exc()))
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
            skipped = self._take_locks()
            if skipped is not None:
                return skipped
        if self.slot is not None:
            skipped = self._claim_slot()
            if skipped is not None:
                return skipped
        return self._attempts()

    def _skip(self, reason: str) -> RunOutcome:
        self._finish(RunStatus.SKIPPED, EXIT_SKIPPED, error=reason)
        return self._outcome(RunStatus.SKIPPED, EXIT_SKIPPED, f"{self.task.name} skipped: {reason}")

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
        if self.task.lock_scope == "global" and self.settings.redis_url:
            try:
                self.redis = _redis_client(self.settings.redis_url)
                lease = RedisLease(self.redis, self.task.name)
                lease.acquire(me)
                self.lease = lease
            except LockHeld as held:
                return self._skip(str(held).split(": ", 1)[1])
            except ServiceUnavailable as exc:
                self.redis = None
                if not self.task.redis_fallback:
                    message = f"{exc}; {self.task.name} needs the Redis lock (fail closed)"
                    self._finish(RunStatus.FAILED, EXIT_UNAVAILABLE, error=self.redact(message))
                    return self._outcome(RunStatus.FAILED, EXIT_UNAVAILABLE, self.redact(message))
                self.notes.append(f"Redis unavailable ({exc}); running on the local lock only")
        return None

    def _claim_slot(self) -> RunOutcome | None:
        assert self.slot is not None
        slot_ms = to_ms(self.slot)
        holder = self.store.claim_slot(self.task.name, slot_ms, self.run_id)
        if holder is not None:
            return self._skip(f"slot {self.slot.isoformat()} already served by run {holder}")
        if self.redis is not None:
            from .locks import claim_slot

            try:
                other = claim_slot(self.redis, self.task.name, slot_ms, self.run_id)
            except ServiceUnavailable as exc:
                other = None
                self.notes.append(f"slot not claimed in Redis: {exc}")
            if other is not None:
                who = f"run {other.get('run_id')} on {other.get('host')}"
                return self._skip(f"slot {self.slot.isoformat()} already served by {who}")
        return None

    def _attempts(self) -> RunOutcome:
        task = self.task
        deadline = self.t0 + task.timeout
        fd, self.output_path = tempfile.mkstemp(prefix=f"cronkit-{task.name}-", suffix=".out")
        os.close(fd)
        if self.notes:
            with open(self.output_path, "a") as fh:
                fh.writelines(f"cronkit: {note}\n" for note in self.notes)
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
                delay = max(0.0, deadline - time.monotonic())
            if self._sleep(delay) or time.monotonic() >= deadline:
                if self.signal_received is not None:
                    last = self._interrupted_result()
                else:
                    last = AttemptResult(RunStatus.TIMED_OUT, error=f"timed out after {task.timeout:g}s "
                                         f"(retrying {last.error})", exit_code=EXIT_TIMEOUT)
                break
        return self._conclude(last)

    def _interrupted_result(self) -> AttemptResult:
        code = EXIT_SIGINT if self.signal_received == signal.SIGINT else EXIT_SIGTERM
        name = signal.Signals(self.signal_received or signal.SIGTERM).name
        return AttemptResult(RunStatus.INTERRUPTED, error=f"interrupted by {name}", exit_code=code)

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
            self.store.dead_letter(
                run_id=self.run_id, task=self.task.name, params=self._params(),
                scheduled_for=to_ms(self.slot) if self.slot else None, error=error, traceback=trace,
                attempts=self.attempts, created_at=to_ms(_now()),
            )
        if status == RunStatus.SUCCEEDED and self.request.dead_letter_id is not None:
            self.store.resolve_dead_letter(self.request.dead_letter_id, self.run_id, to_ms(_now()))
        if status == RunStatus.SUCCEEDED:
            summary = f"{self.task.name} succeeded in {_seconds(self._elapsed_ms())} (run {self.run_id})"
        else:
            tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
            summary = f"{self.task.name} {status.value}{tries}: {error} (run {self.run_id}; cronkit show {self.run_id})"
        return self._outcome(status, exit_code, summary, result)

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.request.params)
        if self.request.date is not None:
            params["date"] = self.request.date.isoformat()
        if self.request.dry_run:
            params["dry_run"] = True
        return params

    def _outcome(self, status: RunStatus, exit_code: int, summary: str, result: Any = None) -> RunOutcome:
        return RunOutcome(exit_code, status.value, self.run_id, summary, result, self._elapsed_ms())

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

    # -- one attempt in a child process ------------------------------------------------------------

    def _one_attempt(self, number: int, deadline: float) -> AttemptResult:
        if self.signal_received is not None:
            return self._interrupted_result()
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
        next_beat = time.monotonic() + HEARTBEAT_INTERVAL
        renew_every = 20.0
        next_renew = time.monotonic() + renew_every
        lease_lost_at: float | None = None
        pipe_open = True
        while status is None:
            now = time.monotonic()
            if stopping is None:
                if self.signal_received is not None:
                    stopping = self._interrupted_result()
                    _signal(pid, signal.SIGTERM, group=False)  # the task's cancellation flag
                    stop_at = now + stop_grace()
                elif now >= deadline:
                    stopping = AttemptResult(RunStatus.TIMED_OUT, error=f"timed out after {self.task.timeout:g}s",
                                             exit_code=EXIT_TIMEOUT)
                    _signal(pid, signal.SIGTERM, group=True)
                    stop_at = now + stop_grace()
                elif lease_lost_at is not None and now >= lease_lost_at:
                    stopping = AttemptResult(
                        RunStatus.FAILED, exit_code=EXIT_UNAVAILABLE,
                        error="lost the Redis lease (Redis unreachable); stopped so that no other host runs it twice",
                    )
                    _signal(pid, signal.SIGTERM, group=True)
                    stop_at = now + stop_grace()
            elif stop_at is not None and now >= stop_at:
                _signal(pid, signal.SIGKILL, group=True)
                stop_at = None
            if now >= next_beat:
                self.store.heartbeat(self.run_id, to_ms(_now()))
                next_beat = now + HEARTBEAT_INTERVAL
            if self.lease is not None and now >= next_renew:
                lease_lost_at = self._renew_lease(lease_lost_at, now)
                next_renew = now + (2.0 if lease_lost_at is not None else renew_every)
            waits = [next_beat - now, 1.0]
            if stopping is None:
                waits.append(deadline - now)
            if stop_at is not None:
                waits.append(stop_at - now)
            if self.lease is not None:
                waits.append(next_renew - now)
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
        if stopping is not None:  # the runner decided the outcome, whatever the task said
            return stopping
        return _decode_child(b"".join(chunks), status)

    def _renew_lease(self, lost_at: float | None, now: float) -> float | None:
        try:
            if self.lease.renew():
                return None
            return now  # someone else owns it now: stop at once
        except Exception:
            # Redis is unreachable: the lease stays ours until its TTL runs out; stop before then.
            return lost_at if lost_at is not None else now + self.lease.ttl_ms / 1000 - 5.0

    def _sleep(self, seconds: float) -> bool:
        """Sleep between attempts; return True when a signal cut it short."""
        end = time.monotonic() + seconds
        while self.signal_received is None:
            left = end - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = _select([self.wake_r], left)
            if ready:
                _drain(self.wake_r)
        return True

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
        from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError as PoolTimeout

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


def _redis_client(url: str) -> Any:
    from .redisutil import connect

    return connect(url, timeout=2.0)


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


__all__ = ["RunOutcome", "RunRequest", "run_task", "Path"]
