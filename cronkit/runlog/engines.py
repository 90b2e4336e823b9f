"""Where the run log lives and how its failures read: the file of a SQLite URL, private database
files, the lock that serialises schema upgrades, SQLAlchemy engines with the settings cronkit
relies on, and one-line descriptions of failures.

SQLAlchemy is imported only by `create_engine_for`: the run path uses the file helpers here
without it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cronkit.errors import ConfigError, DiskFull, ServiceUnavailable
from cronkit.plain import TYPE_CHECKING
from cronkit.safe.redact import MASK, redact_url, url_password

if TYPE_CHECKING:
    from typing import Any

    from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 60_000
# How long a heartbeat waits for a busy run log. Other writes wait up to a minute (a burst of runs
# takes turns); a heartbeat gives up and is tried again soon, because the runner beats from its
# supervision loop, where a long wait would also hold up the timeout and the lease renewal.
HEARTBEAT_WAIT_MS = 250


def sqlite_path(url: str) -> Path | None:
    """Return the file of a `sqlite:///` URL, None for other databases or in-memory SQLite."""
    if not url.startswith("sqlite:///"):
        return None
    rest = url[len("sqlite:///"):].split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest if rest.startswith("/") else rest).absolute()


def create_private_file(path: str | os.PathLike[str]) -> None:
    """Create a database file readable by its owner only (0600), with its directory (0700)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


@contextmanager
def schema_file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the flock on `<db>.lock` that serialises schema upgrades of one SQLite file."""
    fd = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """Return an engine; SQLite files are created 0600, in WAL mode, with a busy timeout."""
    # lazy: SQLAlchemy only for whoever asks for an engine; a SQLite run log's run path never does
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError

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
    return redact_url(url)


def url_error(url: str, exc: BaseException) -> str:
    """Return the first line of a driver's error about `url`, with the URL and its password hidden.

    Drivers quote what they could not parse (the URL, or a host that is half a password).
    """
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


def database_error(where: str, exc: BaseException) -> ServiceUnavailable:
    """Return the one-line error of a statement that failed on the run log at `where` (exit 69).

    DiskFull when its disk is full; a damaged file says how to recover it.
    """
    text_ = first_line(exc)
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in text_:
        return DiskFull(f"run log {where}: {text_}")
    hint = ""
    if "malformed" in text_:
        hint = " (the file is damaged: recover it with `sqlite3 FILE .recover`, or move it aside)"
    return ServiceUnavailable(f"run log {where}: {text_}{hint}")


def require_existing(url: str) -> None:
    """Raise ConfigError (exit 78) when `url` names a SQLite file that does not exist."""
    path = sqlite_path(url)
    if path is None:
        return
    try:
        path.stat()
    except FileNotFoundError:
        raise ConfigError(f"no run log at {path}: check CRONKIT_DB_URL / CRONKIT_HOME "
                          "(cronkit run, install and demo create it)") from None
    except OSError as exc:
        raise ConfigError(f"cannot open run log {path}: {exc.strerror}") from None


__all__ = ["HEARTBEAT_WAIT_MS", "SQLITE_BUSY_TIMEOUT_MS", "create_engine_for", "create_private_file", "database_error", "describe_url",
           "first_line", "require_existing", "schema_file_lock", "sqlite_path", "url_error"]
