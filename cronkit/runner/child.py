"""The child side of an attempt: run the task function in the forked process, report how it went.

The child gets an AttemptSpec and nothing else of the runner. Its report is one JSON object on a
pipe, which decode_report() turns back into an AttemptResult on the runner's side.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import sys
import threading

from cronkit.context import TaskContext, lazy_logger
from cronkit.errors import EXIT_FAILED, EXIT_SIGTERM, Cancelled, CronkitError, TransientError
from cronkit.plain import TYPE_CHECKING
from cronkit.registry.limits import Limits, broken_by, killed_by
from cronkit.registry.limits import apply as apply_limits
from cronkit.runlog.status import RunStatus
from cronkit.runner.command import run_command
from cronkit.runner.spec import AttemptResult, AttemptSpec
from cronkit.safe.jsontext import finite

if TYPE_CHECKING:
    import logging
    from typing import Any, NoReturn


def child_main(spec: AttemptSpec, result_w: int, life_r: int) -> NoReturn:
    """Run one attempt of the task in this forked child and report on `result_w`; never return.

    Whatever happens once the task function returns (a result whose `__str__` raises, a
    MemoryError, a SystemExit from a result's method), the child reports what it can and ends
    with os._exit: the runner's own code (recording, retrying, releasing locks) must never go on
    in it.
    """
    code = 1
    attempt_pid = os.getpid()
    try:
        try:
            report = _setup_and_attempt(spec, life_r)
        except BaseException as exc:  # noqa: BLE001 - the child must always report
            report = _failure(exc)
        if os.getpid() != attempt_pid:  # a process the task forked returned from it: only the attempt reports
            code = 0
        else:
            if _Output.dropped:
                report["output_dropped"] = _Output.dropped
            code = _send(result_w, _encode(report))
    except BaseException:  # noqa: BLE001 - even reporting failed: a last, fixed report
        try:
            _send(result_w, _LAST_WORD)
        except BaseException:  # noqa: BLE001, S110
            pass
    finally:
        os._exit(code)


# What the child says when it cannot even say what went wrong (no memory left, say).
_LAST_WORD = b'{"status": "failed", "error": "the task process could not report its outcome"}'


def _setup_and_attempt(spec: AttemptSpec, life_r: int) -> dict[str, Any]:
    """Become the attempt's process (own group, stdio on the capture file), then run the task."""
    os.setpgid(0, 0)
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C reaches the runner, which decides
    out = os.open(spec.output_path or os.devnull, os.O_WRONLY | os.O_APPEND)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(devnull)
    if spec.call.task.command is not None:
        return run_command(spec, lambda: _lifeline(life_r))
    return _attempt(spec, life_r)


def _message(exc: BaseException) -> str:
    """Return an exception's message, even when its `__str__` raises."""
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001
        return "(its message could not be shown)"


def _describe(exc: BaseException) -> str:
    """Return `Type: message` for an exception, even one whose `__str__` raises."""
    return f"{type(exc).__name__}: {_message(exc)}"


def _trace() -> str | None:
    """Return the current exception's traceback, or None when even that fails."""
    try:
        import traceback  # lazy: traceback (with linecache, tokenize, textwrap), only for a task that raised

        return traceback.format_exc()
    except BaseException:  # noqa: BLE001
        return None


def _failure(exc: BaseException, **extra: Any) -> dict[str, Any]:
    """Return the report of an attempt that raised `exc` (call it while handling `exc`)."""
    return {"status": "failed", "error": _describe(exc), "traceback": _trace(), **extra}


def _encode(report: dict[str, Any]) -> bytes:
    """Encode the report as JSON: non-finite floats as strings, other values by `str`, a failure when that fails.

    A result that cannot be encoded (its `__str__` raises, even SystemExit; it refers to itself;
    memory runs out) fails the attempt, as a result that is not a JSON-serialisable dict does.
    """
    try:
        return json.dumps(finite(report), default=str).encode()
    except BaseException as exc:  # noqa: BLE001 - a result whose methods raise, or too deep, or no memory
        return json.dumps({"status": "failed", "error": f"the task's result could not be reported: {_describe(exc)}",
                           "traceback": _trace()}).encode()


def _send(fd: int, payload: bytes) -> int:
    """Write the whole payload to the runner; return the child's exit code (1 when the pipe failed)."""
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        return 1
    return 0


def _attempt(spec: AttemptSpec, life_r: int) -> dict[str, Any]:
    """Call the task function with its TaskContext; return the report (status, result or error)."""
    _python_streams_to_fds()
    threading.Thread(target=_lifeline, args=(life_r,), daemon=True).start()
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    call = spec.call
    ctx = TaskContext(
        task=call.task.name, settings=call.settings, config=call.config, now=call.now,
        params=dict(call.params), slot=call.slot, date=call.date, dry_run=call.dry_run,
        run_id=call.run_id, attempt=spec.number, logger=_task_logger(call.task.name), cancel_event=cancel,
        declared=call.task.params,
    )
    limits = call.task.limits
    try:
        func = call.task.load()
        if "logging" in sys.modules:  # the task's module logs its own way: set logging up before it runs
            _log_to_stderr()
        if limits:
            apply_limits(limits)  # after the import: the limits bound the task, not cronkit's start-up
        result = func(ctx)
        if result is not None and not isinstance(result, dict):
            raise TypeError(f"a task returns a dict or None, not {type(result).__name__}")
        return {"status": "succeeded", "result": result}
    except Cancelled as exc:
        return {"status": "interrupted", "error": _message(exc) or "cancelled"}
    except CronkitError as exc:
        return _failure(exc, error=_message(exc), exit_code=exc.exit_code)
    except BaseException as exc:  # noqa: BLE001
        broken = broken_by(limits, exc) if limits else None
        if broken is not None:  # a limit is the task's own doing: not transient, named as such
            return _failure(exc, error=broken)
        return _failure(exc, transient=isinstance(exc, TransientError) or _is_transient(exc))


class _Output(io.RawIOBase):
    """Descriptor 1 or 2 for the task's Python code: what a full disk refuses is counted and dropped.

    A full disk costs output, never the outcome: a print() to a capture file with no room left
    must not fail the task. What was dropped is reported with the attempt and noted in the run's
    output.
    """

    dropped = 0  # bytes, both streams together

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def write(self, data: Any) -> int:
        size = len(memoryview(data))
        try:
            return os.write(self.fd, data)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            _Output.dropped += size
            return size


def _python_streams_to_fds() -> None:
    """Point sys.stdout and sys.stderr at descriptors 1 and 2, unbuffered, so output lands in order."""
    sys.stdout = io.TextIOWrapper(_Output(1), write_through=True)
    sys.stderr = io.TextIOWrapper(_Output(2), write_through=True)


def _lifeline(life_r: int) -> None:
    """Wait for the runner to die (kill -9): then take the whole attempt down with it."""
    os.read(life_r, 1)
    os.killpg(0, signal.SIGKILL)


def _task_logger(task: str) -> logging.Logger:
    """Return the task's logger, which sends logging to the captured stderr on first use (LazyLogger)."""
    return lazy_logger(f"cronkit.task.{task}", _log_to_stderr)


def _log_to_stderr() -> None:
    """Send logging to the captured stderr, INFO and up, once; handlers the task's module added stay after it."""
    import logging  # lazy: most ticks never log, and logging costs ~10 ms to import

    root = logging.getLogger()
    if any(getattr(h, "cronkit_task", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.cronkit_task = True  # type: ignore[attr-defined]
    root.handlers[:] = [handler, *root.handlers]
    root.setLevel(logging.INFO)


def _is_transient(exc: BaseException) -> bool:
    """Tell connection and timeout errors of known clients from bugs."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    module = type(exc).__module__
    if module.startswith("redis"):
        from cronkit.locks.redisconn import TRANSIENT_ERRORS  # lazy: redis, only when a task raised

        return isinstance(exc, TRANSIENT_ERRORS)
    if module.startswith("sqlalchemy"):
        # lazy: SQLAlchemy, only when a task raised (a SQLite run log never loads it)
        from sqlalchemy import exc as db

        return isinstance(exc, (db.OperationalError, db.TimeoutError)) or (
            isinstance(exc, db.DBAPIError) and exc.connection_invalidated
        )
    return False


def decode_report(payload: bytes, status: int, limits: Limits | None = None) -> AttemptResult:
    """Turn the child's report and its wait status into an AttemptResult (no report: how it died,
    named as the task's limit when a limit's signal ended it)."""
    try:
        report = json.loads(payload) if payload else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        limit = killed_by(limits, os.WTERMSIG(status)) if limits and os.WIFSIGNALED(status) else None
        if limit is not None:
            why = limit
        elif os.WIFSIGNALED(status):
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
        output_dropped=int(report.get("output_dropped") or 0),
        exit_code=int(report.get("exit_code") or (EXIT_SIGTERM if kind == RunStatus.INTERRUPTED else EXIT_FAILED)),
    )
