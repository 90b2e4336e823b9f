"""Engines for SQLite and PostgreSQL with the settings cronkit relies on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from .config import sqlite_path
from .errors import ConfigError
from .runstore import create_private_file

SQLITE_BUSY_TIMEOUT_MS = 60_000


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """Return an engine; SQLite files are created 0600, in WAL mode, with a busy timeout."""
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
    return create_engine(url, **kwargs)
