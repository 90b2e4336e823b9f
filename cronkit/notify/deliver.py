"""Deliver queued notifications: oldest first, bounded in time, each row sent once.

A pass walks the pending rows in id order. A row is claimed, sent with the notifier's timeout and
at most TRIES_PER_PASS tries, then marked delivered, or left pending with its error. After a
failure the notifier's later rows wait for the next pass, so a receiver sees events in order. A
pass stops at its deadline; what is left waits for the next `cronkit run` or `cronkit check`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cronkit.config.notify import Notifier
from cronkit.notify import outbox
from cronkit.notify.healthchecks import check_url
from cronkit.notify.http import DeliveryError, FinalDeliveryError
from cronkit.runlog.writer import RunStore
from cronkit.safe.redact import Redactor

if TYPE_CHECKING:
    from cronkit.config.settings import Settings

TRIES_PER_PASS = 2
RETRY_PAUSE = 0.5
Sender = Callable[[Notifier, Mapping[str, Any], Mapping[str, str], float], None]


def sender_for(kind: str) -> Sender:
    """Return the send function of a kind, importing only that channel."""
    # lazy: each channel's own libraries (smtplib and ssl, apprise) load only when it sends
    if kind == "healthchecks":
        from cronkit.notify.healthchecks import send
    elif kind == "webhook":
        from cronkit.notify.webhook import send
    elif kind == "email":
        from cronkit.notify.email import send
    else:
        from cronkit.notify.apprise_urls import send
    return send


def send_once(notifier: Notifier, event: Mapping[str, Any], environ: Mapping[str, str], deadline: float) -> str | None:
    """Send one event with bounded tries before `deadline`; return the error, None when delivered."""
    return attempt(notifier, event, environ, deadline)[0]


def attempt(notifier: Notifier, event: Mapping[str, Any], environ: Mapping[str, str],
            deadline: float) -> tuple[str | None, bool]:
    """Send one event with bounded tries before `deadline`; return the error (None when delivered)
    and whether it is final: a receiver that has no such check is not asked again."""
    send = sender_for(notifier.kind)
    error = "no time left to send"
    for number in range(TRIES_PER_PASS):
        left = deadline - time.monotonic()
        if left <= 0.05:
            break
        try:
            send(notifier, event, environ, min(notifier.timeout, left))
            return None, False
        except FinalDeliveryError as exc:
            return scrub(notifier, str(exc)), True
        except DeliveryError as exc:
            error = str(exc)
        except Exception as exc:  # a channel's bug must not cost the run: keep the row, say why
            error = f"{type(exc).__name__}: {exc}"
        if number + 1 < TRIES_PER_PASS and deadline - time.monotonic() > RETRY_PAUSE + 0.1:
            time.sleep(RETRY_PAUSE)
    return scrub(notifier, error), False


def scrub(notifier: Notifier, text: str) -> str:
    """Mask the passwords of the notifier's URLs in `text` (an error goes to the outbox and the screen)."""
    urls = [url for url in (notifier.url, *notifier.urls) if url]
    return Redactor.from_sources({f"url{i}": url for i, url in enumerate(urls)})(text)


@dataclass
class Pass:
    """What one pass over the outbox did."""

    delivered: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    left: int = 0  # pending rows not tried: deadline, or behind a failed row of their notifier

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": len(self.delivered), "failed": len(self.failed), "left": self.left,
                "errors": sorted(set(self.failed.values()))}


def flush(store: RunStore, settings: Settings, environ: Mapping[str, str], budget: float) -> Pass:
    """Deliver pending rows oldest first within `budget` seconds; never raise for a delivery.

    The notifiers read their secrets from `environ` over the settings' `[secret_env]`.
    """
    notifiers, environ = settings.notifiers, settings.notify_environ(environ)
    deadline = time.monotonic() + budget
    result = Pass()
    blocked: set[str] = set()
    rows = outbox.pending(store)
    stale = superseded(rows, notifiers)
    for row in rows:
        notifier = notifiers.get(row.notifier)
        if notifier is None:
            outbox.drop(store, row.id, f"notifier {row.notifier!r} is no longer configured")
            continue
        if row.id in stale:
            outbox.supersede(store, row.id, stale[row.id])
            continue
        if row.notifier in blocked or time.monotonic() >= deadline:
            result.left += 1
            continue
        hold = int((notifier.timeout * TRIES_PER_PASS + RETRY_PAUSE + 5) * 1000)
        if not outbox.claim(store, row.id, hold):
            continue  # another process is sending it
        error, final = attempt(notifier, row.payload, environ, deadline)
        if error is None:
            outbox.delivered(store, row.id)
            result.delivered.append(row.id)
        elif final:
            outbox.give_up(store, row.id, error)
            result.failed[row.id] = error
        else:
            outbox.failed_try(store, row, error)
            result.failed[row.id] = error
            blocked.add(row.notifier)
    return result


def superseded(rows: list[outbox.Delivery], notifiers: Mapping[str, Notifier]) -> dict[int, str]:
    """Return the pending healthchecks pings not worth sending, with why: a check hears only the
    newest run's pings (an older run's failure after an outage would page for what has recovered),
    and no start ping after its run's end is queued (start and end would arrive together, and the
    check would show a run of a few milliseconds)."""
    pings = [(row, notifiers[row.notifier]) for row in rows
             if row.notifier in notifiers and notifiers[row.notifier].kind == "healthchecks" and row.run_id is not None]
    newest: dict[tuple[str, str], int] = {}
    ended: set[tuple[str, int]] = set()
    for row, notifier in pings:
        check = (row.notifier, check_url(notifier.url or "", row.task))
        newest[check] = max(newest.get(check, 0), row.run_id or 0)
        if row.event != "start":
            ended.add((row.notifier, row.run_id or 0))
    stale: dict[int, str] = {}
    for row, notifier in pings:
        check = (row.notifier, check_url(notifier.url or "", row.task))
        if (row.run_id or 0) < newest[check]:
            stale[row.id] = f"superseded by the pings of run {newest[check]}"
        elif row.event == "start" and (row.notifier, row.run_id or 0) in ended:
            stale[row.id] = "superseded: the run had ended before its start ping could be sent"
    return stale


__all__ = ["Pass", "attempt", "flush", "scrub", "send_once", "sender_for", "superseded"]
