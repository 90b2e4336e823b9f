"""The run path's writes to the run log: RunStore.

`cronkit run` starts on every cron tick, so this module imports no SQLAlchemy for a SQLite run log:
the same SQL (named parameters, RETURNING) runs through the standard sqlite3 module there, and
through SQLAlchemy for PostgreSQL. The tables themselves are defined once, in `schema`, which is
imported only when a SQLite file's schema needs creating or upgrading.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from enum import Enum

from cronkit.errors import ConfigError, DiskFull, ServiceUnavailable
from cronkit.host import hostname, is_alive, process_start
from cronkit.plain import TYPE_CHECKING
from cronkit.runlog import SCHEMA_VERSION
from cronkit.runlog.engines import create_private_file, schema_file_lock
from cronkit.runlog.leftover import OUTPUT_TAIL_BYTES
from cronkit.runlog.status import RunStatus
from cronkit.runlog.times import now_ms
from cronkit.runlog.totals import Execute, end_run, mark_one_lost
from cronkit.safe.encrypt import seal

if TYPE_CHECKING:
    from typing import Any

HEARTBEAT_INTERVAL = 30.0
# How long a heartbeat waits for a busy run log. Other writes wait up to a minute (a burst of runs
# takes turns); a heartbeat gives up and is tried again soon, because the runner beats from its
# supervision loop, where a long wait would also hold up the timeout and the lease renewal.
HEARTBEAT_WAIT_MS = 250
# A run on another host whose heartbeat is this old is taken for dead.
LOST_AFTER_MS = int(4 * HEARTBEAT_INTERVAL * 1000)
# The longest a single call to a PostgreSQL run log may take on the run path before the runner
# gives up on it (the call goes on in a worker thread): a connection that stops answering without
# a reset must not hold up the supervision loop or the end of a run.
REMOTE_CALL_LIMIT = 10.0
# transact(work, wait_ms): run work(execute) in one transaction that waits at most wait_ms for locks.
Transact = Callable[[Callable[[Execute], "Any"], int], "Any"]


def clean_text(text: str | None) -> str | None:
    """Return `text` as every run log can store it: no NUL byte (PostgreSQL text refuses it), valid UTF-8."""
    if not text:
        return text
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a child's report
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def sqlite_trouble(path: str, exc: Exception) -> ServiceUnavailable:
    """Return the error to raise for a SQLite error on the run log: DiskFull when its disk is full."""
    import sqlite3

    full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return (DiskFull if full else ServiceUnavailable)(f"run log {path}: {exc}")


def bounded(work: Callable[[], Any], seconds: float, what: str) -> Any:
    """Run `work` in a daemon thread and wait at most `seconds`; ServiceUnavailable when it does not answer.

    The abandoned call may still complete later; every write the run path makes this way is
    idempotent (see RunStore.record_outcome), so completing late is harmless.
    """
    import threading

    box: list[Any] = []

    def target() -> None:
        try:
            box.append((True, work()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box.append((False, exc))

    thread = threading.Thread(target=target, name="cronkit-runlog", daemon=True)
    thread.start()
    thread.join(seconds)
    if not box:
        raise ServiceUnavailable(f"{what} did not answer within {seconds:g}s")
    ok, value = box[0]
    if not ok:
        raise value
    return value


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
            from cronkit.runlog.engines import create_engine_for
            from cronkit.runlog.schema import upgrade

            engine = create_engine_for(f"sqlite:///{path}")
            try:
                upgrade(engine, locked=True)
            finally:
                engine.dispose()


def _rollback(conn: Any) -> None:
    """End a transaction that failed; one that cannot even roll back is rolled back by SQLite on its next use."""
    import sqlite3

    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.DatabaseError:
        pass


class RunStore:
    """Insert and update runs, attempts, slots and dead letters with plain SQL."""

    def __init__(self, execute: Execute, close: Callable[[], None] = lambda: None,
                 execute_briefly: Execute | None = None, transact: Transact | None = None,
                 *, remote: bool = False) -> None:
        self._execute = execute
        self._execute_briefly = execute_briefly or execute  # waits at most HEARTBEAT_WAIT_MS for locks
        self._transact: Transact = transact or (lambda work, _wait_ms: work(execute))
        self.close = close
        # A run log over the network: a call can hang on a connection that stops answering, so the
        # run path bounds each one with a worker thread (`bounded`), which SQLite does not need.
        self.remote = remote
        self.engine: Any = None  # the SQLAlchemy engine behind a run log opened with one

    @classmethod
    def open(cls, url: str) -> RunStore:
        """Open the run log at `url`, creating or upgrading its schema when needed."""
        from cronkit.config.settings import sqlite_path

        path = sqlite_path(url)
        if path is None:
            from cronkit.runlog.engines import create_engine_for, describe_url, first_line
            from cronkit.runlog.schema import upgrade

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
                from cronkit.runlog.engines import first_line

                raise ServiceUnavailable(f"run log {path} is not a usable SQLite database: {first_line(exc)}") from None
            raise

        def execute(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise sqlite_trouble(path, exc) from None

        def execute_briefly(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            conn.execute(f"PRAGMA busy_timeout = {HEARTBEAT_WAIT_MS}")
            try:
                return execute(sql, params)
            finally:
                conn.execute("PRAGMA busy_timeout = 60000")

        def transact(work: Callable[[Execute], Any], wait_ms: int) -> Any:
            conn.execute(f"PRAGMA busy_timeout = {max(1, int(wait_ms))}")
            try:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.DatabaseError as exc:
                    raise sqlite_trouble(path, exc) from None
                try:
                    done = work(execute)
                    conn.execute("COMMIT")  # may fail: the disk full, the WAL with no room to grow
                    return done
                except sqlite3.DatabaseError as exc:
                    _rollback(conn)
                    raise sqlite_trouble(path, exc) from None
                except BaseException:
                    _rollback(conn)
                    raise
            finally:
                conn.execute("PRAGMA busy_timeout = 60000")

        return cls(execute, conn.close, execute_briefly, transact)

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
                        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {4 * HEARTBEAT_WAIT_MS}")
                    result = conn.execute(text(sql), dict(params))
                    return result.fetchall() if result.returns_rows else []
            except SQLAlchemyError as exc:  # one line, as on the SQLite path, not a driver's essay
                from cronkit.runlog.engines import describe_url, first_line

                raise ServiceUnavailable(f"run log {describe_url(str(engine.url))}: {first_line(exc)}") from None

        def execute_briefly(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            return execute(sql, params, brief=True)

        def transact(work: Callable[[Execute], Any], wait_ms: int) -> Any:
            try:
                with engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(wait_ms))}")
                        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(wait_ms))}")

                    def run(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
                        result = conn.execute(text(sql), dict(params))
                        return result.fetchall() if result.returns_rows else []

                    return work(run)
            except SQLAlchemyError as exc:
                from cronkit.runlog.engines import describe_url, first_line

                raise ServiceUnavailable(f"run log {describe_url(str(engine.url))}: {first_line(exc)}") from None

        store = cls(execute, engine.dispose, execute_briefly, transact, remote=engine.dialect.name != "sqlite")
        store.engine = engine
        return store

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
                "params": seal(json.dumps(dict(params), sort_keys=True), "params") if params else None,
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
                   traceback: str | None = None, result: Any = None, output: str | None = None, usage: Mapping[str, int] | None = None) -> None:
        """Record the outcome of a `running` run, its resources (`usage`) and its task's totals, in one transaction."""
        params = {
            "id": run_id, "status": _word(status), "finished_at": finished_at,
            "duration_ms": max(0, duration_ms), "attempts": attempts, "exit_code": exit_code,
            "error": clean_text(error), "traceback": clean_text(traceback),
            "result": json.dumps(result, sort_keys=True, default=str) if result is not None else None,
            "output": clean_text(output), **(usage or {}),
        }
        self._transact(lambda execute: end_run(execute, params), 60_000)

    def record_attempt(self, run_id: int, number: int, *, started_at: int, finished_at: int,
                       status: str, error: str | None) -> None:
        """Record one finished attempt of a run."""
        self._execute(
            "INSERT INTO attempts (run_id, number, started_at, finished_at, status, error)"
            " VALUES (:run_id, :number, :started_at, :finished_at, :status, :error)",
            {"run_id": run_id, "number": number, "started_at": started_at,
             "finished_at": finished_at, "status": _word(status), "error": error},
        )

    def transact(self, work: Callable[[Execute], Any], wait_ms: int) -> Any:
        """Run `work(execute)` in one transaction that waits at most `wait_ms` for the run log's locks."""
        return self._transact(work, wait_ms)

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

    def host_of(self, run_id: int) -> str | None:
        """Return the host a run was recorded on, None when there is no such run."""
        rows = self._execute("SELECT host FROM runs WHERE id = :id", {"id": run_id})
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

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

    def claim_letter(self, letter_id: int, run_id: int, started_at: int) -> str | None:
        """Claim an open dead letter for the retry run `run_id`; return why not when another has it.

        One statement, so concurrent retries cannot both win: a letter is free when no retry claimed
        it, or when the run that did is no longer running and ended before this one started (a
        retry that overlapped another is the same retry, and does not run the task again).
        """
        rows = self._execute(
            "UPDATE dead_letters SET claimed_by = :run_id WHERE id = :id AND resolved_at IS NULL"
            " AND (claimed_by IS NULL OR claimed_by = :run_id"
            " OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = dead_letters.claimed_by)"
            " OR EXISTS (SELECT 1 FROM runs r WHERE r.id = dead_letters.claimed_by"
            " AND r.status <> :running AND r.finished_at <= :started_at)) RETURNING id",
            {"id": letter_id, "run_id": run_id, "started_at": started_at, "running": RunStatus.RUNNING.value},
        )
        if rows:
            return None
        found = self._execute("SELECT resolved_by, claimed_by FROM dead_letters WHERE id = :id", {"id": letter_id})
        if not found:
            return f"no dead letter with id {letter_id}"
        resolved_by, claimed_by = found[0]
        if resolved_by is not None:
            return f"dead letter {letter_id} was resolved by run {resolved_by}"
        return f"dead letter {letter_id} is being retried by run {claimed_by} (started alongside this retry)"

    def running_before(self, task: str, run_id: int) -> list[int]:
        """Return the ids of `task`'s runs older than `run_id` that are still `running`."""
        rows = self._execute(
            "SELECT id FROM runs WHERE task = :task AND status = :running AND id < :id ORDER BY id",
            {"task": task, "running": RunStatus.RUNNING.value, "id": run_id},
        )
        return [int(row[0]) for row in rows]

    def mark_lost(self, task: str | None = None, now: int | None = None,
                  salvage: Callable[[int, str], str | None] | None = None) -> list[int]:
        """Mark `running` runs whose process is provably gone as `lost`; return their ids.

        On this host a run is gone when its pid no longer exists or belongs to a newer process;
        on another host, when its heartbeat is older than LOST_AFTER_MS. `salvage(run_id, task)`
        returns the redacted tail of the output a dead runner left (and deletes its raw file).
        """
        sql = "SELECT id, host, pid, pid_start, heartbeat_at, started_at, task FROM runs WHERE status = :running"
        params: dict[str, Any] = {"running": RunStatus.RUNNING.value}
        if task is not None:
            sql += " AND task = :task"
            params["task"] = task
        now = now_ms() if now is None else now
        lost: list[tuple[int, str]] = []
        for run_id, host, pid, pid_start, heartbeat_at, started_at, run_task in self._execute(sql, params):
            if host == hostname():
                gone = not is_alive(int(pid), pid_start)
            else:
                gone = now - int(heartbeat_at or started_at) > LOST_AFTER_MS
            if gone:
                lost.append((int(run_id), str(run_task)))
        for run_id, run_task in lost:
            output = seal(clean_text(salvage(run_id, run_task)), "output") if salvage is not None else None
            marked: dict[str, Any] = {"id": run_id, "now": now, "lost": RunStatus.LOST.value,
                                      "running": RunStatus.RUNNING.value, "output": output}
            self._transact(functools.partial(mark_one_lost, params=marked), 60_000)
        return [run_id for run_id, _ in lost]


__all__ = ["Execute", "HEARTBEAT_INTERVAL", "HEARTBEAT_WAIT_MS", "LOST_AFTER_MS", "OUTPUT_TAIL_BYTES", "RunStore", "end_run"]
