"""The run path's writes to the run log: RunStore, the one executor every user of the run log holds.

`runlog.open` gives one: over a sqlite3 connection for a SQLite run log (`link.SqliteLink`: no
SQLAlchemy, because `cronkit run` starts on every cron tick) and over a SQLAlchemy engine for
PostgreSQL (`enginelink.EngineLink`). The same plain SQL (named parameters, RETURNING) runs on
either. The end of a run is written by `journal` (one transaction, or the journal file).
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum

from cronkit.errors import ServiceUnavailable
from cronkit.host import hostname, is_alive, process_start
from cronkit.plain import TYPE_CHECKING
from cronkit.runlog.engines import HEARTBEAT_WAIT_MS
from cronkit.runlog.leftover import OUTPUT_TAIL_BYTES
from cronkit.runlog.link import Execute, SqliteLink, Transact
from cronkit.runlog.queries import SET_META
from cronkit.runlog.status import RunStatus
from cronkit.runlog.times import now_ms
from cronkit.runlog.totals import mark_one_lost
from cronkit.safe.encrypt import seal

if TYPE_CHECKING:
    from typing import Any

    from sqlalchemy.engine import Engine

    from cronkit.runlog.enginelink import EngineLink

HEARTBEAT_INTERVAL = 30.0
# A run on another host whose heartbeat is this old is taken for dead.
LOST_AFTER_MS = int(4 * HEARTBEAT_INTERVAL * 1000)
# The longest a single call to a PostgreSQL run log may take on the run path before the runner
# gives up on it (the call goes on in a worker thread): a connection that stops answering without
# a reset must not hold up the supervision loop or the end of a run.
REMOTE_CALL_LIMIT = 10.0


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


def bounded(work: Callable[[], Any], seconds: float, what: str) -> Any:
    """Run `work` in a daemon thread and wait at most `seconds`; ServiceUnavailable when it does not answer.

    The abandoned call may still complete later; every write the run path makes this way is
    idempotent (see journal.record_outcome), so completing late is harmless.
    """
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


class RunStore:
    """An open run log: plain SQL on it (one statement, a transaction, a run of reads), the run path's writes."""

    def __init__(self, link: SqliteLink | EngineLink) -> None:
        self._link = link
        # A run log over the network: a call can hang on a connection that stops answering, so the
        # run path bounds each one with a worker thread (`bounded`), which SQLite does not need.
        self.remote = link.remote
        self.engine: Engine | None = link.engine  # the SQLAlchemy engine behind it; None over sqlite3
        self.close: Callable[[], None] = link.close

    @classmethod
    def for_engine(cls, engine: Engine, *, owned: bool = True) -> RunStore:
        """Run plain SQL through a SQLAlchemy engine; `owned`: close() disposes of it."""
        # lazy: SQLAlchemy only for a run log opened with an engine, never on a SQLite run path
        from cronkit.runlog.enginelink import EngineLink

        return cls(EngineLink(engine, owned=owned))

    def sqlalchemy_engine(self) -> Engine:
        """Return a SQLAlchemy engine on this run log, for queries written with SQLAlchemy Core.

        The store's own on PostgreSQL; on SQLite one made on first call, disposed of with the store.
        """
        return self._link.sqlalchemy_engine()

    def transact(self, work: Callable[[Execute], Any], wait_ms: int) -> Any:
        """Run `work(execute)` in one transaction that waits at most `wait_ms` for the run log's locks."""
        return self._link.transact(work, wait_ms)

    @contextmanager
    def connection(self) -> Iterator[Execute]:
        """Hold one connection for a run of reads; yield the Execute that runs SQL on it."""
        with self._link.connection() as execute:
            yield execute

    def write_meta(self, values: Mapping[str, str]) -> None:
        """Set `meta` keys in one transaction."""

        def work(execute: Execute) -> None:
            for key, value in values.items():
                execute(SET_META, {"key": key, "value": value})

        self.transact(work, 60_000)

    def sql(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """Run one statement of plain SQL with named parameters (the notifications' queries)."""
        return self._link.execute(sql, params)

    def start_run(self, *, task: str, trigger: str, status: str = RunStatus.RUNNING,
                  scheduled_for: int | None = None, started_at: int, user: str | None,
                  params: Mapping[str, Any] | None = None, dry_run: bool = False,
                  pid: int | None = None) -> int:
        """Record a new run and return its id."""
        pid = os.getpid() if pid is None else pid
        rows = self._link.execute(
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
        rows = self._link.execute(
            "UPDATE runs SET host = :host, pid = :pid, pid_start = :pid_start, heartbeat_at = :at"
            " WHERE id = :id AND task = :task AND trigger = :trigger AND status = :running RETURNING id",
            {"id": run_id, "task": task, "trigger": trigger, "running": RunStatus.RUNNING.value,
             "host": hostname(), "pid": pid, "pid_start": process_start(pid), "at": at},
        )
        return bool(rows)

    def heartbeat(self, run_id: int, at: int) -> None:
        """Beat a run's heartbeat; ServiceUnavailable when the run log stays busy for HEARTBEAT_WAIT_MS."""
        self._link.execute_briefly("UPDATE runs SET heartbeat_at = :at WHERE id = :id", {"id": run_id, "at": at})

    def claim_slot(self, task: str, scheduled_for: int, run_id: int) -> int | None:
        """Claim a slot for a run; return the id of the run that already holds it, else None."""
        claimed = self._link.execute(
            "INSERT INTO slots (task, scheduled_for, run_id) VALUES (:task, :slot, :run_id)"
            " ON CONFLICT DO NOTHING RETURNING run_id",
            {"task": task, "slot": scheduled_for, "run_id": run_id},
        )
        return None if claimed else self.slot_holder(task, scheduled_for)

    def host_of(self, run_id: int) -> str | None:
        """Return the host a run was recorded on, None when there is no such run."""
        rows = self._link.execute("SELECT host FROM runs WHERE id = :id", {"id": run_id})
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def slot_holder(self, task: str, scheduled_for: int) -> int | None:
        """Return the id of the run that holds a slot, else None (claims nothing)."""
        rows = self._link.execute(
            "SELECT run_id FROM slots WHERE task = :task AND scheduled_for = :slot",
            {"task": task, "slot": scheduled_for},
        )
        return int(rows[0][0]) if rows else None

    def claim_letter(self, letter_id: int, run_id: int, started_at: int) -> str | None:
        """Claim an open dead letter for the retry run `run_id`; return why not when another has it.

        One statement, so concurrent retries cannot both win: a letter is free when no retry claimed
        it, or when the run that did is no longer running and ended before this one started (a
        retry that overlapped another is the same retry, and does not run the task again).
        """
        rows = self._link.execute(
            "UPDATE dead_letters SET claimed_by = :run_id WHERE id = :id AND resolved_at IS NULL"
            " AND (claimed_by IS NULL OR claimed_by = :run_id"
            " OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = dead_letters.claimed_by)"
            " OR EXISTS (SELECT 1 FROM runs r WHERE r.id = dead_letters.claimed_by"
            " AND r.status <> :running AND r.finished_at <= :started_at)) RETURNING id",
            {"id": letter_id, "run_id": run_id, "started_at": started_at, "running": RunStatus.RUNNING.value},
        )
        if rows:
            return None
        found = self._link.execute("SELECT resolved_by, claimed_by FROM dead_letters WHERE id = :id", {"id": letter_id})
        if not found:
            return f"no dead letter with id {letter_id}"
        resolved_by, claimed_by = found[0]
        if resolved_by is not None:
            return f"dead letter {letter_id} was resolved by run {resolved_by}"
        return f"dead letter {letter_id} is being retried by run {claimed_by} (started alongside this retry)"

    def running_before(self, task: str, run_id: int) -> list[int]:
        """Return the ids of `task`'s runs older than `run_id` that are still `running`."""
        rows = self._link.execute(
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
        for run_id, host, pid, pid_start, heartbeat_at, started_at, run_task in self._link.execute(sql, params):
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
            self._link.transact(functools.partial(mark_one_lost, params=marked), 60_000)
        return [run_id for run_id, _ in lost]


__all__ = ["HEARTBEAT_INTERVAL", "HEARTBEAT_WAIT_MS", "LOST_AFTER_MS", "OUTPUT_TAIL_BYTES", "REMOTE_CALL_LIMIT", "Execute",
           "RunStore", "Transact", "bounded", "clean_text"]
