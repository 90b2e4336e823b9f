"""The audit trail: every trigger attempt (allowed or refused) and every token change, one row each.

A trigger's row is written in the same transaction as the run it starts (`trigger`); the rest
write theirs alone. Params are stored redacted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from cronkit.runlog.schema import audit
from cronkit.runlog.times import iso
from cronkit.safe.encrypt import HIDDEN, reveal, seal
from cronkit.safe.redact import Redactor

_USER_AGENT_MAX = 255


def record(conn: Connection, *, at: int, action: str, result: str, token_name: str | None = None,
           remote_addr: str | None = None, user_agent: str | None = None, task: str | None = None,
           params: Mapping[str, Any] | None = None, idempotency_key: str | None = None,
           status_code: int | None = None, run_id: int | None = None, detail: str | None = None,
           redactor: Redactor | None = None) -> int:
    """Write one audit row in the caller's transaction; return its id."""
    redact = redactor or Redactor()
    stored = seal(json.dumps(redact.value(dict(params)), sort_keys=True, default=str), "params") if params else None
    row = conn.execute(audit.insert().values(
        at=at, token_name=token_name, remote_addr=remote_addr,
        user_agent=(user_agent or "")[:_USER_AGENT_MAX] or None, action=action,
        task=task[:64] if task else None, params=stored,
        idempotency_key=idempotency_key, result=result, status_code=status_code, run_id=run_id,
        detail=redact(detail) if detail else None,
    ).returning(audit.c.id))
    return int(row.scalar_one())


def record_alone(engine: Engine, **fields: Any) -> int:
    """Write one audit row in a transaction of its own."""
    with engine.begin() as conn:
        return record(conn, **fields)


def _params(stored: str | None) -> Any:
    """Return an audit row's params; `(encrypted)` as it is without the key (encrypt_payloads)."""
    if stored == HIDDEN:
        return stored
    return json.loads(stored) if stored else None


def audit_dict(row: Any) -> dict[str, Any]:
    """Turn an audit row into its stable JSON shape."""
    return {
        "id": row.id, "at": iso(row.at), "token": row.token_name, "remote_addr": row.remote_addr,
        "user_agent": row.user_agent, "action": row.action, "task": row.task,
        "params": _params(reveal(row.params, "params")), "idempotency_key": row.idempotency_key,
        "result": row.result, "status_code": row.status_code, "run_id": row.run_id, "detail": row.detail,
    }


def list_audit(engine: Engine, *, since_ms: int | None = None, before_id: int | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
    """Return audit rows newest first: since an instant, before an id (a page's cursor)."""
    query = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if since_ms is not None:
        query = query.where(audit.c.at >= since_ms)
    if before_id is not None:
        query = query.where(audit.c.id < before_id)
    with engine.connect() as conn:
        return [audit_dict(row) for row in conn.execute(query)]


__all__ = ["audit_dict", "list_audit", "record", "record_alone"]
