"""`cronkit check`: the duties cron runs every few minutes, in order, each reported on its own.

Each duty is a section below, with the feature that owns it; `needs_check` says whether the
crontab block should schedule `*/5 * * * * cronkit check` at all (each feature ORs its need in).
A duty that fails is reported and the next duty still runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .config import Settings
from .registry import Registry
from .runlog.writer import RunStore

CHECK_BUDGET = 60.0  # seconds the outbox delivery of one check may take


@dataclass
class CheckReport:
    """What each duty of one check did, by duty name, and the errors of the duties that failed."""

    duties: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape of `cronkit check --json`."""
        return {"ok": self.ok, "duties": self.duties, "errors": self.errors}


def needs_check(settings: Settings, registry: Registry) -> bool:
    """Return True when a duty below needs `cronkit check` scheduled (issue 15: any notifier)."""
    return bool(settings.notifiers)


def run_check(settings: Settings, registry: Registry, now: datetime,
              environ: Mapping[str, str] | None = None) -> CheckReport:
    """Run every duty in order against the run log; never stop at a duty that failed."""
    import os

    environ = os.environ if environ is None else environ
    report = CheckReport()
    store = RunStore.open(settings.db_url)
    try:
        duties: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("lost", lambda: _lost_runs(store, settings, environ)),
            ("missed", lambda: _missed_events(store, settings, registry, now)),
            ("metrics", lambda: _metrics_files(store, settings, registry, now)),
            ("outbox", lambda: _deliver_outbox(store, settings, environ)),
        ]
        for name, duty in duties:
            try:
                report.duties[name] = duty()
            except Exception as exc:  # one duty's failure must not skip the others
                report.errors[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        store.close()
    return report


# --- notifications (issue 15): runs found lost raise `failure` --------------------------------

def _lost_runs(store: RunStore, settings: Settings, environ: Mapping[str, str]) -> dict[str, Any]:
    lost = store.mark_lost()
    if lost and settings.notifiers:
        from .notify.hook import queue_run
        from .redact import redactor_for

        redact = redactor_for(settings, environ)
        for run_id in lost:
            rows = store.sql("SELECT task FROM runs WHERE id = :id", {"id": run_id})
            if rows:
                queue_run(store, settings, str(rows[0][0]), run_id, redact)
    return {"lost": len(lost)}


# --- notifications (issue 15): `missed` events, once per missed slot ------------------------------

def _missed_events(store: RunStore, settings: Settings, registry: Registry, now: datetime) -> dict[str, Any]:
    """Queue one `missed` event per task and notifier for the slots missed since the last one it sent."""
    if not settings.notifiers:
        return {"queued": 0}
    from .notify import outbox
    from .notify.events import missed_event
    from .notify.missed import installed_at, missed_slots
    from .runlog.times import to_ms

    since = installed_at(settings)
    queued = 0
    for task in registry:
        if not (task.runs_in(settings.environment) and settings.for_task(task.name).get("enabled", True)):
            continue  # not scheduled here: nothing to miss
        notifiers = [n for n in settings.notifiers_for(task.name) if "missed" in n.on]
        slots = missed_slots(store, settings, task, now, since) if notifiers else []
        for notifier in notifiers:
            seen = outbox.last_missed_slot(store, notifier.name, task.name)
            new = [slot for slot in slots if seen is None or to_ms(slot) > seen]
            if not new:
                continue
            event = missed_event(task.name, new[-1], settings.public_url)
            if len(new) > 1:
                event["error"] = f"{len(new)} slots missed, the latest {event['scheduled_for']}"
            if outbox.enqueue(store, notifier.name, event, dedup=f"missed:{to_ms(new[-1])}") is not None:
                queued += 1
    return {"queued": queued}


# --- metrics files (issue 15): every task's .prom, so missed slots show without a run -----------

def _metrics_files(store: RunStore, settings: Settings, registry: Registry, now: datetime) -> dict[str, Any]:
    from .notify.promfile import write

    written = [write(store, settings, task, now).name for task in registry]
    return {"written": len(written)}


# --- notifications (issue 15): deliver the outbox, oldest first ---------------------------------

def _deliver_outbox(store: RunStore, settings: Settings, environ: Mapping[str, str]) -> dict[str, Any]:
    if not settings.notifiers:
        return {"delivered": 0, "failed": 0, "left": 0, "errors": []}
    from .notify.deliver import flush

    return flush(store, settings.notifiers, environ, CHECK_BUDGET).as_dict()


__all__ = ["CheckReport", "needs_check", "run_check"]
