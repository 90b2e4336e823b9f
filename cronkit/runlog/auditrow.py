"""Write one audit row with plain SQL, in the caller's transaction: for writers outside the HTTP service.

`cronkit pause`/`resume` and `cronkit check`'s auto_sync write their audit rows through this, on
any run log (sqlite3 or SQLAlchemy underneath an Execute); the service's routes use web/audit.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from cronkit.plain import TYPE_CHECKING
from cronkit.safe.encrypt import seal

if TYPE_CHECKING:
    from typing import Any

Execute = Callable[[str, Mapping[str, "Any"]], Sequence[Sequence["Any"]]]

INSERT_AUDIT = ("INSERT INTO audit (at, token_name, remote_addr, user_agent, action, task, params, result,"
                " status_code, detail) VALUES (:at, :token, :remote_addr, :user_agent, :action, :task, :params,"
                " :result, :status_code, :detail)")


def write_audit(execute: Execute, *, at: int, action: str, result: str, task: str | None = None,
                detail: str | None = None, params: Mapping[str, Any] | None = None, token: str | None = None,
                remote_addr: str | None = None, user_agent: str | None = None,
                status_code: int | None = None) -> None:
    """Insert one audit row (params stored as JSON; the caller has redacted what needs it)."""
    execute(INSERT_AUDIT, {"at": at, "token": token, "remote_addr": remote_addr,
                           "user_agent": (user_agent or "")[:255] or None, "action": action,
                           "task": task[:64] if task else None,
                           "params": seal(json.dumps(dict(params), sort_keys=True, default=str), "params")
                           if params else None,
                           "result": result, "status_code": status_code, "detail": detail})


__all__ = ["INSERT_AUDIT", "write_audit"]
