"""Write runs' outcomes in tests through the runner's own path: journal.op and journal.record_outcome.

Fixtures that finish runs, record attempts or dead letters go through the very SQL the runner
writes at the end of a run (one transaction, the run's totals included), not a copy of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cronkit.runlog.journal import op, record_outcome
from cronkit.runlog.writer import RunStore

WAIT_MS = 60_000


def _word(status: Any) -> str:
    return str(getattr(status, "value", status))


def finish_run(store: RunStore, run_id: int, *, status: Any, finished_at: int, duration_ms: int, attempts: int,
               exit_code: int | None, error: str | None = None, traceback: str | None = None, result: Any = None,
               output: str | None = None, usage: Mapping[str, int] | None = None) -> None:
    """End a `running` run with its outcome, as the runner does (its totals added in the same transaction)."""
    record_outcome(store, [op("finish", id=run_id, status=_word(status), finished_at=finished_at,
                              duration_ms=duration_ms, attempts=attempts, exit_code=exit_code, error=error,
                              traceback=traceback,
                              result=json.dumps(result, sort_keys=True, default=str) if result is not None else None,
                              output=output, **(usage or {}))], WAIT_MS)


def record_attempt(store: RunStore, run_id: int, number: int, *, started_at: int, finished_at: int, status: Any,
                   error: str | None, usage: Mapping[str, int] | None = None) -> None:
    """Record one finished attempt of a run, with the runner's statement."""
    record_outcome(store, [op("attempt", run_id=run_id, number=number, started_at=started_at,
                              finished_at=finished_at, status=_word(status), error=error, **(usage or {}))], WAIT_MS)


def dead_letter(store: RunStore, *, run_id: int, task: str, params: Mapping[str, Any] | None,
                scheduled_for: int | None, error: str | None, traceback: str | None, attempts: int,
                created_at: int) -> int:
    """Record a run that failed for good as an open dead letter; return the letter's id."""
    letter = record_outcome(store, [op("dead_letter", run_id=run_id, task=task,
                                       params=json.dumps(dict(params), sort_keys=True) if params else None,
                                       scheduled_for=scheduled_for, error=error, traceback=traceback,
                                       attempts=attempts, created_at=created_at)], WAIT_MS)
    assert letter is not None
    return letter


def resolve_dead_letter(store: RunStore, letter_id: int, run_id: int, at: int) -> None:
    """Mark a dead letter resolved by the (successful) run `run_id`, as a successful retry does."""
    record_outcome(store, [op("resolve", id=letter_id, run_id=run_id, at=at)], WAIT_MS)


__all__ = ["dead_letter", "finish_run", "record_attempt", "resolve_dead_letter"]
