"""Signed JSON webhooks: `X-Cronkit-Signature: t=<unix>,v1=<hex hmac-sha256 of "<t>." + body>`.

A receiver verifies a delivery with `verify()` (or the same steps in its own language): split the
header, refuse a `t` more than 5 minutes from its clock (replay window), compute the HMAC-SHA256
of `t + "." + raw body` with the shared secret and compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from cronkit.config.notify import Notifier
from cronkit.notify.events import body
from cronkit.notify.http import DeliveryError, post

HEADER = "X-Cronkit-Signature"
REPLAY_WINDOW = 300  # seconds


def sign(secret: str, timestamp: int, raw: bytes) -> str:
    """Return the signature header's value for a raw body sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, raw: bytes, now: float, window: float = REPLAY_WINDOW) -> bool:
    """Check a signature header as a receiver does: the HMAC matches and `t` is within the window."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > window:
        return False
    expected = sign(secret, timestamp, raw).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def encode(event: Mapping[str, Any]) -> bytes:
    """Return the raw JSON body of an event (the bytes that are signed)."""
    return json.dumps(body(event), separators=(",", ":")).encode()


def send(notifier: Notifier, event: Mapping[str, Any], environ: Mapping[str, str], timeout: float) -> None:
    """POST the event, signed when the notifier names a secret."""
    assert notifier.url is not None
    raw = encode(event)
    headers = {"Content-Type": "application/json", "X-Cronkit-Event": str(event["event"])}
    if notifier.secret_env is not None:
        secret = environ.get(notifier.secret_env, "")
        if not secret:
            raise DeliveryError(f"{notifier.secret_env} is not set: cannot sign the webhook")
        headers[HEADER] = sign(secret, int(time.time()), raw)
    post(notifier.url, raw, headers, timeout)
