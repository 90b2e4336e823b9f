"""Dead letters: runs that failed for good, kept in the run log for a person to act on.

The runner writes them with the run's end (`journal.record_outcome`); this module lists, shows
and purges them, and says what re-running one means (`retry_fields`), leaving the run itself to
the runner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, select
from sqlalchemy.engine import Engine

from cronkit.errors import CheckFailed, UsageError
from cronkit.runlog.schema import dead_letters, runs
from cronkit.runlog.times import iso, to_ms
from cronkit.safe.encrypt import HIDDEN, reveal


def _params(stored: str | None) -> Any:
    """Return a letter's params; `(encrypted)` as it is when the key to open them is missing."""
    if stored == HIDDEN:
        return stored
    return json.loads(stored) if stored else {}


def letter_dict(row: Any, traceback: bool = False) -> dict[str, Any]:
    """Turn a dead_letters row (joined with its run's status) into the stable JSON shape."""
    record = {
        "id": row.id,
        "run_id": row.run_id,
        "task": row.task,
        "status": "resolved" if row.resolved_at is not None else "open",
        "params": _params(reveal(row.params, "params")),
        "scheduled_for": iso(row.scheduled_for),
        "error": reveal(row.error, "error"),
        "attempts": row.attempts,
        "created_at": iso(row.created_at),
        "resolved_at": iso(row.resolved_at),
        "resolved_by": row.resolved_by,
        "run_status": row.run_status,
    }
    if traceback:
        record["traceback"] = reveal(row.traceback, "traceback")
    return record


def _query(traceback: bool = False) -> Select[Any]:
    cols = [c for c in dead_letters.c if traceback or c.name != "traceback"]
    return select(*cols, runs.c.status.label("run_status")).select_from(
        dead_letters.outerjoin(runs, runs.c.id == dead_letters.c.run_id)
    )


def list_letters(engine: Engine, *, include_resolved: bool = False, task: str | None = None,
                 limit: int = 100, tasks: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Return dead letters newest first: open ones only unless `include_resolved`; of `tasks` only when given."""
    query = _query().order_by(dead_letters.c.id.desc()).limit(limit)
    if tasks is not None:
        query = query.where(dead_letters.c.task.in_(tasks))
    if not include_resolved:
        query = query.where(dead_letters.c.resolved_at.is_(None))
    if task:
        query = query.where(dead_letters.c.task == task)
    with engine.connect() as conn:
        return [letter_dict(row) for row in conn.execute(query)]


def get_letter(engine: Engine, letter_id: int) -> dict[str, Any]:
    """Return one dead letter with its traceback; UsageError when there is none with that id."""
    with engine.connect() as conn:
        row = conn.execute(_query(traceback=True).where(dead_letters.c.id == letter_id)).first()
    if row is None:
        raise UsageError(f"no dead letter with id {letter_id}")
    return letter_dict(row, traceback=True)


def purge(engine: Engine, *, before: datetime | None = None, include_open: bool = False,
          dry_run: bool = False) -> list[int]:
    """Delete resolved dead letters (open ones too with `include_open`) created before `before`.

    Return the ids deleted (or that would be, with `dry_run`). The runs themselves stay; the run
    log's own retention prunes them.
    """
    where: list[ColumnElement[bool]] = []
    if not include_open:
        where.append(dead_letters.c.resolved_at.is_not(None))
    if before is not None:
        where.append(dead_letters.c.created_at < to_ms(before))
    with engine.begin() as conn:
        ids = [int(i) for i in conn.execute(select(dead_letters.c.id).where(*where).order_by(dead_letters.c.id)).scalars()]
        if ids and not dry_run:
            conn.execute(delete(dead_letters).where(dead_letters.c.id.in_(ids)))
    return ids


@dataclass(frozen=True)
class RetryFields:
    """What re-running a letter means: the fields of the runner's RunRequest, trigger `retry` aside."""

    task: str
    params: dict[str, str] = field(default_factory=dict)
    date: date | None = None
    dry_run: bool = False
    dead_letter_id: int | None = None  # resolved when the retry succeeds
    slot: datetime | None = None  # the slot the failed run served; never claimed again


def retry_fields(letter: dict[str, Any]) -> RetryFields:
    """Return how to re-run an open letter: same task, params, date, dry run and slot.

    CheckFailed when the letter was already resolved.
    """
    if letter["status"] != "open":
        raise CheckFailed(
            f"dead letter {letter['id']} was resolved by run {letter['resolved_by']} at {letter['resolved_at']}"
        )
    params = dict(letter["params"] or {})
    day = params.pop("date", None)
    dry_run = bool(params.pop("dry_run", False))
    slot = letter["scheduled_for"]
    return RetryFields(
        task=letter["task"], params={k: str(v) for k, v in params.items()},
        date=date.fromisoformat(day) if day else None, dry_run=dry_run, dead_letter_id=int(letter["id"]),
        slot=datetime.fromisoformat(slot) if slot else None,
    )


__all__ = ["RetryFields", "get_letter", "letter_dict", "list_letters", "purge", "retry_fields"]
