"""Which events a finished run raises for each notifier (SPEC section 11).

- `success`: the run succeeded.
- `failure` (failed, timed_out, lost): once the task has failed `failures_before_alert` times in a
  row (skipped and interrupted runs neither count nor break the streak), then not again until it
  recovers, or until `repeat_after` has passed since the last failure alert.
- `recovery`: the first success after a failure alert of this notifier.
- `too_long`: the run took longer than the task's `max_duration`; `too_fast`: it succeeded in
  less than `min_duration`.
- A healthchecks notifier hears about every run's end (`success` or `failure`, never held back):
  the check keeps its own alerting state.

The alert state is the notifications table itself: a failure alert is a row queued for the
notifier, whether or not it has been delivered yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cronkit.config.notify import Notifier, TaskNotify
from cronkit.notify.events import FAILED
from cronkit.notify.outbox import last_alert
from cronkit.runlog.times import now_ms
from cronkit.runlog.writer import RunStore

_NEUTRAL = ("skipped", "running", "interrupted")


class RunFacts:
    """What the rules need to know about a finished run, read from the run log once."""

    def __init__(self, store: RunStore, task: str, run_id: int, status: str, duration_ms: int | None) -> None:
        self.store, self.task, self.run_id, self.status, self.duration_ms = store, task, run_id, status, duration_ms
        self._streak: int | None = None
        self._last_success: int | None = None

    def streak(self, cap: int) -> int:
        """Return how many runs up to this one failed in a row (counted up to `cap`)."""
        if self._streak is None or self._streak < cap:
            rows = self.store.sql(
                "SELECT status FROM runs WHERE task = :task AND id <= :id"
                " AND status NOT IN ('skipped', 'running', 'interrupted') ORDER BY id DESC LIMIT :cap",
                {"task": self.task, "id": self.run_id, "cap": cap},
            )
            count = 0
            for (status,) in rows:
                if status not in FAILED:
                    break
                count += 1
            self._streak = count
        return min(self._streak, cap)

    def last_success(self) -> int:
        """Return the id of the task's latest success before this run, 0 when there is none."""
        if self._last_success is None:
            rows = self.store.sql("SELECT MAX(id) FROM runs WHERE task = :task AND status = 'succeeded' AND id < :id",
                                  {"task": self.task, "id": self.run_id})
            self._last_success = int(rows[0][0]) if rows and rows[0][0] is not None else 0
        return self._last_success


def events_for(notifier: Notifier, facts: RunFacts, limits: TaskNotify | None, now: int | None = None) -> list[str]:
    """Return the events `facts` raises for `notifier`, in the order they are sent."""
    status, on = facts.status, notifier.on
    if status in _NEUTRAL and status != "interrupted":
        return []
    if notifier.kind == "healthchecks":
        if status == "succeeded":
            return ["success"] if "success" in on else []
        return ["failure"] if "failure" in on else []
    events: list[str] = []
    if status == "succeeded" and "success" in on:
        events.append("success")
    if status in FAILED and "failure" in on and _alert_failure(notifier, facts, now):
        events.append("failure")
    if status == "succeeded" and "recovery" in on:
        alerted = last_alert(facts.store, notifier.name, facts.task, "failure", facts.last_success(), facts.run_id)
        if alerted is not None:
            events.append("recovery")
    events.extend(_durations(on, facts, limits))
    return events


def _alert_failure(notifier: Notifier, facts: RunFacts, now: int | None) -> bool:
    if facts.streak(notifier.failures_before_alert) < notifier.failures_before_alert:
        return False
    last = last_alert(facts.store, notifier.name, facts.task, "failure", facts.last_success(), facts.run_id)
    if last is None:
        return True
    if notifier.repeat_after is None:
        return False
    return (now_ms() if now is None else now) - last >= notifier.repeat_after * 1000


def _durations(on: Sequence[str], facts: RunFacts, limits: TaskNotify | None) -> list[str]:
    if limits is None or facts.duration_ms is None:
        return []
    seconds = facts.duration_ms / 1000
    events = []
    if "too_long" in on and limits.max_duration is not None and seconds > limits.max_duration:
        events.append("too_long")
    if ("too_fast" in on and limits.min_duration is not None and facts.status == "succeeded"
            and seconds < limits.min_duration):
        events.append("too_fast")
    return events


def duration_note(event: str, limits: TaskNotify | None, duration_ms: Any) -> str | None:
    """Return the line that says which threshold a too_long or too_fast run crossed."""
    if limits is None or duration_ms is None:
        return None
    took = f"{int(duration_ms) / 1000:g}s"
    if event == "too_long" and limits.max_duration is not None:
        return f"ran {took}, longer than max_duration {limits.max_duration:g}s"
    if event == "too_fast" and limits.min_duration is not None:
        return f"finished in {took}, faster than min_duration {limits.min_duration:g}s"
    return None


__all__ = ["RunFacts", "duration_note", "events_for"]
