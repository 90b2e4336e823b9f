"""Reading the run log: RunLog (history, one run, pruning), pages of runs, and EngineReader, which
runs the queries of `status`, `health` and `stats` (queries.py) through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from cronkit.config.settings import Settings
from cronkit.errors import ServiceUnavailable
from cronkit.runlog.engines import create_engine_for, describe_url, first_line
from cronkit.runlog.queries import Execute, database_error, require_existing
from cronkit.runlog.schema import attempts, dead_letters, runs, set_meta, slots, upgrade
from cronkit.runlog.status import RunStatus
from cronkit.runlog.times import iso, run_dict, to_ms
from cronkit.safe.encrypt import reveal


@dataclass(frozen=True)
class HistoryFilter:
    """Which runs `history` shows: of a task, of a status, started since, at most `limit`."""

    task: str | None = None
    status: str | None = None
    since: datetime | None = None
    limit: int = 20


def _one_line_errors(engine: Engine, url: str) -> None:
    """Turn a database error of any later query (a damaged page, a lock held too long) into
    ServiceUnavailable naming the run log, instead of a traceback from deep inside a command.

    Exit 69, like a damaged header found at open: the settings are right, the file is not
    usable. A page found corrupt only when a query reads it is reported the same way.
    """
    from sqlalchemy import event

    from cronkit.config.settings import sqlite_path

    path = sqlite_path(url)
    where = str(path) if path is not None else describe_url(url)

    @event.listens_for(engine, "handle_error")
    def _handle(context: Any) -> None:
        original = context.original_exception
        if not context.is_disconnect and _dbapi_database_error(original):
            raise database_error(where, original) from None


def _dbapi_database_error(exc: BaseException) -> bool:
    """Return whether `exc` is a driver's DatabaseError (sqlite3 or psycopg)."""
    return any(cls.__name__ == "DatabaseError" for cls in type(exc).__mro__)


class RunLog:
    """Read access to the run log, plus the few writes the read commands make."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, settings: Settings, *, create: bool = False) -> RunLog:
        """Open and upgrade the run log of `settings`; ServiceUnavailable when it cannot be used.

        A SQLite run log that does not exist is a ConfigError naming its path unless `create`:
        only the commands that write runs (run, install, demo) create one, so a mistyped path
        is an error rather than an empty log.
        """
        if not create:
            require_existing(settings.db_url)
        engine = create_engine_for(settings.db_url)
        _one_line_errors(engine, settings.db_url)
        try:
            upgrade(engine)
        except (DatabaseError, OperationalError) as exc:
            raise ServiceUnavailable(f"run log {describe_url(settings.db_url)} is unusable: {first_line(exc)}") from None
        log = cls(engine)
        import os

        from cronkit.runlog.journal import apply_journal, fallback_dir
        from cronkit.runlog.leftover import salvager
        from cronkit.runlog.writer import RunStore
        from cronkit.safe.redact import redactor_for

        store = RunStore.for_engine(engine)
        # before mark_lost: a journaled run is not lost
        apply_journal(store, settings.home, settings.db_url, fallback=fallback_dir(settings.task_log_dir))
        store.mark_lost(salvage=salvager(settings.home, redactor_for(settings, os.environ)))
        return log

    def history(self, flt: HistoryFilter) -> list[dict[str, Any]]:
        """Return runs newest first, filtered."""
        cols = [c for c in runs.c if c.name not in ("output", "traceback")]
        query = select(*cols).order_by(runs.c.id.desc()).limit(flt.limit)
        if flt.task:
            query = query.where(runs.c.task == flt.task)
        if flt.status:
            query = query.where(runs.c.status == flt.status)
        if flt.since:
            query = query.where(runs.c.started_at >= to_ms(flt.since))
        with self.engine.connect() as conn:
            return [run_dict(row._mapping) for row in conn.execute(query)]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """Return one run with its attempts and dead letter, None when there is no such run."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                return None
            record = run_dict(row._mapping)
            record["attempt_log"] = [
                {
                    "number": a.number,
                    "status": a.status,
                    "started_at": iso(a.started_at),
                    "finished_at": iso(a.finished_at),
                    "error": reveal(a.error, "error"),
                    "cpu_user_ms": a.cpu_user_ms,
                    "cpu_system_ms": a.cpu_system_ms,
                    "max_rss_kb": a.max_rss_kb,
                }
                for a in conn.execute(
                    select(attempts).where(attempts.c.run_id == run_id).order_by(attempts.c.number)
                )
            ]
            letter = conn.execute(
                select(dead_letters.c.id, dead_letters.c.resolved_at).where(dead_letters.c.run_id == run_id)
            ).first()
            record["dead_letter"] = (
                {"id": letter.id, "resolved_at": iso(letter.resolved_at)} if letter is not None else None
            )
            return record

    def prune(self, older_than: datetime) -> int:
        """Delete runs (and their attempts, slots, resolved dead letters) that started before the cutoff."""
        cutoff = to_ms(older_than)
        with self.engine.begin() as conn:
            old = select(runs.c.id).where(runs.c.started_at < cutoff, runs.c.status != RunStatus.RUNNING)
            open_letters = select(dead_letters.c.run_id).where(dead_letters.c.resolved_at.is_(None))
            old = old.where(runs.c.id.not_in(open_letters))
            conn.execute(delete(attempts).where(attempts.c.run_id.in_(old)))
            conn.execute(delete(slots).where(slots.c.run_id.in_(old)))
            conn.execute(
                delete(dead_letters).where(
                    and_(dead_letters.c.run_id.in_(old), dead_letters.c.resolved_at.is_not(None))
                )
            )
            return conn.execute(delete(runs).where(runs.c.id.in_(old))).rowcount or 0

    def count_prunable(self, older_than: datetime) -> int:
        """Return how many runs `prune(older_than)` would delete."""
        cutoff = to_ms(older_than)
        open_letters = select(dead_letters.c.run_id).where(dead_letters.c.resolved_at.is_(None))
        query = select(func.count()).select_from(runs).where(
            runs.c.started_at < cutoff, runs.c.status != RunStatus.RUNNING, runs.c.id.not_in(open_letters)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)


# --- the reader of status, health and stats ---------------------------------------------------


class EngineReader:
    """A queries.Reader over a SQLAlchemy engine: the same SQL text as the lean SqliteReader."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def connection(self) -> Iterator[Execute]:
        with self.engine.connect() as conn:
            yield lambda sql, params: conn.execute(text(sql), dict(params)).fetchall()

    def write_meta(self, values: Mapping[str, str]) -> None:
        with self.engine.begin() as conn:
            for key, value in values.items():
                set_meta(conn, key, value)

    def close(self) -> None:
        self.engine.dispose()


def execute_on(conn: Connection) -> Execute:
    """Return the queries.Execute that runs SQL text on a SQLAlchemy connection."""
    return lambda sql, params: conn.execute(text(sql), dict(params)).fetchall()


@dataclass(frozen=True)
class RunsPage:
    """One page of runs, newest first, and where the next (older) page starts."""

    runs: list[dict[str, Any]]
    next_before: int | None  # the id the next page starts below; None on the last page


def runs_page(engine: Engine, *, task: str | None = None, status: str | None = None,
              trigger: str | None = None, since_ms: int | None = None, before_id: int | None = None,
              limit: int = 50, tasks: tuple[str, ...] | None = None) -> RunsPage:
    """Return a page of runs newest first (by id), without output and traceback.

    Paging by id keeps pages stable while runs are inserted: a new run gets a higher id and never
    shifts an older page. `tasks`: only runs of these tasks (what a limited token sees).
    """
    cols = [c for c in runs.c if c.name not in ("output", "traceback")]
    query = select(*cols).order_by(runs.c.id.desc()).limit(limit + 1)
    if task:
        query = query.where(runs.c.task == task)
    if tasks is not None:
        query = query.where(runs.c.task.in_(tasks))
    if status:
        query = query.where(runs.c.status == status)
    if trigger:
        query = query.where(runs.c.trigger == trigger)
    if since_ms is not None:
        query = query.where(runs.c.started_at >= since_ms)
    if before_id is not None:
        query = query.where(runs.c.id < before_id)
    with engine.connect() as conn:
        rows = [run_dict(row._mapping) for row in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return RunsPage(rows, int(rows[-1]["id"]) if more and rows else None)


__all__ = ["EngineReader", "HistoryFilter", "RunLog", "RunsPage", "execute_on", "require_existing", "run_dict",
           "runs_page"]
