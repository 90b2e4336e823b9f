"""`cronkit check`: the periodic duties the block's `*/5 * * * *` and `@reboot` lines run, in order.

Each duty has its own section below and its own part of the CheckReport; run_check runs them
one after the other. A duty never raises for what it finds: it reports it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .config import Settings
from .registry import Registry

CHECK_INTERVAL = "*/5 * * * *"  # the block's periodic `cronkit check` line


@dataclass
class CheckReport:
    """What one `cronkit check` did, duty by duty."""

    boot: bool = False
    # --- catch-up (issue 16) ---
    catchup: list[dict[str, Any]] = field(default_factory=list)
    catchup_note: str | None = None

    @property
    def failed(self) -> list[str]:
        """Return a line for each thing that went wrong, for stderr."""
        return [f"catch-up {c['task']} {c['slot']}: {c['summary']}" for c in self.catchup
                if c.get("status") not in ("succeeded", "skipped", "deferred")]

    def as_dict(self) -> dict[str, Any]:
        return {"boot": self.boot, "catchup": {"runs": self.catchup, "note": self.catchup_note}}


def run_check(settings: Settings, registry: Registry, now: datetime, *, boot: bool = False) -> CheckReport:
    """Run the check's duties in order and report what each did."""
    report = CheckReport(boot=boot)
    catch_up(settings, registry, now, report)
    return report


def needs_catchup(settings: Settings, registry: Registry) -> bool:
    """Return whether a task scheduled here has a catch-up policy (so the block needs `check` lines)."""
    return any(t.catchup != "skip" for t in registry.enabled_in(settings.environment, settings.task_config))


# --- catch-up (issue 16) ------------------------------------------------------------------------

CATCHUP_LOCK = ".catchup"  # <home>/locks/.catchup.lock: one catch-up at a time on a host


def catch_up(settings: Settings, registry: Registry, now: datetime, report: CheckReport) -> None:
    """Run the missed slots catchup.plan chooses, oldest first, one at a time on this host.

    A task whose lock is held (its run goes on, here or on another host) is left for the next
    check rather than recorded as skipped, which would count its slot as served.
    """
    from .catchup import plan, read_served
    from .locks import Holder, LocalLock, LockHeld
    from .runlog.reader import RunLog

    tasks = [t for t in registry.enabled_in(settings.environment, settings.task_config) if t.catchup != "skip"]
    if not tasks:
        return
    guard = LocalLock(settings.home / "locks", CATCHUP_LOCK)
    try:
        guard.acquire(Holder.me(None))
    except LockHeld:
        report.catchup_note = "another cronkit check is catching up on this host"
        return
    try:
        log = RunLog.open(settings)
        oldest = min(now - timedelta(seconds=t.catchup_window) for t in tasks)
        served = read_served(log.engine, [t.name for t in tasks], oldest - timedelta(minutes=1), now)
        log.engine.dispose()
        zones = {t.name: t.zone(settings.timezone) for t in tasks}
        for item in plan(tasks, zones, served, now, _installed_at(settings)):
            busy = _busy(settings, registry[item.task])
            if busy is not None:
                report.catchup.append({"task": item.task, "slot": item.slot.isoformat(), "status": "deferred",
                                       "run_id": None, "summary": busy})
                continue
            report.catchup.append(_run_one(settings, registry, item.task, item.slot))
    finally:
        guard.release()


def _run_one(settings: Settings, registry: Registry, task: str, slot: datetime) -> dict[str, Any]:
    from .runner import RunRequest, run_task
    from .status import Trigger

    outcome = run_task(settings, registry, RunRequest(task=task, trigger=Trigger.CATCHUP, slot=slot), os.environ)
    return {"task": task, "slot": slot.isoformat(), "status": outcome.status, "run_id": outcome.run_id,
            "summary": outcome.summary}


def _installed_at(settings: Settings) -> dict[str, datetime]:
    """Return when each task's line was installed under this home; empty when nothing was."""
    from .cronfile.drift import installed_times
    from .cronfile.state import read_install_state

    state = read_install_state(settings)
    return installed_times(state) if state else {}


def _busy(settings: Settings, task: Any) -> str | None:
    """Return who holds the task's lock (local flock, Redis lease), None when it is free."""
    if not task.singleton:
        return None
    from .locks import Holder, LocalLock, LockHeld, lease_key

    local = LocalLock(settings.home / "locks", task.name)
    try:
        local.acquire(Holder.me(None))
        local.release()
    except LockHeld as held:
        return f"left for the next check: {held}"
    except OSError:
        return None
    if settings.redis_url and task.lock_scope == "global":
        from .redisutil import connect

        try:
            client = connect(settings.redis_url)
            holder = client.get(lease_key(task.name))
            client.close()
        except Exception:  # noqa: BLE001 - the run itself decides what an unreachable Redis means
            return None
        if holder is not None:
            return f"left for the next check: {task.name}: Redis lock held"
    return None


__all__ = ["CHECK_INTERVAL", "CheckReport", "needs_catchup", "run_check"]
