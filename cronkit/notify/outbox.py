"""The `notifications` table of the run log: every event queued, delivered, or still owed.

Every event is first written here as `pending`, then delivered; what could not be delivered stays
pending and the next `cronkit run` or `cronkit check` tries again, oldest first. A row is claimed
(`claimed_until`) before it is sent, so two processes flushing at once never send it twice.
Plain SQL through RunStore.sql: the run path writes it without SQLAlchemy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cronkit.runlog.times import iso, now_ms
from cronkit.runlog.writer import RunStore
from cronkit.safe.encrypt import HIDDEN, reveal, seal

PENDING, DELIVERED, FAILED, DROPPED = "pending", "delivered", "failed", "dropped"
SUPERSEDED = "superseded"  # a newer ping of the same healthchecks check made it pointless
MAX_TRIES = 30  # about two and a half hours of `cronkit check` every 5 minutes
COLUMNS = "id, notifier, task, event, run_id, created_at, state, tries, delivered_at, last_error, payload"


@dataclass(frozen=True)
class Delivery:
    """One row of the notifications table."""

    id: int
    notifier: str
    task: str
    event: str
    run_id: int | None
    created_at: int
    state: str
    tries: int
    delivered_at: int | None
    last_error: str | None
    payload: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        (id_, notifier, task, event, run_id, created, state, tries, delivered, error, payload) = row
        return cls(int(id_), notifier, task, event, int(run_id) if run_id is not None else None,
                   int(created), state, int(tries), int(delivered) if delivered is not None else None,
                   error, _payload(payload))

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape of `cronkit notify log --json` (no payload: it can be large)."""
        return {"id": self.id, "notifier": self.notifier, "task": self.task, "event": self.event,
                "run_id": self.run_id, "created_at": iso(self.created_at), "state": self.state,
                "tries": self.tries, "delivered_at": iso(self.delivered_at), "last_error": self.last_error}


def _payload(stored: str) -> dict[str, Any]:
    """Return a row's event; an event sealed under a key this process lacks reads as `(encrypted)`."""
    opened = reveal(stored, "payload")
    if opened == HIDDEN:
        return {"event": "unknown", "task": "", "error": HIDDEN, "output": HIDDEN}
    loaded: dict[str, Any] = json.loads(opened)
    return loaded


def enqueue(store: RunStore, notifier: str, event: Mapping[str, Any], *, dedup: str | None = None,
            at: int | None = None) -> int | None:
    """Queue an event for a notifier; None when `dedup` says it was queued before."""
    rows = store.sql(
        "INSERT INTO notifications (notifier, task, event, run_id, dedup, created_at, state, tries, payload)"
        " VALUES (:notifier, :task, :event, :run_id, :dedup, :at, :state, 0, :payload)"
        " ON CONFLICT DO NOTHING RETURNING id",
        {"notifier": notifier, "task": event["task"], "event": event["event"], "run_id": event.get("run_id"),
         "dedup": dedup, "at": now_ms() if at is None else at, "state": PENDING,
         # Sealed at rest with encrypt_payloads: an event carries a run's error and output tail.
         "payload": seal(json.dumps(dict(event), sort_keys=True), "payload")},
    )
    return int(rows[0][0]) if rows else None


def pending(store: RunStore, limit: int = 200) -> list[Delivery]:
    """Return the undelivered rows, oldest first."""
    rows = store.sql(f"SELECT {COLUMNS} FROM notifications WHERE state = :pending ORDER BY id LIMIT :limit",
                     {"pending": PENDING, "limit": limit})
    return [Delivery.from_row(row) for row in rows]


def claim(store: RunStore, delivery_id: int, hold_ms: int) -> bool:
    """Take a pending row for `hold_ms` so no other process sends it meanwhile; False if taken."""
    now = now_ms()
    rows = store.sql(
        "UPDATE notifications SET claimed_until = :until WHERE id = :id AND state = :pending"
        " AND (claimed_until IS NULL OR claimed_until < :now) RETURNING id",
        {"id": delivery_id, "until": now + hold_ms, "now": now, "pending": PENDING},
    )
    return bool(rows)


def delivered(store: RunStore, delivery_id: int) -> None:
    """Mark a row delivered."""
    store.sql("UPDATE notifications SET state = :state, delivered_at = :at, tries = tries + 1,"
              " claimed_until = NULL WHERE id = :id", {"id": delivery_id, "state": DELIVERED, "at": now_ms()})


def failed_try(store: RunStore, delivery: Delivery, error: str) -> None:
    """Record a failed try; after MAX_TRIES the row is given up (`failed`), else it stays pending."""
    state = FAILED if delivery.tries + 1 >= MAX_TRIES else PENDING
    store.sql("UPDATE notifications SET state = :state, tries = tries + 1, last_error = :error,"
              " claimed_until = NULL WHERE id = :id", {"id": delivery.id, "state": state, "error": error[:500]})


def give_up(store: RunStore, delivery_id: int, error: str) -> None:
    """Mark a row failed for good after a try the receiver refused for good (it has no such check)."""
    store.sql("UPDATE notifications SET state = :state, tries = tries + 1, last_error = :error,"
              " claimed_until = NULL WHERE id = :id", {"id": delivery_id, "state": FAILED, "error": error[:500]})


def supersede(store: RunStore, delivery_id: int, reason: str) -> None:
    """Leave a pending row unsent: a newer row of the same check says what it would have said."""
    store.sql("UPDATE notifications SET state = :state, last_error = :reason WHERE id = :id AND state = :pending",
              {"id": delivery_id, "state": SUPERSEDED, "reason": reason, "pending": PENDING})


def drop(store: RunStore, delivery_id: int, reason: str) -> None:
    """Give up a row whose notifier is no longer configured."""
    store.sql("UPDATE notifications SET state = :state, last_error = :error WHERE id = :id",
              {"id": delivery_id, "state": DROPPED, "error": reason})


def recent(store: RunStore, *, limit: int = 50, task: str | None = None) -> list[Delivery]:
    """Return the latest rows, newest first (`cronkit notify log`)."""
    where, params = "", dict[str, Any](limit=limit)
    if task is not None:
        where, params = " WHERE task = :task", {"limit": limit, "task": task}
    rows = store.sql(f"SELECT {COLUMNS} FROM notifications{where} ORDER BY id DESC LIMIT :limit", params)
    return [Delivery.from_row(row) for row in rows]


def last_alert(store: RunStore, notifier: str, task: str, event: str, after_run: int, upto_run: int) -> int | None:
    """Return when `event` was last queued for a run of the task in (after_run, upto_run], else None."""
    rows = store.sql(
        "SELECT MAX(created_at) FROM notifications WHERE notifier = :notifier AND task = :task"
        " AND event = :event AND run_id > :after AND run_id <= :upto",
        {"notifier": notifier, "task": task, "event": event, "after": after_run, "upto": upto_run},
    )
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def last_missed_slot(store: RunStore, notifier: str, task: str) -> int | None:
    """Return the slot (epoch ms) of the latest `missed` event queued for the notifier and task."""
    rows = store.sql(
        "SELECT dedup FROM notifications WHERE notifier = :notifier AND task = :task AND event = 'missed'"
        " ORDER BY id DESC LIMIT 1", {"notifier": notifier, "task": task})
    if not rows or not rows[0][0]:
        return None
    return int(str(rows[0][0]).rsplit(":", 1)[1])  # missed:<task>:<ms>; older rows: missed:<ms>


__all__ = ["DELIVERED", "DROPPED", "Delivery", "FAILED", "MAX_TRIES", "PENDING", "SUPERSEDED", "claim",
           "delivered", "drop", "enqueue", "failed_try", "give_up", "last_alert", "last_missed_slot", "pending",
           "recent", "supersede"]
