"""The connection underneath a RunStore on a SQLAlchemy engine (PostgreSQL, or SQLite for the
commands that also query with SQLAlchemy Core): the twin of `link.SqliteLink`, the same plain SQL.

Imported only where an engine is in play, never on a SQLite run log's run path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from cronkit.errors import ServiceUnavailable
from cronkit.runlog.engines import (
    HEARTBEAT_WAIT_MS,
    database_error,
    describe_url,
    first_line,
    sqlite_path,
)
from cronkit.runlog.queries import Execute


def execute_on(conn: Connection) -> Execute:
    """Return the Execute that runs plain SQL on a SQLAlchemy connection, in its transaction."""

    def run(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        result = conn.execute(text(sql), dict(params))
        return result.fetchall() if result.returns_rows else []

    return run


def one_line_errors(engine: Engine, url: str) -> None:
    """Turn a database error of any later query (a damaged page, a lock held too long) into
    ServiceUnavailable naming the run log, instead of a traceback from deep inside a command.

    Exit 69, like a damaged header found at open: the settings are right, the file is not
    usable. A page found corrupt only when a query reads it is reported the same way.
    """
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


class EngineLink:
    """A run log through a SQLAlchemy engine: a transaction per statement, SET LOCAL bounds on PostgreSQL."""

    def __init__(self, engine: Engine, *, owned: bool = True) -> None:
        self.engine = engine
        self.owned = owned  # close() disposes of the engine: not when it is a caller's (the service's)
        # A run log over the network: a call can hang on a connection that stops answering, so the
        # run path bounds each one with a worker thread (`writer.bounded`), which SQLite does not need.
        self.remote = engine.dialect.name != "sqlite"

    def sqlalchemy_engine(self) -> Engine:
        return self.engine

    def _trouble(self, exc: SQLAlchemyError) -> ServiceUnavailable:
        # one line, as on the SQLite path, not a driver's essay
        return ServiceUnavailable(f"run log {describe_url(str(self.engine.url))}: {first_line(exc)}")

    def execute(self, sql: str, params: Mapping[str, Any], brief: bool = False) -> Sequence[Sequence[Any]]:
        try:
            with self.engine.begin() as conn:
                if brief and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {HEARTBEAT_WAIT_MS}")
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {4 * HEARTBEAT_WAIT_MS}")
                return execute_on(conn)(sql, params)
        except SQLAlchemyError as exc:
            raise self._trouble(exc) from None

    def execute_briefly(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        return self.execute(sql, params, brief=True)

    def transact(self, work: Callable[[Execute], Any], wait_ms: int) -> Any:
        try:
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(wait_ms))}")
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(wait_ms))}")
                return work(execute_on(conn))
        except SQLAlchemyError as exc:
            raise self._trouble(exc) from None

    @contextmanager
    def connection(self) -> Iterator[Execute]:
        try:
            with self.engine.connect() as conn:
                yield execute_on(conn)
        except SQLAlchemyError as exc:
            raise self._trouble(exc) from None

    def close(self) -> None:
        if self.owned:
            self.engine.dispose()


__all__ = ["EngineLink", "execute_on", "one_line_errors"]
