"""The run path's writes to the run log: RunStore.

`cronkit run` starts on every cron tick, so this module imports no SQLAlchemy for a SQLite run log:
the same SQL (named parameters, RETURNING) runs through the standard sqlite3 module there, and
through SQLAlchemy for PostgreSQL. The tables themselves are defined once, in `schema`, which is
imported only when a SQLite file's schema needs creating or upgrading.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from ..errors import ConfigError, ServiceUnavailable
from ..host import hostname, is_alive, process_start
from ..status import RunStatus
from . import SCHEMA_VERSION
from .engines import create_private_file, schema_file_lock
from .times import now_ms

HEARTBEAT_INTERVAL = 30.0
# How long a heartbeat waits for a busy run log. Other writes wait up to a minute (a burst of runs
# takes turns); a heartbeat gives up and is tried again soon, because the runner beats from its
# supervision loop, where a long wait would also hold up the timeout and the lease renewal.
HEARTBEAT_WAIT_MS = 250
# A run on another host whose heartbeat is this old is taken for dead.
LOST_AFTER_MS = int(4 * HEARTBEAT_INTERVAL * 1000)
OUTPUT_TAIL_BYTES = 64 * 1024

Execute = Callable[[str, Mapping[str, Any]], Sequence[Sequence[Any]]]


def _word(status: str) -> str:
    """Return the stored word of a status given as a RunStatus member or as its value."""
    return str(status.value if isinstance(status, Enum) else status)


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
            from .engines import create_engine_for
            from .schema import upgrade

            engine = create_engine_for(f"sqlite:///{path}")
            try:
                upgrade(engine, locked=True)
            finally:
                engine.dispose()


class RunStore:
    """Insert and update runs, attempts, slots and dead letters with plain SQL."""

    def __init__(self, execute: Execute, close: Callable[[], None] = lambda: None,
                 execute_briefly: Execute | None = None) -> None:
        self._execute = execute
        self._execute_briefly = execute_briefly or execute  # waits at most HEARTBEAT_WAIT_MS for locks
        self.close = close

    @classmethod
    def open(cls, url: str) -> RunStore:
        """Open the run log at `url`, creating or upgrading its schema when needed."""
        from ..config import sqlite_path

        path = sqlite_path(url)
        if path is None:
            from .engines import create_engine_for, describe_url, first_line
            from .schema import upgrade

            engine = create_engine_for(url)
            try:
                upgrade(engine)
            except ServiceUnavailable:
                raise
            except Exception as exc:
                raise ServiceUnavailable(f"run log {describe_url(url)} is unusable: {first_line(exc)}") from None
            return cls.for_engine(engine)
        return cls._open_sqlite(str(path))

    @classmethod
    def _open_sqlite(cls, path: str) -> RunStore:
        import sqlite3

        try:
            create_private_file(path)
        except OSError as exc:
            raise ConfigError(f"run log: cannot create {path}: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 60000")
            _ensure_sqlite_schema(conn, path)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            raise ServiceUnavailable(f"run log {path} is not a usable SQLite database: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith("sqlalchemy"):
                from .engines import first_line

                raise ServiceUnavailable(f"run log {path} is not a usable SQLite database: {first_line(exc)}") from None
            raise

        def execute(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise ServiceUnavailable(f"run log {path}: {exc}") from None

        def execute_briefly(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            conn.execute(f"PRAGMA busy_timeout = {HEARTBEAT_WAIT_MS}")
            try:
                return execute(sql, params)
            finally:
                conn.execute("PRAGMA busy_timeout = 60000")

        return cls(execute, conn.close, execute_briefly)

    @classmethod
    def for_engine(cls, engine: Any) -> RunStore:
        """Write through a SQLAlchemy engine (PostgreSQL, or a reader's engine)."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        def execute(sql: str, params: Mapping[str, Any], brief: bool = False) -> Sequence[Sequence[Any]]:
            try:
                with engine.begin() as conn:
                    if brief and conn.dialect.name == "postgresql":
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {HEARTBEAT_WAIT_MS}")
                    result = conn.execute(text(sql), dict(params))
                    return result.fetchall() if result.returns_rows else []
            except SQLAlchemyError as exc:  # one line, as on the SQLite path, not a driver's essay
                from .engines import describe_url, first_line

                raise ServiceUnavailable(f"run log {describe_url(str(engine.url))}: {first_line(exc)}") from None

        def execute_briefly(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            return execute(sql, params, brief=True)

        return cls(execute, engine.dispose, execute_briefly)

    def sql(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """Run one statement of plain SQL with named parameters (the notifications' queries)."""
        return self._execute(sql, params)

    def start_run(self, *, task: str, trigger: str, status: str = RunStatus.RUNNING,
                  scheduled_for: int | None = None, started_at: int, user: str | None,
                  params: Mapping[str, Any] | None = None, dry_run: bool = False,
                  pid: int | None = None) -> int:
        """Record a new run and return its id."""
        pid = os.getpid() if pid is None else pid
        rows = self._execute(
            "INSERT INTO runs (task, status, trigger, scheduled_for, started_at, heartbeat_at, attempts,"
            ' host, pid, pid_start, "user", params, dry_run)'  # quoted: USER is reserved in PostgreSQL
            " VALUES (:task, :status, :trigger, :scheduled_for, :started_at, :started_at, 0,"
            " :host, :pid, :pid_start, :user, :params, :dry_run) RETURNING id",
            {
                "task": task, "status": _word(status),
                "trigger": trigger, "scheduled_for": scheduled_for, "started_at": started_at,
                "host": hostname(), "pid": pid, "pid_start": process_start(pid), "user": user,
                "params": json.dumps(dict(params), sort_keys=True) if params else None,
                "dry_run": bool(dry_run),
            },
        )
        return int(rows[0][0])

    def adopt_run(self, run_id: int, *, task: str, trigger: str, at: int) -> bool:
        """Take over a `running` run another process recorded for us (the HTTP service's trigger).

        The run's host, pid and heartbeat become this process's, so that lost-marking follows
        this process from now on. False when there is no such running run of `task` to adopt.
        """
        pid = os.getpid()
        rows = self._execute(
            "UPDATE runs SET host = :host, pid = :pid, pid_start = :pid_start, heartbeat_at = :at"
            " WHERE id = :id AND task = :task AND trigger = :trigger AND status = :running RETURNING id",
            {"id": run_id, "task": task, "trigger": trigger, "running": RunStatus.RUNNING.value,
             "host": hostname(), "pid": pid, "pid_start": process_start(pid), "at": at},
        )
        return bool(rows)

    def finish_run(self, run_id: int, *, status: str, finished_at: int, duration_ms: int,
                   attempts: int, exit_code: int, error: str | None = None,
                   traceback: str | None = None, result: Any = None, output: str | None = None) -> None:
        """Record the outcome of a run."""
        self._execute(
            "UPDATE runs SET status = :status, finished_at = :finished_at, duration_ms = :duration_ms,"
            " attempts = :attempts, exit_code = :exit_code, error = :error, traceback = :traceback,"
            " result = :result, output = :output WHERE id = :id",
            {
                "id": run_id, "status": _word(status), "finished_at": finished_at,
                "duration_ms": duration_ms, "attempts": attempts, "exit_code": exit_code,
                "error": error, "traceback": traceback,
                "result": json.dumps(result, sort_keys=True, default=str) if result is not None else None,
                "output": output,
            },
        )

    def record_attempt(self, run_id: int, number: int, *, started_at: int, finished_at: int,
                       status: str, error: str | None) -> None:
        """Record one finished attempt of a run."""
        self._execute(
            "INSERT INTO attempts (run_id, number, started_at, finished_at, status, error)"
            " VALUES (:run_id, :number, :started_at, :finished_at, :status, :error)",
            {"run_id": run_id, "number": number, "started_at": started_at,
             "finished_at": finished_at, "status": _word(status), "error": error},
        )

    def heartbeat(self, run_id: int, at: int) -> None:
        """Beat a run's heartbeat; ServiceUnavailable when the run log stays busy for HEARTBEAT_WAIT_MS."""
        self._execute_briefly("UPDATE runs SET heartbeat_at = :at WHERE id = :id", {"id": run_id, "at": at})

    def claim_slot(self, task: str, scheduled_for: int, run_id: int) -> int | None:
        """Claim a slot for a run; return the id of the run that already holds it, else None."""
        claimed = self._execute(
            "INSERT INTO slots (task, scheduled_for, run_id) VALUES (:task, :slot, :run_id)"
            " ON CONFLICT DO NOTHING RETURNING run_id",
            {"task": task, "slot": scheduled_for, "run_id": run_id},
        )
        if claimed:
            return None
        rows = self._execute(
            "SELECT run_id FROM slots WHERE task = :task AND scheduled_for = :slot",
            {"task": task, "slot": scheduled_for},
        )
        return int(rows[0][0]) if rows else None

    def slot_holder(self, task: str, scheduled_for: int) -> int | None:
        """Return the id of the run that holds a slot, else None (claims nothing)."""
        rows = self._execute(
            "SELECT run_id FROM slots WHERE task = :task AND scheduled_for = :slot",
            {"task": task, "slot": scheduled_for},
        )
        return int(rows[0][0]) if rows else None

    def dead_letter(self, *, run_id: int, task: str, params: Mapping[str, Any] | None,
                    scheduled_for: int | None, error: str | None, traceback: str | None,
                    attempts: int, created_at: int) -> int:
        """Record a run that failed for good as an open dead letter; return the letter's id."""
        rows = self._execute(
            "INSERT INTO dead_letters (run_id, task, params, scheduled_for, error, traceback, attempts,"
            " created_at) VALUES (:run_id, :task, :params, :scheduled_for, :error, :traceback,"
            " :attempts, :created_at) RETURNING id",
            {"run_id": run_id, "task": task,
             "params": json.dumps(dict(params), sort_keys=True) if params else None,
             "scheduled_for": scheduled_for, "error": error, "traceback": traceback,
             "attempts": attempts, "created_at": created_at},
        )
        return int(rows[0][0])

    def resolve_dead_letter(self, letter_id: int, run_id: int, at: int) -> None:
        """Mark a dead letter resolved by the (successful) run `run_id`."""
        self._execute(
            "UPDATE dead_letters SET resolved_at = :at, resolved_by = :run_id WHERE id = :id",
            {"id": letter_id, "run_id": run_id, "at": at},
        )

    def mark_lost(self, task: str | None = None, now: int | None = None) -> list[int]:
        """Mark `running` runs whose process is provably gone as `lost`; return their ids.

        On this host a run is gone when its pid no longer exists or belongs to a newer process;
        on another host, when its heartbeat is older than LOST_AFTER_MS.
        """
        sql = "SELECT id, host, pid, pid_start, heartbeat_at, started_at FROM runs WHERE status = :running"
        params: dict[str, Any] = {"running": RunStatus.RUNNING.value}
        if task is not None:
            sql += " AND task = :task"
            params["task"] = task
        now = now_ms() if now is None else now
        lost = []
        for run_id, host, pid, pid_start, heartbeat_at, started_at in self._execute(sql, params):
            if host == hostname():
                gone = not is_alive(int(pid), pid_start)
            else:
                gone = now - int(heartbeat_at or started_at) > LOST_AFTER_MS
            if gone:
                lost.append(int(run_id))
        for run_id in lost:
            self._execute(
                "UPDATE runs SET status = :lost, finished_at = :now, exit_code = NULL,"
                " error = COALESCE(error, 'the run''s process died without recording an outcome')"
                " WHERE id = :id AND status = :running",
                {"id": run_id, "now": now, "lost": RunStatus.LOST.value, "running": RunStatus.RUNNING.value},
            )
        return lost


__all__ = ["HEARTBEAT_INTERVAL", "HEARTBEAT_WAIT_MS", "LOST_AFTER_MS", "OUTPUT_TAIL_BYTES", "RunStore"]
