"""The `insight` notification (SPEC 16): sent once per new finding of a task and kind, from `cronkit check`.

A finding stays open while checks keep seeing it; the run log's `meta` row INSIGHTS_OPEN keeps,
per task and kind, when it was first seen (its `since` then) and last seen. A finding not seen
for REOPEN_AFTER_MS is closed; when it comes back it is new, and notified again. A finding that
flickers (a trend at its threshold) within that time is the same finding: one notification.
The outbox's dedup key (`insight:<task>:<kind>:<since>`) makes two checks running at once queue it once.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cronkit.config.settings import Settings
from cronkit.insights.read import find_for
from cronkit.notify import outbox
from cronkit.notify.events import insight_event
from cronkit.registry import Registry
from cronkit.runlog.queries import SET_META, read_meta
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore

INSIGHTS_OPEN = "insights_open"
REOPEN_AFTER_MS = 24 * 3600 * 1000


def _open_findings(store: RunStore) -> dict[str, dict[str, int]]:
    try:
        kept = json.loads(read_meta(store.sql, INSIGHTS_OPEN) or "{}")
    except ValueError:
        return {}
    return kept if isinstance(kept, dict) else {}


def queue_insights(store: RunStore, settings: Settings, registry: Registry, now: datetime) -> dict[str, Any]:
    """Queue an `insight` event per new finding for the notifiers of its task that are `on` it."""
    listening = [t for t in registry if any("insight" in n.on for n in settings.notifiers_for(t.name))]
    if not listening:
        return {"findings": 0, "queued": 0}
    at = to_ms(now)
    findings = find_for(settings, store.sql, listening, now)
    kept = _open_findings(store)
    still = {key: mark for key, mark in kept.items()
             if isinstance(mark, dict) and at - int(mark.get("seen", 0)) <= REOPEN_AFTER_MS}
    queued = 0
    for finding in findings:
        key = f"{finding.task}/{finding.kind}"
        mark = still.get(key)
        since = int(mark["since"]) if mark is not None else finding.since_ms
        still[key] = {"since": since, "seen": at}
        if mark is not None:
            continue  # notified when it was new
        event = insight_event(finding.as_dict(), settings.public_url)
        for notifier in settings.notifiers_for(finding.task):
            if "insight" in notifier.on and outbox.enqueue(
                    store, notifier.name, event, dedup=f"insight:{finding.task}:{finding.kind}:{since}") is not None:
                queued += 1
    store.sql(SET_META, {"key": INSIGHTS_OPEN, "value": json.dumps(still, sort_keys=True)})
    return {"findings": len(findings), "queued": queued}


__all__ = ["INSIGHTS_OPEN", "REOPEN_AFTER_MS", "queue_insights"]
