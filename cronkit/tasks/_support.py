"""Helpers the built-in tasks share: a write transaction and an atomic file write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from cronkit.safe.files import write_atomic


@contextmanager
def write_transaction(engine: Engine, secure_delete: bool = False) -> Iterator[Connection]:
    """Open a transaction that holds the write lock from its start (SQLite: BEGIN IMMEDIATE).

    A deferred SQLite transaction that reads first may fail to upgrade to a writer
    (SQLITE_BUSY_SNAPSHOT); taking the lock up front also freezes what the transaction reads.
    `secure_delete` makes SQLite overwrite deleted values in the file instead of leaving them
    in free pages. Commits on success, rolls back on any exception.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            if secure_delete:
                conn.exec_driver_sql("PRAGMA secure_delete = ON")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction():
                conn.rollback()
            raise
        if conn.in_transaction():
            conn.commit()


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one (safe.files),
    creating the directory when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, mode)
