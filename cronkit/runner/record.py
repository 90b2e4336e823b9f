"""The run's row in the run log: what the run has done so far, and how its end is written.

The end of a run (the row's outcome, its attempts, its dead letter, the letter a retry resolves)
is written in one transaction by `runlog.journal.commit`, which retries a run log that does not
take it and, past its bound, keeps the outcome in the local journal for the next command.
"""

from __future__ import annotations

import json
import os
import pwd
import time
from datetime import datetime
from pathlib import Path

from cronkit.clock import now
from cronkit.errors import EXIT_FAILED, EXIT_UNAVAILABLE, CronkitError, UsageError
from cronkit.plain import TYPE_CHECKING
from cronkit.runlog.journal import JOURNAL_DIR, Op, commit, fallback_dir, op
from cronkit.runlog.status import RunStatus
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore
from cronkit.runner.capture import Capture
from cronkit.runner.spec import RunOutcome
from cronkit.safe.encrypt import seal

if TYPE_CHECKING:
    from typing import Any

    from cronkit.runner.spec import RunFacts, RunOutcome, Usage

RESOURCE_COLUMNS = ("cpu_user_ms", "cpu_system_ms", "max_rss_kb")  # runlog.schema's, without importing it

MIN_COPY_TIME = 5.0  # seconds the output's copy to the task's log gets, even after a timeout


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
        self.pending: list[Op] = []  # attempts, written with the run's end
        self.journal: Path | None = None  # where the outcome waits when the run log did not take it
        self.trouble: str | None = None
        self.nowhere: str | None = None  # why not even a journal took the outcome
        self.cancelled = lambda: False  # a signal came: stop long work at the end of the run
        self.usage: Usage | None = None  # the attempts' resources so far: CPU summed, the largest RSS

    def start(self) -> None:
        """Record the run's start, or adopt the `running` row `cronkit serve` recorded for it."""

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
            scheduled_for=to_ms(facts.slot) if facts.slot else None, user=_user(),
            params=facts.redact.value(facts.params()), dry_run=facts.request.dry_run,  # type: ignore[arg-type]
        )

    def attempt(self, number: int, started_at: int, status: RunStatus, error: str | None,
                usage: Usage | None = None) -> None:
        """Keep one finished attempt and what its processes used, written with the run's end."""
        self.usage = usage.plus(self.usage) if usage is not None else self.usage
        self.pending.append(op("attempt", run_id=self.run_id, number=number, started_at=started_at,
                               finished_at=to_ms(_now()), status=status.value, error=seal(error, "error"),
                               **_usage_columns(usage)))

    def finish(self, status: RunStatus, exit_code: int, *, error: str | None = None,
               traceback: str | None = None, result: Any = None, letter: bool = False,
               resolve: bool = False) -> None:
        """Write the run's end, with the tail of its captured output, its attempts and dead letter."""
        self.error = error
        facts = self.facts
        header = f"--- run {self.run_id} {facts.started.isoformat(timespec='seconds')} ---\n"
        stop_by = max(self.t0 + facts.task.timeout + facts.grace, time.monotonic() + MIN_COPY_TIME)
        output = self.capture.collect(facts.redact, facts.settings.task_log_dir, header,
                                      stop_by=stop_by, cancelled=self.cancelled)
        at = to_ms(_now())
        # Sealed when encrypt_payloads is on (payloads.seal is a no-op otherwise): at rest, never in memory.
        ops = [op("finish", id=self.run_id, status=status.value, finished_at=at, duration_ms=self.elapsed_ms(),
                  attempts=self.attempts, exit_code=exit_code, error=seal(error, "error"),
                  traceback=seal(traceback, "traceback"),
                  result=seal(json.dumps(result, sort_keys=True, default=str), "result") if result is not None else None,
                  output=seal(output, "output"), **_usage_columns(self.usage)), *self.pending]
        request = facts.request
        if letter and request.dead_letter_id is None:  # a failed retry keeps its letter open
            ops.append(op("dead_letter", run_id=self.run_id, task=facts.task.name,
                          params=seal(_json(facts.redact.value(facts.params(with_dry_run=True))), "params"),
                          scheduled_for=to_ms(facts.slot) if facts.slot else None, error=seal(error, "error"),
                          traceback=seal(traceback, "traceback"), attempts=self.attempts, created_at=at))
        if resolve and request.dead_letter_id is not None:
            ops.append(op("resolve", id=request.dead_letter_id, run_id=self.run_id, at=at))
        done = commit(self.store, ops, bound=facts.finish_retry, directory=facts.settings.home / JOURNAL_DIR,
                      url=facts.settings.db_url, cancelled=self.cancelled, free=self.capture.discard,
                      fallback=fallback_dir(facts.settings.task_log_dir))
        self.pending = []
        self.dead_letter_id = done.dead_letter_id
        self.journal = done.journal
        self.trouble = facts.redact(done.error) if done.error else None
        self.nowhere = facts.redact(done.nowhere) if done.nowhere else None

    def fail(self, exc: BaseException) -> None:
        """Record a run that raised (call it while handling `exc`): never leave it `running`.

        The run failed for good: it leaves a dead letter, as every failed run does.
        """
        if isinstance(exc, CronkitError):
            message, code = str(exc), exc.exit_code
        elif isinstance(exc, OSError):  # the host ran out of something: descriptors, processes, disk
            message, code = f"cannot run the task: {exc.strerror or exc}", EXIT_FAILED
        else:
            message, code = f"cronkit internal error: {type(exc).__name__}: {exc}", EXIT_FAILED
        redact = self.facts.redact
        self.finish(RunStatus.FAILED, code, error=redact(message), traceback=redact(_trace(exc)), letter=True)

    def failure_summary(self, status: RunStatus, error: str | None) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        summary = f"{self.facts.task.name} {status.value}{tries}: {error} (run {self.run_id}; cronkit show {self.run_id}"
        if self.dead_letter_id is not None:
            summary += f"; dead letter {self.dead_letter_id}"
        elif self.facts.request.dead_letter_id is not None:
            summary += f"; dead letter {self.facts.request.dead_letter_id} stays open"
        return summary + ")"

    def outcome(self, status: RunStatus, exit_code: int, summary: str, result: Any = None) -> RunOutcome:
        if self.journal is not None:
            summary += (f"; the run log did not take the outcome ({self.trouble}): kept in {self.journal},"
                        " recorded by the next cronkit command that opens the run log")
        elif self.nowhere is not None:  # one line, and an exit code that says something went wrong
            summary += (f"; the outcome could not be recorded: the run log did not take it ({self.trouble})"
                        f" and no journal had room for it ({self.nowhere}); the run will show as lost")
            exit_code = exit_code or EXIT_UNAVAILABLE
        return RunOutcome(exit_code, status.value, self.run_id, summary, result, self.elapsed_ms(),
                          dead_letter_id=self.dead_letter_id, error=self.error)

    def elapsed_ms(self) -> int:
        """Return the run's duration so far: never negative, even when the clock was stepped back."""
        return max(0, int((time.monotonic() - self.t0) * 1000))


def _usage_columns(usage: Usage | None) -> dict[str, int | None]:
    if usage is None:
        return dict.fromkeys(RESOURCE_COLUMNS)
    return dict(usage.columns())


def _json(params: Any) -> str | None:
    return json.dumps(dict(params), sort_keys=True) if params else None


def _now() -> datetime:
    return now()


def _user() -> str | None:
    """Return getpass.getuser()'s answer (login variables, then the password entry), without importing
    getpass and termios on the run path."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, OSError):
        return None


def _trace(exc: BaseException) -> str:
    """Return the traceback of the exception being handled; its last line alone when even reading
    the traceback module fails (no file descriptor left: the very failure being recorded)."""
    try:
        import traceback  # lazy: traceback (with linecache, tokenize, textwrap), only for a run that raised
    except OSError:
        return f"{type(exc).__name__}: {exc}"
    return traceback.format_exc()


def seconds(ms: int) -> str:
    return f"{ms / 1000:.1f}s" if ms >= 100 else f"{ms}ms"
