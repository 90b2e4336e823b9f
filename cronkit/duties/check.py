"""`cronkit check`: the duties the block's `*/5 * * * *` and `@reboot` lines run, in order.

Each duty is a section below, with the feature that owns it; `needs_check` (beside the renderer, cronkit.cronfile.render) says whether the
crontab block should schedule `cronkit check` at all (each feature ORs its need in). A duty
that fails is reported and the next duty still runs. Catch-up runs before the missed-slot
notifications, so a slot it caught up is not reported missed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cronkit import runlog
from cronkit.config.settings import Settings
from cronkit.cronfile.autosync import sync_block
from cronkit.duties.catchup import plan, read_paused, read_served, scheduled_from
from cronkit.duties.missed import installed_at, missed_slots
from cronkit.errors import CronkitError
from cronkit.insights.alerts import queue_insights
from cronkit.locks import Holder, LocalLock, LockHeld, lease_key, lock_dir
from cronkit.notify import outbox
from cronkit.notify.deliver import flush
from cronkit.notify.events import missed_event
from cronkit.notify.hook import queue_run
from cronkit.notify.promfile import write
from cronkit.registry import Registry
from cronkit.runlog.engines import create_engine_for, sqlite_path
from cronkit.runlog.status import Trigger
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore
from cronkit.runner import RunRequest, run_task
from cronkit.safe.redact import redactor_for

CHECK_BUDGET = 60.0  # seconds the outbox delivery of one check may take


@dataclass
class CheckReport:
    """What each duty of one check did, by duty name, and the errors of the duties that failed."""

    boot: bool = False
    duties: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    catchup: list[dict[str, Any]] = field(default_factory=list)  # one entry per catch-up run (issue 16)
    catchup_note: str | None = None

    @property
    def failed(self) -> list[str]:
        """Return a line for each catch-up run that went wrong, for stderr."""
        return [f"catch-up {c['task']} {c['slot']}: {c['summary']}" for c in self.catchup
                if c.get("status") not in ("succeeded", "skipped", "deferred")]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape of `cronkit check --json`."""
        return {"ok": self.ok, "boot": self.boot, "duties": self.duties, "errors": self.errors,
                "catchup": {"runs": self.catchup, "note": self.catchup_note}}


def run_check(settings: Settings, registry: Registry, now: datetime, *, boot: bool = False,
              environ: Mapping[str, str] | None = None) -> CheckReport:
    """Run every duty in order against the run log; never stop at a duty that failed."""
    environ = os.environ if environ is None else environ
    report = CheckReport(boot=boot)
    store = runlog.open(settings.db_url, create=True)
    try:
        duties: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("sync", lambda: _sync(store, settings, registry, now)),
            ("lost", lambda: _lost_runs(store, settings, environ)),
            ("catchup", lambda: catch_up(settings, registry, now, report)),
            ("missed", lambda: _missed_events(store, settings, registry, now)),
            ("metrics", lambda: _metrics_files(store, settings, registry, now)),
            ("insights", lambda: _insight_events(store, settings, registry, now)),
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


# --- auto_sync (issue 28): the block follows the registry ---------------------------------------

def _sync(store: RunStore, settings: Settings, registry: Registry, now: datetime) -> dict[str, Any]:
    """Reinstall the block when the registry renders other lines and auto_sync is on; else report drift.

    With auto_sync off this duty only looks: a crontab it cannot read is said, not a failed check.
    """
    if settings.auto_sync:
        return sync_block(settings, registry, store, now)
    try:
        return sync_block(settings, registry, store, now)
    except CronkitError as exc:
        return {"state": "unknown", "auto_sync": False, "error": str(exc).splitlines()[0]}


# --- catch-up (issue 16) ------------------------------------------------------------------------

CATCHUP_LOCK = ".catchup"  # <home>/locks/.catchup.lock: one catch-up at a time on a host


def catch_up(settings: Settings, registry: Registry, now: datetime, report: CheckReport) -> dict[str, Any]:
    """Run the missed slots catchup.plan chooses, oldest first, one at a time on this host.

    A task whose lock is held (its run goes on, here or on another host) is left for the next
    check rather than recorded as skipped, which would count its slot as served.
    """
    tasks = [t for t in registry.enabled_in(settings.environment, settings.task_config) if t.catchup != "skip"]
    if not tasks:
        return {"runs": 0}
    guard = LocalLock(lock_dir(settings), CATCHUP_LOCK)
    try:
        guard.acquire(Holder.me(None))
    except LockHeld:
        report.catchup_note = "another cronkit check is catching up on this host"
        return {"runs": 0}
    try:
        log = runlog.open(settings.db_url, settle=settings)
        try:
            began = scheduled_from(settings, log, [t.name for t in tasks])
            tasks = [t for t in tasks if t.name in began]  # never installed nor run by cron: not ours to run
            oldest = min((now - timedelta(seconds=t.catchup_window) for t in tasks), default=now)
            served = read_served(log, [t.name for t in tasks], oldest - timedelta(minutes=1), now)
            paused = read_paused(log, [t.name for t in tasks], oldest - timedelta(minutes=1), now)
        finally:
            log.close()
        zones = {t.name: t.zone(settings.timezone) for t in tasks}
        for item in plan(tasks, zones, served, now, began, paused):
            busy = _busy(settings, registry[item.task])
            if busy is not None:
                report.catchup.append({"task": item.task, "slot": item.slot.isoformat(), "status": "deferred",
                                       "run_id": None, "summary": busy})
                continue
            report.catchup.append(_run_one(settings, registry, item.task, item.slot))
    finally:
        guard.release()
    return {"runs": len(report.catchup)}


def _run_one(settings: Settings, registry: Registry, task: str, slot: datetime) -> dict[str, Any]:
    outcome = run_task(settings, registry, RunRequest(task=task, trigger=Trigger.CATCHUP, slot=slot), os.environ)
    return {"task": task, "slot": slot.isoformat(), "status": outcome.status, "run_id": outcome.run_id,
            "summary": outcome.summary}


def _busy(settings: Settings, task: Any) -> str | None:
    """Return who holds the task's lock (local flock, Redis lease), None when it is free."""
    if not task.singleton:
        return None
    local = LocalLock(lock_dir(settings), task.name)
    try:
        local.acquire(Holder.me(None))
        local.release()
    except LockHeld as held:
        return f"left for the next check: {held}"
    except OSError:
        return None
    if settings.redis_url and task.lock_scope == "global":
        # lazy: redis-py, only where a Redis is configured and a task locks globally
        from cronkit.locks.redisconn import connect

        try:
            client = connect(settings.redis_url)
            holder = client.get(lease_key(task.name))
            client.close()
        except Exception:  # noqa: BLE001 - the run itself decides what an unreachable Redis means
            return None
        if holder is not None:
            return f"left for the next check: {task.name}: Redis lock held"
    elif task.lock_scope == "global" and sqlite_path(settings.db_url) is None:
        return _advisory_holder(settings, task.name)
    return None


def _advisory_holder(settings: Settings, task: str) -> str | None:
    """Return who holds the task's PostgreSQL advisory lock (a run on another host), None when it is free."""
    # lazy: SQLAlchemy, only for a global task's lock on a PostgreSQL run log (a SQLite one's check never loads it)
    from cronkit.locks.postgres import AdvisoryLock

    engine = create_engine_for(settings.db_url)
    try:
        if engine.dialect.name != "postgresql":
            return None
        probe = AdvisoryLock(engine, task, 0)
        try:
            probe.acquire()
        except LockHeld as held:
            return f"left for the next check: {held}"
        except Exception:  # noqa: BLE001 - the run itself decides what an unreachable run log means
            return None
        probe.release()
        return None
    finally:
        engine.dispose()


# --- notifications (issue 15): runs found lost raise `failure` --------------------------------

def _lost_runs(store: RunStore, settings: Settings, environ: Mapping[str, str]) -> dict[str, Any]:
    lost = store.mark_lost()
    if lost and settings.notifiers:
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
            if outbox.enqueue(store, notifier.name, event, dedup=f"missed:{task.name}:{to_ms(new[-1])}") is not None:
                queued += 1
    return {"queued": queued}


# --- metrics files (issue 15): every task's .prom, so missed slots show without a run -----------

def _metrics_files(store: RunStore, settings: Settings, registry: Registry, now: datetime) -> dict[str, Any]:
    written = [write(store, settings, task, now).name for task in registry]
    return {"written": len(written)}


# --- insights (issue 29): the `insight` event, once per new finding --------------------------------

def _insight_events(store: RunStore, settings: Settings, registry: Registry, now: datetime) -> dict[str, Any]:
    if not settings.notifiers:
        return {"findings": 0, "queued": 0}
    return queue_insights(store, settings, registry, now)


# --- notifications (issue 15): deliver the outbox, oldest first ---------------------------------

def _deliver_outbox(store: RunStore, settings: Settings, environ: Mapping[str, str]) -> dict[str, Any]:
    if not settings.notifiers:
        return {"delivered": 0, "failed": 0, "left": 0, "errors": []}
    return flush(store, settings, environ, CHECK_BUDGET).as_dict()


__all__ = ["CheckReport", "run_check"]
