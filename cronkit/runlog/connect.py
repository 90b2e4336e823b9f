"""Open the run log: `runlog.open`, the one way in for the runner, the commands, the tests and the benches.

It returns a writer.RunStore, whatever the database: over one sqlite3 connection for a SQLite run
log (no SQLAlchemy unless its schema must be created or upgraded, or the caller asks for an
engine), over a SQLAlchemy engine for PostgreSQL. Opening brings the schema to this cronkit's
version; `settle` also writes the outcomes the journal keeps and marks runs whose process died
`lost`, which every command that shows runs must do first.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping

from cronkit.errors import ConfigError, ServiceUnavailable
from cronkit.plain import TYPE_CHECKING
from cronkit.runlog.engines import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine_for,
    create_private_file,
    database_error,
    describe_url,
    first_line,
    require_existing,
    schema_file_lock,
    sqlite_path,
)
from cronkit.runlog.journal import apply_journal, fallback_dir
from cronkit.runlog.leftover import salvager
from cronkit.runlog.link import SqliteLink
from cronkit.runlog.version import SCHEMA_VERSION
from cronkit.runlog.writer import RunStore
from cronkit.safe.redact import redactor_for

if TYPE_CHECKING:
    from typing import Any

    from cronkit.config.settings import Settings


def open(url: str, *, create: bool = False, settle: Settings | None = None, read_only: bool = False,
         engine_options: Mapping[str, Any] | None = None) -> RunStore:
    """Open the run log at `url`, its schema brought to this cronkit's version; return its RunStore.

    `create`: a SQLite file that does not exist is created (the commands that write runs: run,
    install, demo); else it is a ConfigError naming the path, so a mistyped path is an error
    rather than an empty log. `settle` (the settings of the command): apply the journal, then
    mark runs whose process is gone `lost`, keeping their redacted output. `read_only`: a SQLite
    file is read as it is, its schema untouched (a read that must not migrate; nothing to settle
    then). ServiceUnavailable when the run log cannot be used. A caller that also queries with
    SQLAlchemy Core asks the store for its `sqlalchemy_engine()`, made with `engine_options`.
    """
    if not create:
        require_existing(url)
    path = sqlite_path(url)
    options = engine_options or {}
    if path is None:
        store = _open_engine(url, options)
    elif read_only:
        return RunStore(SqliteLink(_connect_read_only(str(path)), str(path), options))
    else:
        store = _open_sqlite(str(path), options)
    if settle is not None:
        try:
            _settle(store, settle)
        except BaseException:
            store.close()
            raise
    return store


def _settle(store: RunStore, settings: Settings) -> None:
    """Write what the journal keeps, then mark dead runs lost (a journaled run is not lost)."""
    apply_journal(store, settings.home, settings.db_url, fallback=fallback_dir(settings.task_log_dir))

    def salvage(run_id: int, task: str) -> str | None:  # the redactor is built only for a run found lost
        return salvager(settings.home, redactor_for(settings, os.environ))(run_id, task)

    store.mark_lost(salvage=salvage)


def _open_engine(url: str, options: Mapping[str, Any]) -> RunStore:
    """Open a run log through a SQLAlchemy engine, upgrading its schema; SQLAlchemy is loaded by now."""
    # lazy: SQLAlchemy (the schema's tables) only for a run log opened with an engine
    from cronkit.runlog.enginelink import one_line_errors
    from cronkit.runlog.schema import upgrade

    made = create_engine_for(url, **options)
    one_line_errors(made, url)
    try:
        upgrade(made)
    except ServiceUnavailable:
        made.dispose()
        raise
    except Exception as exc:
        made.dispose()
        if not type(exc).__module__.startswith("sqlalchemy"):
            raise
        raise ServiceUnavailable(f"run log {describe_url(url)} is unusable: {first_line(exc)}") from None
    return RunStore.for_engine(made)


def _open_sqlite(path: str, options: Mapping[str, Any]) -> RunStore:
    """Open a SQLite file with sqlite3 (created 0600 when missing), its schema made current."""
    try:
        create_private_file(path)
    except OSError as exc:
        raise ConfigError(f"run log: cannot create {path}: {exc.strerror}") from None
    try:
        conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise ServiceUnavailable(f"run log {path} is not a usable SQLite database: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _ensure_sqlite_schema(conn, path)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ServiceUnavailable(f"run log {path} is not a usable SQLite database: {exc}") from None
    except Exception as exc:
        conn.close()
        if type(exc).__module__.startswith("sqlalchemy"):
            raise ServiceUnavailable(f"run log {path} is not a usable SQLite database: {first_line(exc)}") from None
        raise
    return RunStore(SqliteLink(conn, path, options))


def _connect_read_only(path: str) -> sqlite3.Connection:
    """Connect to an existing SQLite file read-only, as it is."""
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise database_error(path, exc) from None


def _ensure_sqlite_schema(conn: Any, path: str) -> None:
    """Bring a SQLite run log to this cronkit's schema; cheap when it already is.

    When many runs start at once on a fresh run log, the first to take the schema lock (the file
    lock `schema.upgrade` uses) creates the schema while holding it; the others wait, re-read
    user_version and go on, instead of each importing SQLAlchemy to find nothing left to do.
    """
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    with schema_file_lock(path):
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            # lazy: SQLAlchemy (the schema's tables, the migrations) only when the schema must change
            from cronkit.runlog.schema import upgrade

            made = create_engine_for(f"sqlite:///{path}")
            try:
                upgrade(made, locked=True)
            finally:
                made.dispose()


__all__ = ["open"]
