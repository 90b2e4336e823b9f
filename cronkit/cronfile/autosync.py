"""auto_sync (issue 28): the block's periodic `cronkit check` keeps the installed block in step with the registry.

The check re-renders the registry with the inputs the last `cronkit install` recorded (block id,
target, cron.d path and user, host zone, executable, run settings file) and compares the lines
with the block in the crontab. When they differ it installs exactly as `cronkit install` does
(`install.install`: the same locks, backup, verification and restore), writes an audit row and
queues the `drift` notification; with `auto_sync` off it only reports the drift.

What it can change: the schedule of a task and the set of tasks (the registry's lines). What it
cannot: the home, the user, the target, the block id, the host zone, the run settings file (those
are the recorded inputs; change them with `cronkit install`). A block that is not in the crontab
(uninstalled) is never put back, and a registry that does not import never gets here: `check`
fails to start and the block stays as it is.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from cronkit.config.settings import Settings
from cronkit.cronfile.block import inner_lines
from cronkit.cronfile.install import install
from cronkit.cronfile.render import render
from cronkit.cronfile.state import default_inputs, installed_lines, read_install_state
from cronkit.notify import outbox
from cronkit.notify.events import drift_event
from cronkit.plain import replace
from cronkit.registry import Registry
from cronkit.runlog.auditrow import write_audit
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore

CRONTAB_TARGETS = ("user", "cron.d")


def sync_block(settings: Settings, registry: Registry, store: RunStore, now: datetime) -> dict[str, Any]:
    """Compare the installed block with the registry's lines; reinstall it when they differ and auto_sync is on.

    Returns what `check --json` shows under `duties.sync`: `state` is one of `not installed`,
    `no block` (uninstalled: left alone), `in sync`, `drift` (auto_sync off: reported only) and
    `synced`, with the changed tasks.
    """
    state = read_install_state(settings)
    if not state or state.get("target") not in CRONTAB_TARGETS:
        return {"state": "not installed", "auto_sync": settings.auto_sync}
    target = str(state["target"])
    if target == "cron.d" and state.get("path"):
        # The file the install wrote, wherever the cron.d directory was then (CRONKIT_CRON_D is
        # not a setting the cron runs read): never a second file in another directory.
        settings = replace(settings, cron_d=Path(str(state["path"])).parent)
    inputs = default_inputs(settings, registry, target, state)
    installed = installed_lines(settings, registry, target, state)
    if installed is None:
        return {"state": "no block", "auto_sync": settings.auto_sync}
    if installed == inner_lines(render(registry, settings, inputs).text):
        return {"state": "in sync", "auto_sync": settings.auto_sync}
    if not settings.auto_sync:
        return {"state": "drift", "auto_sync": False}
    outcome = install(settings, registry, inputs, user=state.get("user") if target == "user" else None,
                      write_run_config=False, run_config_owned=bool(state.get("run_config_written")))
    changed = [c for c in outcome.changes if c.kind != "unchanged"]
    changes = [{"task": c.task, "kind": c.kind} for c in changed]
    # The event carries cronkit's own lines only, never the diff's context: other lines of a
    # crontab may hold anything (a password in an environment line).
    lines = "\n".join([*(f"- {line}" for c in changed for line in c.old), *(f"+ {line}" for c in changed for line in c.new)])
    where = outcome.location.describe()
    summary = (f"block {inputs.block_id} in {where} re-installed by auto_sync: "
               + (", ".join(f"{c['kind']} {c['task']}" for c in changes) or "lines rewritten"))
    backup = str(outcome.backup) if outcome.backup else None
    store.transact(lambda execute: write_audit(
        execute, at=to_ms(now), action="auto_sync", result="installed" if outcome.wrote else "unchanged",
        detail=summary, params={"block_id": inputs.block_id, "location": where, "changes": changes,
                                "backup": backup}), 60_000)
    queued = _notify(store, settings, inputs.block_id, summary, lines, now)
    return {"state": "synced", "auto_sync": True, "wrote": outcome.wrote, "changes": changes, "backup": backup,
            "notified": queued, "summary": summary}


def _notify(store: RunStore, settings: Settings, block_id: str, summary: str, lines: str, now: datetime) -> int:
    """Queue the `drift` event for every notifier whose `on` lists it; return how many were queued."""
    wanting = [n for n in settings.notifiers.values() if "drift" in n.on]
    if not wanting:
        return 0
    event = drift_event(block_id, summary, now, lines)
    key = hashlib.sha256(f"{block_id}\n{to_ms(now)}\n{lines}".encode()).hexdigest()[:32]
    return sum(outbox.enqueue(store, n.name, event, dedup=f"drift:{key}") is not None for n in wanting)


__all__ = ["sync_block"]
