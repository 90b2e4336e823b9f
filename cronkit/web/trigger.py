"""Start a run for the API: recorded here, run by a detached `cronkit run --trigger api --run-id N`.

The service records the run (`running`, trigger `api`) and its audit row in one transaction, so
the 202 answer carries the run id, then starts the child, which adopts that run: the run's pid
becomes the child's, so a child that dies is marked `lost` like any run whose process is gone,
and a service that dies before the child started leaves a run whose pid (its own) is gone too.
No task code runs in the service. Triggers are taken one at a time (a lock here, and the run
log's write lock or an advisory lock across processes), which makes the singleton check and
the Idempotency-Key lookup race-free.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Connection, Engine

from cronkit.host import hostname, process_start
from cronkit.runlog.enginelink import execute_on
from cronkit.runlog.pauses import current_pause
from cronkit.runlog.schema import audit, idempotency_keys, runs
from cronkit.runlog.status import RunStatus, Trigger
from cronkit.runlog.times import now_ms
from cronkit.runlog.totals import ADD_RUN
from cronkit.runlog.writer import RunStore
from cronkit.safe.encrypt import seal
from cronkit.safe.redact import Redactor
from cronkit.web import audit as audit_log
from cronkit.web.problems import problem_body

IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000  # a key is remembered this long
TRIGGER_LOCK_KEY = 727275  # PostgreSQL advisory lock of the trigger transaction


@dataclass(frozen=True)
class TriggerRequest:
    """A validated trigger: which task, with what."""

    task: str
    params: dict[str, str] = field(default_factory=dict)
    date: str | None = None
    dry_run: bool = False
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """Return the hash an Idempotency-Key replay compares (the same for both trigger routes)."""
        canon = json.dumps({"task": self.task, "params": self.params, "date": self.date,
                            "dry_run": self.dry_run}, sort_keys=True)
        return hashlib.sha256(canon.encode()).hexdigest()

    def stored_params(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.params)
        if self.date is not None:
            params["date"] = self.date
        return params


@dataclass(frozen=True)
class Caller:
    """Who asks: the token's name and where the request came from."""

    token_name: str | None
    remote_addr: str | None
    user_agent: str | None


@dataclass(frozen=True)
class Answer:
    """The HTTP answer of a trigger: status, JSON body, Location."""

    status: int
    body: dict[str, Any]
    location: str | None = None
    replayed: bool = False


class Launcher:
    """Take trigger requests one at a time; record, audit and start each."""

    def __init__(self, engine: Engine, redactor: Redactor, child_env: Mapping[str, str],
                 singleton: Mapping[str, bool]) -> None:
        self.engine = engine
        self.redact = redactor
        self.child_env = dict(child_env)
        self.singleton = dict(singleton)
        self._lock = threading.Lock()

    def trigger(self, req: TriggerRequest, caller: Caller) -> Answer:
        with self._lock:
            if self.singleton.get(req.task, True):
                # A run whose process died must not block the task: same rule as `cronkit run`.
                RunStore.for_engine(self.engine).mark_lost(task=req.task)
            answer, run_id = self._record(req, caller)
            if run_id is None:
                return answer
            return self._start(req, caller, answer, run_id)

    def _record(self, req: TriggerRequest, caller: Caller) -> tuple[Answer, int | None]:
        at = now_ms()
        fields: dict[str, Any] = {
            "at": at, "action": "trigger", "token_name": caller.token_name, "remote_addr": caller.remote_addr,
            "user_agent": caller.user_agent, "task": req.task, "params": req.stored_params() or None,
            "idempotency_key": req.idempotency_key, "redactor": self.redact,
        }
        if req.dry_run:
            fields["params"] = {**(fields["params"] or {}), "dry_run": True}
        with self.engine.begin() as conn:
            self._serialise(conn, at)
            if req.idempotency_key is not None:
                kept = conn.execute(select(idempotency_keys).where(
                    idempotency_keys.c.token_name == (caller.token_name or ""),
                    idempotency_keys.c.key == req.idempotency_key,
                )).first()
                if kept is not None:
                    if kept.request_hash != req.fingerprint():
                        detail = "this Idempotency-Key was used with a different request body"
                        audit_log.record(conn, **fields, result="idempotency_mismatch", status_code=422, detail=detail)
                        return Answer(422, problem_body(422, "idempotency-key-reused", detail)), None
                    body = json.loads(kept.body)
                    audit_log.record(conn, **fields, result="replayed", status_code=kept.status_code,
                                     run_id=body.get("run_id"), detail="answer replayed for its Idempotency-Key")
                    return Answer(kept.status_code, body, _location(body.get("run_id")), replayed=True), None
            if self.singleton.get(req.task, True):
                holder = conn.execute(
                    select(func.min(runs.c.id)).where(runs.c.task == req.task, runs.c.status == RunStatus.RUNNING.value)
                ).scalar()
                if holder is not None:
                    detail = f"{req.task} is a singleton and run {holder} of it is running"
                    audit_log.record(conn, **fields, result="conflict", status_code=409, run_id=int(holder), detail=detail)
                    return Answer(409, problem_body(409, "task-running", detail, task=req.task, run_id=int(holder))), None
            pause = current_pause(execute_on(conn), req.task, at)
            if pause is not None:  # `cronkit pause` (issue 28): a trigger refuses, as `cronkit run` does
                detail = f"{req.task} is {pause.describe()}: resume it first"
                audit_log.record(conn, **fields, result="paused", status_code=409, detail=detail)
                return Answer(409, problem_body(409, "task-paused", detail, task=req.task, **pause.as_dict())), None
            pid = os.getpid()
            run_id = int(conn.execute(runs.insert().values(
                task=req.task, status=RunStatus.RUNNING.value, trigger=Trigger.API.value, started_at=at,
                heartbeat_at=at, attempts=0, host=hostname(), pid=pid, pid_start=process_start(pid),
                user=f"api:{caller.token_name}" if caller.token_name else "api",
                params=seal(json.dumps(self.redact.value(req.stored_params()), sort_keys=True), "params")
                if req.stored_params() else None,
                dry_run=req.dry_run,
            ).returning(runs.c.id)).scalar_one())
            body = {"run_id": run_id, "task": req.task, "status": RunStatus.RUNNING.value}
            audit_log.record(conn, **fields, result="accepted", status_code=202, run_id=run_id)
            if req.idempotency_key is not None:
                conn.execute(idempotency_keys.insert().values(
                    token_name=caller.token_name or "", key=req.idempotency_key, request_hash=req.fingerprint(),
                    status_code=202, body=json.dumps(body, sort_keys=True), created_at=at,
                ))
        return Answer(202, body, _location(run_id)), run_id

    def _serialise(self, conn: Connection, at: int) -> None:
        """Take the run log's write lock first, so the reads below see every earlier trigger."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TRIGGER_LOCK_KEY})
        # On SQLite a write statement takes the database's write lock for the transaction.
        conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < at - IDEMPOTENCY_TTL_MS))

    def _start(self, req: TriggerRequest, caller: Caller, answer: Answer, run_id: int) -> Answer:
        argv = [sys.executable, "-m", "cronkit", "run", req.task, "--trigger", Trigger.API.value,
                "--run-id", str(run_id)]
        for key, value in req.params.items():
            argv += ["--param", f"{key}={value}"]
        if req.date is not None:
            argv += ["--date", req.date]
        if req.dry_run:
            argv.append("--dry-run")
        try:
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=self.child_env, start_new_session=True, close_fds=True,
            )
        except Exception as exc:  # noqa: BLE001 - whatever stops the start, the run must not stay `running`
            # OSError (no processes left, no memory), ValueError (a NUL), UnicodeEncodeError: the
            # run was recorded under this service's pid, which never dies, so nothing else would end it.
            return self._not_started(req, caller, run_id, self.redact(f"could not start cronkit run: {_reason(exc)}"))
        # The child's pid, unless it adopted the run already (then it wrote the same) or finished.
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value,
                                            runs.c.pid == os.getpid())
                         .values(pid=child.pid, pid_start=process_start(child.pid)))
        threading.Thread(target=child.wait, name=f"cronkit-reap-{child.pid}", daemon=True).start()
        return answer

    def _not_started(self, req: TriggerRequest, caller: Caller, run_id: int, error: str) -> Answer:
        at = now_ms()
        with self.engine.begin() as conn:
            ended = conn.execute(update(runs).where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value)
                                 .values(status=RunStatus.FAILED.value, finished_at=at, duration_ms=0, exit_code=69,
                                         error=error))
            if ended.rowcount:
                conn.execute(text(ADD_RUN), {"id": run_id})  # in the same transaction, as every run's end
            conn.execute(update(audit).where(audit.c.run_id == run_id, audit.c.action == "trigger")
                         .values(result="not_started", status_code=503, detail=error))
            conn.execute(idempotency_keys.delete().where(idempotency_keys.c.token_name == (caller.token_name or ""),
                                                         idempotency_keys.c.key == (req.idempotency_key or "")))
        return Answer(503, problem_body(503, "run-not-started", error, run_id=run_id))


def _reason(exc: Exception) -> str:
    """Say why a start failed in one line, without the argument list (it holds the params)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    said = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__


def _location(run_id: Any) -> str | None:
    return f"/api/v1/runs/{run_id}" if run_id is not None else None


__all__ = ["Answer", "Caller", "Launcher", "TriggerRequest"]
