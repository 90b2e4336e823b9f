"""The child side of an attempt: run the task function in the forked process, report how it went.

The child gets an AttemptSpec and nothing else of the runner. Its report is one JSON object on a
pipe, which decode_report() turns back into an AttemptResult on the runner's side.
"""

from __future__ import annotations

import json
import os
import signal
import traceback as tb
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import EXIT_FAILED, EXIT_SIGTERM, CronkitError
from ..limits import Limits, broken_by, killed_by
from ..limits import apply as apply_limits
from ..status import RunStatus
from .spec import AttemptResult, AttemptSpec

if TYPE_CHECKING:
    import logging


def child_main(spec: AttemptSpec, result_w: int, life_r: int) -> NoReturn:
    """Run one attempt of the task in this forked child and report on `result_w`; never return."""
    code = 0
    try:
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
            from .command import run_command  # only a command task needs it

            report = run_command(spec, lambda: _lifeline(life_r))
        else:
            report = _attempt(spec, life_r)
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


def _attempt(spec: AttemptSpec, life_r: int) -> dict[str, Any]:
    """Call the task function with its TaskContext; return the report (status, result or error)."""
    import threading

    from ..context import TaskContext
    from ..errors import Cancelled, TransientError

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
        if limits:
            apply_limits(limits)  # after the import: the limits bound the task, not cronkit's start-up
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
        broken = broken_by(limits, exc) if limits else None
        if broken is not None:  # a limit is the task's own doing: not transient, named as such
            return {"status": "failed", "error": broken, "traceback": tb.format_exc()}
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": tb.format_exc(),
                "transient": isinstance(exc, TransientError) or _is_transient(exc)}


def _python_streams_to_fds() -> None:
    """Point sys.stdout and sys.stderr at descriptors 1 and 2, unbuffered, so output lands in order."""
    import io
    import sys

    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)


def _lifeline(life_r: int) -> None:
    """Wait for the runner to die (kill -9): then take the whole attempt down with it."""
    os.read(life_r, 1)
    os.killpg(0, signal.SIGKILL)


def _task_logger(task: str) -> logging.Logger:
    """Send logging to the captured stderr, INFO and up, and return the task's logger."""
    import logging
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return logging.getLogger(f"cronkit.task.{task}")


def _is_transient(exc: BaseException) -> bool:
    """Tell connection and timeout errors of known clients from bugs."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    module = type(exc).__module__
    if module.startswith("redis"):
        from ..redisutil import TRANSIENT_ERRORS

        return isinstance(exc, TRANSIENT_ERRORS)
    if module.startswith("sqlalchemy"):
        from sqlalchemy.exc import DBAPIError, OperationalError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        return isinstance(exc, (OperationalError, PoolTimeout)) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
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
        exit_code=int(report.get("exit_code") or (EXIT_SIGTERM if kind == RunStatus.INTERRUPTED else EXIT_FAILED)),
    )
