"""Healthchecks-compatible pings: `/start`, `/<exit code>`, `/fail`, each with `?rid=<run uuid>`.

Works with healthchecks.io and self-hosted healthchecks: the notifier's `url` is the check's ping
URL. The body is the run's redacted output tail (at most 10 KB), which the check shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .http import post
from .settings import Notifier


def ping_url(base: str, event: Mapping[str, Any]) -> str:
    """Return the ping URL of an event: start, the exit code, or fail (timeouts, lost runs)."""
    kind, code = event["event"], event.get("exit_code")
    if kind == "start":
        suffix = "/start"
    elif kind == "success":
        suffix = "/0"
    elif event.get("status") in ("timed_out", "lost", "interrupted") or code is None:
        suffix = "/fail"
    else:
        suffix = f"/{int(code)}"
    rid = event.get("rid")
    return base + suffix + (f"?rid={quote(str(rid))}" if rid else "")


def send(notifier: Notifier, event: Mapping[str, Any], environ: Mapping[str, str], timeout: float) -> None:
    """Send one ping."""
    assert notifier.url is not None
    body = str(event.get("output") or "").encode()[-10 * 1024:]
    post(ping_url(notifier.url, event), body, {"Content-Type": "text/plain; charset=utf-8"}, timeout)
