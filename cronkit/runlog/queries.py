"""The SQL of the read commands (`status`, `health`, `stats`), written once, and a lean way to run it.

Each query is plain SQL with named parameters: SQLAlchemy runs it (`text()`, reader.EngineReader)
on any run log, and the standard sqlite3 module runs the very same text (SqliteReader) on a
SQLite run log, without importing SQLAlchemy. Each is served by an index (schema.HEALTH_INDEXES
and the runs indexes), whatever the log's size.

open_reader() takes sqlite3 whenever nothing is left for RunLog.open to do: the file exists and
has this cronkit's schema, and no run is `running` (one may be a run whose process is gone,
which RunLog.open marks lost, applying the journal first). Anything else is opened the full way,
with its checks and errors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from cronkit.errors import ServiceUnavailable
from cronkit.plain import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Protocol

    from cronkit.config.settings import Settings
else:
    Protocol = object  # lazy: typing (a cron tick's 2 ms) for a class only the type checker reads

Execute = Callable[[str, Mapping[str, "Any"]], Sequence[Sequence["Any"]]]

# The summary of a task's latest run, as status shows it; the columns of RunSummary, in order.
_LATEST = ('SELECT id, status, "trigger", scheduled_for, started_at, finished_at, duration_ms, error'
           " FROM runs WHERE task = :task")
# A task's latest run that says how it went: a skipped run (lock held, slot served, paused) is no
# outcome, and started after a run that failed later it would hide that failure from `health`.
LATEST_RUN = _LATEST + " AND status != 'skipped' ORDER BY id DESC LIMIT 1"
LATEST_RUN_OF_STATUS = _LATEST + " AND status = :status ORDER BY id DESC LIMIT 1"
# (task, status, duration, CPU ms (user + system), peak RSS KiB) of the runs started in [since, until].
WINDOW_RUNS = ("SELECT task, status, duration_ms, cpu_user_ms + cpu_system_ms, max_rss_kb FROM runs"
               " WHERE started_at >= :since AND started_at <= :until")
ACTIVE_RUNS = "SELECT count(*) FROM runs WHERE status = 'running'"
# (task, count) of the open dead letters.
OPEN_DEAD_LETTERS = "SELECT task, count(*) FROM dead_letters WHERE resolved_at IS NULL GROUP BY task"
# The slots of a task in [first, last] that some run served.
SERVED_SLOTS = ("SELECT DISTINCT scheduled_for FROM runs"
                " WHERE task = :task AND scheduled_for >= :first AND scheduled_for <= :last")
READ_META = "SELECT value FROM meta WHERE key = :key"
SET_META = ("INSERT INTO meta (key, value) VALUES (:key, :value)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value")

# The meta keys `cronkit health` keeps: when it last ran and what it found.
LAST_HEALTH_CHECK = "last_health_check"
LAST_HEALTH_RESULT = "last_health_result"


def read_meta(execute: Execute, key: str) -> str | None:
    """Return the value of a `meta` key, None when unset."""
    rows = execute(READ_META, {"key": key})
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


class Reader(Protocol):
    """An open run log the read commands query: a connection at a time, and the meta keys health writes."""

    def connection(self) -> AbstractContextManager[Execute]:
        """Return a context holding one connection; it gives the Execute that runs SQL on it."""

    def write_meta(self, values: Mapping[str, str]) -> None:
        """Set `meta` keys in one transaction."""

    def close(self) -> None:
        """Release the run log."""


def database_error(where: str, exc: BaseException) -> ServiceUnavailable:
    """Return the one-line error of a query that failed on the run log at `where` (exit 69)."""
    from cronkit.runlog.engines import first_line

    text = first_line(exc)
    hint = ""
    if "malformed" in text:
        hint = " (the file is damaged: recover it with `sqlite3 FILE .recover`, or move it aside)"
    return ServiceUnavailable(f"run log {where}: {text}{hint}")


def require_existing(url: str) -> None:
    """Raise ConfigError (exit 78) when `url` names a SQLite file that does not exist."""
    from cronkit.config.settings import sqlite_path

    path = sqlite_path(url)
    if path is None:
        return
    from cronkit.errors import ConfigError

    try:
        path.stat()
    except FileNotFoundError:
        raise ConfigError(f"no run log at {path}: check CRONKIT_DB_URL / CRONKIT_HOME "
                          "(cronkit run, install and demo create it)") from None
    except OSError as exc:
        raise ConfigError(f"cannot open run log {path}: {exc.strerror}") from None


def open_sqlite(url: str, *, write: bool = False) -> sqlite3.Connection | None:
    """Open a SQLite run log of the current schema with no `running` run; None for anything else.

    Read-only unless `write`; never creates a file.
    """
    from cronkit.config.settings import sqlite_path
    from cronkit.runlog import SCHEMA_VERSION

    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode={'rw' if write else 'ro'}", uri=True, timeout=5,
                               isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        if (conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
                and conn.execute("SELECT 1 FROM runs WHERE status = 'running' LIMIT 1").fetchone() is None):
            return conn
    except sqlite3.Error:
        pass
    conn.close()
    return None


def open_reader(settings: Settings, *, create: bool = False) -> Reader:
    """Open the run log of `settings` to read: by sqlite3 when nothing is left for RunLog.open to do,
    else the full way (RunLog.open: schema upgrade, journal, lost runs; it creates a SQLite file only if `create`)."""
    reader = SqliteReader.open(settings.db_url)
    if reader is not None:
        return reader
    from cronkit.runlog.reader import EngineReader, RunLog

    return EngineReader(RunLog.open(settings, create=create).engine)


class SqliteReader:
    """A Reader over one sqlite3 connection (the lean path): no SQLAlchemy."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path

    @classmethod
    def open(cls, url: str) -> SqliteReader | None:
        """Open the SQLite run log at `url` lean; None when it must be opened the full way."""
        from cronkit.config.settings import sqlite_path

        conn = open_sqlite(url, write=True)
        path = sqlite_path(url)
        return None if conn is None or path is None else cls(conn, path)

    def execute(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        try:
            return self._conn.execute(sql, dict(params)).fetchall()
        except sqlite3.Error as exc:
            raise database_error(str(self._path), exc) from None

    @contextmanager
    def connection(self) -> Iterator[Execute]:
        yield self.execute

    def write_meta(self, values: Mapping[str, str]) -> None:
        self.execute("BEGIN IMMEDIATE", {})
        try:
            for key, value in values.items():
                self.execute(SET_META, {"key": key, "value": value})
            self.execute("COMMIT", {})
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()


__all__ = ["ACTIVE_RUNS", "LAST_HEALTH_CHECK", "LAST_HEALTH_RESULT", "LATEST_RUN", "LATEST_RUN_OF_STATUS",
           "OPEN_DEAD_LETTERS", "READ_META", "SERVED_SLOTS", "SET_META", "WINDOW_RUNS", "Execute", "Reader",
           "SqliteReader", "database_error", "open_reader", "open_sqlite", "read_meta",
           "require_existing"]
