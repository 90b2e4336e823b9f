"""The events cronkit notifies about, as the plain dict every channel renders (SPEC section 11).

An event is built from the run log's row of a run (or a missed slot), redacted once, and stored
as JSON in the outbox; each channel renders the same dict. BODY_KEYS are the webhook's keys;
`rid` (a UUID that pairs a run's start and end pings), `output` (the redacted output tail) and
`traceback_tail` (the traceback's last line) ride along for the channels that use them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from cronkit.host import hostname
from cronkit.runlog.times import instant_iso, iso, now_ms
from cronkit.safe.encrypt import reveal

BODY_KEYS = ("event", "task", "run_id", "status", "trigger", "host", "scheduled_for", "started_at",
             "duration_ms", "exit_code", "error", "attempts", "url")
FAILED = ("failed", "timed_out", "lost")
OUTPUT_TAIL = 10 * 1024  # healthchecks accepts up to 10 KB of ping body
RUN_COLUMNS = ("id, task, status, trigger, scheduled_for, started_at, duration_ms, exit_code, error,"
               " attempts, host, output, finished_at, traceback")
_RID = uuid.UUID("6f1b2a52-7b0e-4bb4-9f6c-3c1b9c2f7a10")


def run_uuid(task: str, run_id: int, started_ms: int) -> str:
    """Return the run's stable UUID (`rid` of the pings): the same for its start and its end."""
    return str(uuid.uuid5(_RID, f"{hostname()}/{task}/{run_id}/{started_ms}"))


def _iso(ms: Any) -> str | None:
    return iso(int(ms)) if ms is not None else None


def run_page(public_url: str | None, run_id: int) -> str | None:
    """Return the dashboard page of a run, the one a person opens (the API's JSON wants a token)."""
    return f"{public_url.rstrip('/')}/runs/{run_id}" if public_url else None


def task_page(public_url: str | None, task: str) -> str | None:
    """Return the dashboard page of a task."""
    return f"{public_url.rstrip('/')}/tasks/{quote(task)}" if public_url else None


def run_event(event: str, row: Sequence[Any], public_url: str | None, redact: Callable[[str], str],
              note: str | None = None) -> dict[str, Any]:
    """Build an event from a `runs` row selected with RUN_COLUMNS; redact every text."""
    (run_id, task, status, trigger, slot, started, duration, exit_code, error, attempts, host,
     output, _finished, traceback) = row
    # Sealed at rest (encrypt_payloads): the notification carries what a person reads, as `show` does.
    error, output, traceback = reveal(error, "error"), reveal(output, "output"), reveal(traceback, "traceback")
    first = (error or "").strip().splitlines()[0] if error else None
    if note:
        first = f"{note}; {first}" if first and event in ("too_long", "too_fast") else note
    tail = (output or "").encode()[-OUTPUT_TAIL:].decode(errors="ignore")
    return {
        "event": event, "task": task, "run_id": int(run_id), "status": status, "trigger": trigger,
        "host": host, "scheduled_for": _iso(slot), "started_at": _iso(started),
        "duration_ms": int(duration) if duration is not None else None,
        "exit_code": int(exit_code) if exit_code is not None else None,
        "error": redact(first) if first else None, "attempts": int(attempts or 0),
        "url": run_page(public_url, int(run_id)),
        "rid": run_uuid(task, int(run_id), int(started)), "output": redact(tail),
        "traceback_tail": redact(_last_line(traceback)) if traceback else None,
    }


def _last_line(text: str) -> str:
    """Return the last line of a traceback that says something (the exception and its message)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def missed_event(task: str, slot: datetime, public_url: str | None) -> dict[str, Any]:
    """Build the `missed` event of a slot no run served."""
    return {
        "event": "missed", "task": task, "run_id": None, "status": "missed", "trigger": "cron",
        "host": hostname(), "scheduled_for": instant_iso(slot), "started_at": None, "duration_ms": None,
        "exit_code": None, "error": f"no run served the slot {instant_iso(slot)}", "attempts": 0,
        "url": task_page(public_url, task), "rid": None, "output": "",
    }


def insight_event(finding: Mapping[str, Any], public_url: str | None) -> dict[str, Any]:
    """Build the `insight` event of a new finding (SPEC 16; `finding` in the shape of `insights --json`)."""
    task = str(finding["task"])
    run_id = finding["evidence"].get("run_id")
    return {
        "event": "insight", "task": task, "run_id": run_id, "status": finding["severity"], "trigger": None,
        "host": hostname(), "scheduled_for": None, "started_at": finding["since"], "duration_ms": None,
        "exit_code": None, "error": finding["message"], "attempts": 0,
        "url": f"{public_url}/api/v1/insights?task={task}" if public_url else None, "rid": None, "output": "",
        "insight": dict(finding),
    }


def drift_event(block_id: str, summary: str, at: datetime, diff: str) -> dict[str, Any]:
    """Build the `drift` event of a block `cronkit check` re-installed (auto_sync); `task` names the block."""
    return {
        "event": "drift", "task": block_id[:64], "run_id": None, "status": "synced", "trigger": "check",
        "host": hostname(), "scheduled_for": None, "started_at": instant_iso(at), "duration_ms": None,
        "exit_code": None, "error": summary, "attempts": 0, "url": None, "rid": None, "output": diff[-OUTPUT_TAIL:],
    }


def sample_event(notifier: str, public_url: str | None, task: str | None = None) -> dict[str, Any]:
    """Build the sample event `cronkit notify test` sends (as `task`'s, for a check per task)."""
    now = now_ms()
    return {
        "event": "test", "task": task or "cronkit-notify-test", "run_id": 0, "status": "failed",
        "trigger": "manual", "host": hostname(), "scheduled_for": None, "started_at": _iso(now),
        "duration_ms": 1234, "exit_code": 1, "error": f"a test notification for {notifier}", "attempts": 1,
        "url": public_url, "rid": str(uuid.uuid4()), "output": "this is a test notification\n",
    }


def body(event: Mapping[str, Any]) -> dict[str, Any]:
    """Return the webhook body: BODY_KEYS of the event, in that order."""
    out = {key: event.get(key) for key in BODY_KEYS}
    if event.get("event") == "insight":  # the finding itself: kind, severity, since, evidence, message
        out["insight"] = event.get("insight")
    return out


def describe(event: Mapping[str, Any]) -> str:
    """Return the one-line summary used as a mail subject and a chat title."""
    task, host, code = event["task"], event["host"], event.get("exit_code")
    exit_part = f" (exit {code})" if code is not None else ""
    seconds = f"{(event.get('duration_ms') or 0) / 1000:.1f}s"
    what = {
        "start": "started",
        "success": f"succeeded in {seconds}",
        "failure": _failed_word(event.get("status")),
        "recovery": "recovered",
        "missed": f"missed its slot {event.get('scheduled_for')}",
        "too_long": f"ran too long ({seconds})",
        "too_fast": f"finished too fast ({seconds})",
        "test": "test notification",
        "insight": f"insight {(event.get('insight') or {}).get('kind')} ({event.get('status')})",
        "drift": "re-installed by auto_sync",
    }.get(str(event["event"]), str(event["event"]))
    tail = exit_part if event["event"] in ("failure", "test") else ""
    return f"[cronkit] {task} {what} on {host}{tail}"


def _failed_word(status: Any) -> str:
    return {"timed_out": "timed out", "lost": "was lost", "failed": "failed"}.get(str(status), "failed")


__all__ = ["BODY_KEYS", "FAILED", "RUN_COLUMNS", "body", "describe", "insight_event", "missed_event", "run_event",
           "run_uuid", "sample_event"]
