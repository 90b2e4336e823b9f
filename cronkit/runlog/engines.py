"""Connections to the run log: SQLAlchemy engines with the settings cronkit relies on, private
database files, the lock that serialises schema upgrades, and one-line descriptions of failures.

SQLAlchemy is imported only by `create_engine_for`: the run path uses the file helpers here
without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 60_000


def create_private_file(path: str | os.PathLike[str]) -> None:
    """Create a database file readable by its owner only (0600), with its directory (0700)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


@contextmanager
def schema_file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the flock on `<db>.lock` that serialises schema upgrades of one SQLite file."""
    import fcntl

    fd = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """Return an engine; SQLite files are created 0600, in WAL mode, with a busy timeout."""
    from sqlalchemy import create_engine, event

    from ..config import sqlite_path
    from ..errors import ConfigError

    path = sqlite_path(url)
    if path is not None:
        try:
            create_private_file(path)
        except OSError as exc:
            # The path comes from the settings (CRONKIT_HOME or a URL): fixing it is a configuration change.
            raise ConfigError(f"cannot create database {path}: {exc.strerror}") from None
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql"):
        kwargs.setdefault("connect_args", {"connect_timeout": 5})
    from sqlalchemy.exc import ArgumentError

    try:
        return create_engine(url, **kwargs)
    except ImportError as exc:
        raise ConfigError(f"database {describe_url(url)}: its driver is not installed "
                          f"(no module named {exc.name!r})") from None
    except ArgumentError as exc:  # NoSuchModuleError (unknown dialect) is one
        raise ConfigError(f"database {describe_url(url)}: {first_line(exc)}") from None


def describe_url(url: str) -> str:
    """Return a database URL fit for messages: its password redacted."""
    from ..redact import Redactor

    return Redactor()(url)


def first_line(exc: BaseException) -> str:
    """Return the first line of an error (of the driver's error for a SQLAlchemy one)."""
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__


__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "create_engine_for", "create_private_file", "describe_url",
           "first_line", "schema_file_lock"]
