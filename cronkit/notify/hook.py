"""What the runner calls around a run when notifiers are configured; it never raises.

Events are queued in the outbox first, then the outbox is flushed within a budget: a receiver that
is down or hangs costs the run at most the budget, and its events wait for the next pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cronkit.config.settings import Settings
from cronkit.notify import outbox
from cronkit.notify.deliver import Pass, flush
from cronkit.notify.events import RUN_COLUMNS, run_event
from cronkit.notify.rules import RunFacts, duration_note, events_for
from cronkit.runlog.writer import RunStore

START_BUDGET = 5.0  # seconds the start pings may hold up the task
AFTER_BUDGET = 15.0  # seconds the deliveries after a run may take


def _row(store: RunStore, run_id: int) -> tuple[Any, ...] | None:
    rows = store.sql(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = :id", {"id": run_id})
    return tuple(rows[0]) if rows else None


def queue_run(store: RunStore, settings: Settings, task: str, run_id: int, redact: Callable[[str], str],
              *, start: bool = False) -> int:
    """Queue the events of a run (its start, or its end by the rules); return how many."""
    notifiers = settings.notifiers_for(task)
    row = _row(store, run_id) if notifiers else None
    if row is None:
        return 0
    limits = settings.task_notify.get(task)
    # A run that made no attempt (skipped, or failed closed before its task started) has no
    # duration to judge: too_long and too_fast are about the task's own run time.
    ran = row[6] is not None and bool(row[9])
    facts = RunFacts(store, task, run_id, str(row[2]), int(row[6]) if ran else None)
    queued = 0
    for notifier in notifiers:
        events = (["start"] if "start" in notifier.on else []) if start else events_for(notifier, facts, limits)
        for name in events:
            event = run_event(name, row, settings.public_url, redact, duration_note(name, limits, row[6]))
            outbox.enqueue(store, notifier.name, event)
            queued += 1
    return queued


def before_run(store: RunStore, settings: Settings, task: str, run_id: int, redact: Callable[[str], str],
               environ: Mapping[str, str], budget: float = START_BUDGET) -> Pass | None:
    """Send the start events of a run (healthchecks' /start), within `budget` seconds."""
    try:
        if queue_run(store, settings, task, run_id, redact, start=True):
            return flush(store, settings, environ, budget)
    except Exception:  # never worse than silence: a notification problem must not stop the run
        return None
    return None


def after_run(store: RunStore, settings: Settings, task: str, run_ids: Iterable[int], redact: Callable[[str], str],
              environ: Mapping[str, str], budget: float = AFTER_BUDGET) -> Pass | None:
    """Queue the events of finished runs (this one, and runs just found lost), then flush the outbox."""
    try:
        for run_id in run_ids:
            queue_run(store, settings, task, run_id, redact)
        return flush(store, settings, environ, budget)
    except Exception:  # the run is recorded; nothing here may change its status or exit code
        return None


__all__ = ["AFTER_BUDGET", "START_BUDGET", "after_run", "before_run", "queue_run"]
