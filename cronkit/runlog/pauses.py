"""Pauses of a task in the run log (schema version 8): read on every run, written by `pause`/`resume`.

Plain SQL with named parameters through an Execute (RunStore.sql, a reader's connection), so the
run path reads a pause without SQLAlchemy: one row, by the index (task, id), however long the
history. Only a task's latest row can be in force: a new pause ends the one before it. A pause
with an end (`paused_until`) ends by itself; `ended_at` holds when a pause ends or ended.

Every pause and resume writes its audit row in the same transaction (the `audit` table of the
HTTP service), with where it came from: the CLI's user, or the API's or dashboard's token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from cronkit.plain import TYPE_CHECKING
from cronkit.runlog.auditrow import write_audit
from cronkit.runlog.times import iso

if TYPE_CHECKING:
    from typing import Any

Execute = Callable[[str, Mapping[str, "Any"]], Sequence[Sequence["Any"]]]

_COLUMNS = "task, paused_at, paused_by, origin, paused_until, reason, ended_at"
# The latest pause of a task: in force when it has not ended (the run path's one read).
LATEST_PAUSE = f"SELECT {_COLUMNS} FROM pauses WHERE task = :task ORDER BY id DESC LIMIT 1"
# Every pause in force at :now (the latest row of each paused task; the older ones have ended).
PAUSES_IN_FORCE = f"SELECT {_COLUMNS} FROM pauses WHERE ended_at IS NULL OR ended_at > :now ORDER BY id"
# The pauses of a task that overlap [first, last], newest first; a window holds few of them.
PAUSES_OVERLAPPING = (f"SELECT {_COLUMNS} FROM pauses WHERE task = :task AND paused_at <= :last"
                      " AND (ended_at IS NULL OR ended_at > :first) ORDER BY id DESC LIMIT :limit")
MAX_INTERVALS = 200
_END_OPEN = ("UPDATE pauses SET ended_at = :at, resumed_by = :who WHERE task = :task"
             " AND (ended_at IS NULL OR ended_at > :at)")
_INSERT = ("INSERT INTO pauses (task, paused_at, paused_by, origin, paused_until, reason, ended_at)"
           " VALUES (:task, :at, :who, :origin, :until, :reason, :until)")


class Pause:
    """One pause of a task: who, since when, until when (None: until resumed), why."""

    __slots__ = ("ended_at", "origin", "paused_at", "paused_by", "reason", "task", "until")

    def __init__(self, task: str, paused_at: int, paused_by: str, origin: str, until: int | None,
                 reason: str | None, ended_at: int | None) -> None:
        self.task, self.paused_at, self.paused_by, self.origin = task, int(paused_at), paused_by, origin
        self.until = None if until is None else int(until)
        self.reason = reason
        self.ended_at = None if ended_at is None else int(ended_at)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Pause:
        return cls(str(row[0]), row[1], str(row[2]), str(row[3]), row[4], row[5], row[6])

    def in_force(self, now_ms: int) -> bool:
        """Tell whether an instant falls inside the pause (a slot there was paused, not missed)."""
        return self.paused_at <= now_ms and not self.ended(now_ms)

    def ended(self, now_ms: int) -> bool:
        """Tell whether the pause is over at `now_ms`. A task's latest pause holds until then, even
        where this host's clock is behind the one that wrote it."""
        return self.ended_at is not None and self.ended_at <= now_ms

    def describe(self) -> str:
        """Say who paused the task, until when and why, in one line (the skip reason of a run)."""
        until = f" until {iso(self.until)}" if self.until is not None else " until resumed"
        why = f": {self.reason}" if self.reason else ""
        return f"paused by {self.paused_by}{until}{why}"

    def as_dict(self) -> dict[str, Any]:
        """Return the pause keys of `list --json`, `status --json` and `/api/v1/tasks`."""
        return {"paused": True, "paused_at": iso(self.paused_at), "paused_until": iso(self.until),
                "paused_by": self.paused_by, "pause_reason": self.reason}


NOT_PAUSED: Mapping[str, Any] = {"paused": False, "paused_at": None, "paused_until": None, "paused_by": None,
                                 "pause_reason": None}


def pause_keys(pause: Pause | None) -> dict[str, Any]:
    """Return the pause keys of a task's JSON, paused or not."""
    return pause.as_dict() if pause is not None else dict(NOT_PAUSED)


def current_pause(execute: Execute, task: str, now_ms: int) -> Pause | None:
    """Return the pause of `task` in force at `now_ms`, else None: one indexed row."""
    rows = execute(LATEST_PAUSE, {"task": task})
    if not rows:
        return None
    pause = Pause.from_row(rows[0])
    return None if pause.ended(now_ms) else pause


def current_pauses(execute: Execute, now_ms: int) -> dict[str, Pause]:
    """Return every pause in force at `now_ms`, by task."""
    found = (Pause.from_row(row) for row in execute(PAUSES_IN_FORCE, {"now": now_ms}))
    return {p.task: p for p in found if not p.ended(now_ms)}


def pauses_between(execute: Execute, task: str, first_ms: int, last_ms: int) -> list[Pause]:
    """Return the pauses of `task` that overlap [first, last] (epoch ms), newest first (at most MAX_INTERVALS)."""
    rows = execute(PAUSES_OVERLAPPING, {"task": task, "first": first_ms, "last": last_ms, "limit": MAX_INTERVALS})
    return [Pause.from_row(row) for row in rows]


def covering(pauses: Iterable[Pause], at_ms: int) -> Pause | None:
    """Return the pause an instant falls in (a slot there was paused, not missed), else None."""
    return next((p for p in pauses if p.in_force(at_ms)), None)


class Origin:
    """Who acts and from where: the CLI's OS user, or a token from the API or the dashboard."""

    __slots__ = ("remote_addr", "side", "token", "user", "user_agent")

    def __init__(self, side: str, *, user: str | None = None, token: str | None = None,
                 remote_addr: str | None = None, user_agent: str | None = None) -> None:
        self.side, self.user, self.token = side, user, token
        self.remote_addr, self.user_agent = remote_addr, (user_agent or "")[:255] or None

    @property
    def who(self) -> str:
        """Return the name a pause records: the OS user (CLI), `api:<token>` or `dashboard:<token>`."""
        if self.side == "cli":
            return self.user or "unknown"
        return f"{self.side}:{self.token}" if self.token else self.side


def write_pauses(transact: Callable[[Callable[[Execute], Any], int], Any], tasks: Sequence[str], *, at: int,
                 until: int | None, reason: str | None, origin: Origin, asked: Mapping[str, Any]) -> list[Pause]:
    """Pause `tasks` from `at` (ending the pause each had), with one audit row each, in one transaction."""

    def work(execute: Execute) -> list[Pause]:
        done = []
        for task in tasks:
            execute(_END_OPEN, {"task": task, "at": at, "who": origin.who})
            execute(_INSERT, {"task": task, "at": at, "who": origin.who, "origin": origin.side, "until": until,
                              "reason": reason})
            pause = Pause(task, at, origin.who, origin.side, until, reason, until)
            _audit(execute, origin, at, "pause", task, asked, "paused", pause.describe())
            done.append(pause)
        return done

    result: list[Pause] = transact(work, 60_000)
    return result


def write_resumes(transact: Callable[[Callable[[Execute], Any], int], Any], tasks: Sequence[str], *, at: int,
                  origin: Origin) -> list[Pause | None]:
    """End the pause in force of each of `tasks` (None for one that was not paused), with one audit row each."""

    def work(execute: Execute) -> list[Pause | None]:
        done: list[Pause | None] = []
        for task in tasks:
            pause = current_pause(execute, task, at)
            execute(_END_OPEN, {"task": task, "at": at, "who": origin.who})
            detail = f"was {pause.describe()}" if pause is not None else "was not paused"
            _audit(execute, origin, at, "resume", task, {}, "resumed" if pause else "not_paused", detail)
            done.append(pause)
        return done

    result: list[Pause | None] = transact(work, 60_000)
    return result


def _audit(execute: Execute, origin: Origin, at: int, action: str, task: str, asked: Mapping[str, Any],
           result: str, detail: str) -> None:
    params = {**asked, "origin": origin.side} | ({"user": origin.user} if origin.user else {})
    write_audit(execute, at=at, action=action, result=result, task=task, detail=detail, params=params,
                token=origin.token, remote_addr=origin.remote_addr, user_agent=origin.user_agent,
                status_code=200 if origin.side != "cli" else None)


__all__ = ["LATEST_PAUSE", "NOT_PAUSED", "Origin", "Pause", "covering", "current_pause", "current_pauses",
           "pause_keys", "pauses_between", "write_pauses", "write_resumes"]
