"""Connections to the run log: SQLAlchemy engines with the settings cronkit relies on, private
database files, the lock that serialises schema upgrades, and one-line descriptions of failures.

SQLAlchemy is imported only by `create_engine_for`: the run path uses the file helpers here
without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from cronkit.plain import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

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
    from sqlalchemy.exc import ArgumentError

    from cronkit.config.settings import sqlite_path
    from cronkit.errors import ConfigError

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
    given = url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql"):
        # Bounds on a connection that stops answering: at connect, and through TCP keepalives and an
        # unacknowledged-data timeout on an idle or a writing socket (a stalled reply needs more:
        # the run path's calls go through runlog.writer.bounded).
        kwargs.setdefault("connect_args", {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10,
                                           "keepalives_interval": 5, "keepalives_count": 3,
                                           "tcp_user_timeout": 30_000})
    try:
        return create_engine(url, **kwargs)
    except ImportError as exc:  # the dialect's driver is not installed
        raise ConfigError(f"database URL {describe_url(given)}: its driver is missing "
                          f"({url_error(given, exc)}); install it") from None
    except (ArgumentError, ValueError, TypeError) as exc:
        # SQLAlchemy's ArgumentError and NoSuchModuleError, a bad port (int()), and the like.
        raise ConfigError(f"database URL {describe_url(given)} is not usable: {url_error(given, exc)}") from None


def describe_url(url: str) -> str:
    """Return a database URL fit for messages: its password redacted (malformed URLs too)."""
    from cronkit.safe.redact import redact_url

    return redact_url(url)


def url_error(url: str, exc: BaseException) -> str:
    """Return the first line of a driver's error about `url`, with the URL and its password hidden.

    Drivers quote what they could not parse (the URL, or a host that is half a password).
    """
    from cronkit.safe.redact import MASK, url_password

    text_ = first_line(exc).replace(url, describe_url(url))
    password = url_password(url)
    if password:
        for piece in sorted({password, *password.split("@")}, key=len, reverse=True):
            if piece:
                text_ = text_.replace(piece, MASK)
    return text_


def first_line(exc: BaseException) -> str:
    """Return the first line of an error (of the driver's error for a SQLAlchemy one)."""
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__


__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "create_engine_for", "create_private_file", "describe_url",
           "first_line", "schema_file_lock", "url_error"]
