"""A singleton's lock in a PostgreSQL run log: a session-level advisory lock on a connection of its own.

Hosts that share a PostgreSQL run log without Redis take it for the life of a singleton's run.
The server grants it to one session at a time and releases it when that session ends: when the
run releases it, and when its holder dies (kill -9, power loss) as soon as the server sees the
connection close. The key is derived on the server from the database, the schema and the task's
name, so every host computes the same key, and two run logs in one database never share one.

The connection is the lock: it stays open, outside any transaction (an idle transaction could be
ended by idle_in_transaction_session_timeout), until the run ends. SQLAlchemy is already
imported on a PostgreSQL run log's run path, so importing it here costs nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cronkit.errors import ServiceUnavailable
from cronkit.locks import LockHeld
from cronkit.runlog.engines import describe_url, first_line
from cronkit.runlog.status import RunStatus
from cronkit.runlog.writer import REMOTE_CALL_LIMIT, bounded

_KEY = "('x' || substr(md5(current_database() || '/' || current_schema() || '/' || :task), 1, 16))::bit(64)::bigint"
_HOLDER = ("SELECT id, host, pid FROM runs WHERE task = :task AND status = :running AND id <> :me"
           " ORDER BY id LIMIT 1")


class AdvisoryLock:
    """pg_try_advisory_lock on a connection held for the run's life; LockHeld names the running holder."""

    def __init__(self, engine: Any, task: str, run_id: int) -> None:
        self.engine = engine
        self.task = task
        self.run_id = run_id
        self.conn: Any = None

    def acquire(self) -> None:
        """Take the lock (ServiceUnavailable when the server does not answer in time), else LockHeld."""
        taken, holder = bounded(self._try, REMOTE_CALL_LIMIT, "the run log (PostgreSQL advisory lock)")
        if not taken:
            raise LockHeld(self.task, holder, "PostgreSQL")

    def _try(self) -> tuple[bool, dict[str, Any] | None]:
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                if conn.execute(text(f"SELECT pg_try_advisory_lock({_KEY})"), {"task": self.task}).scalar():
                    self.conn = conn
                    return True, None
                row = conn.execute(text(_HOLDER), {"task": self.task, "running": RunStatus.RUNNING.value,
                                                   "me": self.run_id}).first()
            finally:
                if self.conn is None:
                    conn.close()
        except SQLAlchemyError as exc:
            raise ServiceUnavailable(f"run log {describe_url(str(self.engine.url))}: {first_line(exc)}") from None
        return False, (None if row is None else {"host": row[1], "pid": row[2], "run_id": row[0]})

    def fileno(self) -> int | None:
        """Return the connection's socket, which the task's process must not keep open after the runner."""
        try:
            return int(self.conn.connection.dbapi_connection.fileno())
        except Exception:  # noqa: BLE001 - no connection, or a driver without fileno()
            return None

    def release(self) -> None:
        """Unlock and close; a connection that fails is discarded, which ends the session and its lock."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            bounded(lambda: conn.execute(text(f"SELECT pg_advisory_unlock({_KEY})"), {"task": self.task}),
                    REMOTE_CALL_LIMIT, "the run log (PostgreSQL advisory lock)")
            conn.close()
        except Exception:  # noqa: BLE001 - closing the connection ends the session, and the lock with it
            try:
                conn.invalidate()
            except Exception:  # noqa: BLE001, S110
                pass


__all__ = ["AdvisoryLock"]
