"""Runs read back: history, one run with its attempts and dead letter, pages of runs, and pruning.

Plain SQL through an open run log (a writer.RunStore from `runlog.open`), so `history` and `show`
read a SQLite run log with sqlite3 alone; the service's pages run the same SQL on its engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cronkit.runlog.link import Execute
from cronkit.runlog.queries import LISTED_COLUMNS, RUN_COLUMNS
from cronkit.runlog.status import RunStatus
from cronkit.runlog.times import iso, run_dict, to_ms
from cronkit.runlog.writer import RunStore
from cronkit.safe.encrypt import reveal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_ATTEMPT_COLUMNS = ("number", "status", "started_at", "finished_at", "error", "cpu_user_ms", "cpu_system_ms",
                    "max_rss_kb")
# The runs pruning deletes: started before the cutoff, ended, and not the run of an open dead letter.
_PRUNABLE = ("SELECT id FROM runs WHERE started_at < :cutoff AND status <> :running"
             " AND id NOT IN (SELECT run_id FROM dead_letters WHERE resolved_at IS NULL)")


def _select(columns: Sequence[str]) -> str:
    return "SELECT " + ", ".join(f'"{c}"' for c in columns)  # quoted: USER is reserved in PostgreSQL


@dataclass(frozen=True)
class HistoryFilter:
    """Which runs `history` shows: of a task, of a status, started since, at most `limit`."""

    task: str | None = None
    status: str | None = None
    since: datetime | None = None
    limit: int = 20


def select_runs(execute: Execute, *, limit: int, task: str | None = None, status: str | None = None,
                trigger: str | None = None, since_ms: int | None = None, before_id: int | None = None,
                tasks: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Return at most `limit` runs newest first (by id), filtered, without output and traceback."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    for column, value in (("task", task), ("status", status), ("trigger", trigger)):
        if value:
            where.append(f'"{column}" = :{column}')
            params[column] = value
    if tasks is not None:
        names = {f"t{i}": name for i, name in enumerate(tasks)}
        where.append(f"task IN ({', '.join(':' + key for key in names)})" if names else "1 = 0")
        params.update(names)
    if since_ms is not None:
        where.append("started_at >= :since")
        params["since"] = since_ms
    if before_id is not None:
        where.append("id < :before")
        params["before"] = before_id
    sql = (_select(LISTED_COLUMNS) + " FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY runs.id DESC LIMIT :limit")
    return [run_dict(zip(LISTED_COLUMNS, row, strict=True)) for row in execute(sql, params)]


def history(store: RunStore, flt: HistoryFilter) -> list[dict[str, Any]]:
    """Return runs newest first, filtered (`cronkit history`)."""
    with store.connection() as execute:
        return select_runs(execute, limit=flt.limit, task=flt.task, status=flt.status,
                           since_ms=to_ms(flt.since) if flt.since else None)


def run_record(store: RunStore, run_id: int) -> dict[str, Any] | None:
    """Return one run with its attempts and dead letter (`cronkit show`), None when there is no such run."""
    with store.connection() as execute:
        rows = execute(_select(RUN_COLUMNS) + " FROM runs WHERE id = :id", {"id": run_id})
        if not rows:
            return None
        record = run_dict(zip(RUN_COLUMNS, rows[0], strict=True))
        attempts = execute(_select(_ATTEMPT_COLUMNS) + " FROM attempts WHERE run_id = :id ORDER BY number",
                           {"id": run_id})
        record["attempt_log"] = [
            {**dict(zip(_ATTEMPT_COLUMNS, a, strict=True)), "started_at": iso(a[2]), "finished_at": iso(a[3]),
             "error": reveal(a[4], "error")}
            for a in attempts
        ]
        letter = execute("SELECT id, resolved_at FROM dead_letters WHERE run_id = :id LIMIT 1", {"id": run_id})
        record["dead_letter"] = {"id": letter[0][0], "resolved_at": iso(letter[0][1])} if letter else None
        return record


def prune(store: RunStore, older_than: datetime) -> int:
    """Delete runs (and their attempts, slots, resolved dead letters) that started before the cutoff."""
    params = {"cutoff": to_ms(older_than), "running": RunStatus.RUNNING.value}

    def work(execute: Execute) -> int:
        count = int(execute(f"SELECT count(*) FROM ({_PRUNABLE}) AS old", params)[0][0])
        execute(f"DELETE FROM attempts WHERE run_id IN ({_PRUNABLE})", params)
        execute(f"DELETE FROM slots WHERE run_id IN ({_PRUNABLE})", params)
        execute(f"DELETE FROM dead_letters WHERE run_id IN ({_PRUNABLE}) AND resolved_at IS NOT NULL", params)
        execute(f"DELETE FROM runs WHERE id IN ({_PRUNABLE})", params)
        return count

    return int(store.transact(work, 60_000))


def count_prunable(store: RunStore, older_than: datetime) -> int:
    """Return how many runs `prune(older_than)` would delete."""
    with store.connection() as execute:
        rows = execute(f"SELECT count(*) FROM ({_PRUNABLE}) AS old",
                       {"cutoff": to_ms(older_than), "running": RunStatus.RUNNING.value})
    return int(rows[0][0])


@dataclass(frozen=True)
class RunsPage:
    """One page of runs, newest first, and where the next (older) page starts."""

    runs: list[dict[str, Any]]
    next_before: int | None  # the id the next page starts below; None on the last page


def runs_page(engine: Engine, *, task: str | None = None, status: str | None = None,
              trigger: str | None = None, since_ms: int | None = None, before_id: int | None = None,
              limit: int = 50, tasks: tuple[str, ...] | None = None) -> RunsPage:
    """Return a page of runs newest first (by id), without output and traceback (the service's engine).

    Paging by id keeps pages stable while runs are inserted: a new run gets a higher id and never
    shifts an older page. `tasks`: only runs of these tasks (what a limited token sees).
    """
    with RunStore.for_engine(engine, owned=False).connection() as execute:
        rows = select_runs(execute, limit=limit + 1, task=task, status=status, trigger=trigger,
                           since_ms=since_ms, before_id=before_id, tasks=tasks)
    more = len(rows) > limit
    rows = rows[:limit]
    return RunsPage(rows, int(rows[-1]["id"]) if more and rows else None)


__all__ = ["LISTED_COLUMNS", "RUN_COLUMNS", "HistoryFilter", "RunsPage", "count_prunable", "history", "prune",
           "run_dict", "run_record", "runs_page", "select_runs"]
