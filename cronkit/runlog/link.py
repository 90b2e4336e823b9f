"""The connection underneath a RunStore on a SQLite run log: one sqlite3 connection, no SQLAlchemy.

A link runs one statement (`execute`), one that gives up soon on a busy log (`execute_briefly`),
a transaction (`transact`) and a run of reads on one connection (`connection`). The same plain
SQL (named parameters, RETURNING) runs here and on `enginelink.EngineLink`, its SQLAlchemy twin
for PostgreSQL: a RunStore does not know which one it holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from cronkit.plain import TYPE_CHECKING
from cronkit.runlog.engines import (
    HEARTBEAT_WAIT_MS,
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine_for,
    database_error,
)

if TYPE_CHECKING:
    from typing import Any

    from sqlalchemy.engine import Engine

from cronkit.runlog.queries import Execute

# transact(work, wait_ms): run work(execute) in one transaction that waits at most wait_ms for locks.
Transact = Callable[[Callable[[Execute], "Any"], int], "Any"]


def _rollback(conn: sqlite3.Connection) -> None:
    """End a transaction that failed; one that cannot even roll back is rolled back by SQLite on its next use."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.DatabaseError:
        pass


class SqliteLink:
    """A SQLite run log through one sqlite3 connection (autocommit; BEGIN IMMEDIATE for a transaction)."""

    remote = False  # a local file: no call can hang on a network
    engine: Engine | None = None  # no SQLAlchemy engine behind it

    def __init__(self, conn: sqlite3.Connection, path: str, engine_options: Mapping[str, Any] | None = None) -> None:
        self.conn = conn
        self.path = path
        self._engine_options = dict(engine_options or {})
        self._made: Engine | None = None

    def sqlalchemy_engine(self) -> Engine:
        """Return an engine on the same file, made on first call, for queries written with SQLAlchemy Core."""
        if self._made is None:
            # lazy: SQLAlchemy for a SQLite run log only when a caller queries it with SQLAlchemy Core
            from cronkit.runlog.enginelink import one_line_errors

            url = f"sqlite:///{self.path}"
            self._made = create_engine_for(url, **self._engine_options)
            one_line_errors(self._made, url)
        return self._made

    def execute(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise database_error(self.path, exc) from None

    def execute_briefly(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        self.conn.execute(f"PRAGMA busy_timeout = {HEARTBEAT_WAIT_MS}")
        try:
            return self.execute(sql, params)
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")

    def transact(self, work: Callable[[Execute], Any], wait_ms: int) -> Any:
        conn = self.conn
        conn.execute(f"PRAGMA busy_timeout = {max(1, int(wait_ms))}")
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise database_error(self.path, exc) from None
            try:
                done = work(self.execute)
                conn.execute("COMMIT")  # may fail: the disk full, the WAL with no room to grow
                return done
            except sqlite3.DatabaseError as exc:
                _rollback(conn)
                raise database_error(self.path, exc) from None
            except BaseException:
                _rollback(conn)
                raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")

    @contextmanager
    def connection(self) -> Iterator[Execute]:
        yield self.execute

    def close(self) -> None:
        self.conn.close()
        if self._made is not None:
            self._made.dispose()


__all__ = ["Execute", "SqliteLink", "Transact"]
