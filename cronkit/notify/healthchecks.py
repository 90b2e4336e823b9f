"""Healthchecks pings as a healthchecks server reads them (SPEC section 19).

The notifier's `url` is a check's ping URL (`.../ping/<uuid>`), or a slug URL with `{task}`
(`.../ping/<ping-key>/{task}`, one check per task, `?create=1` to provision it). The path suffix
(`/start`, `/<exit code>`, `/fail`, `/log`) goes before the query string, `rid` pairs a run's
start and end. A failure's body ends with the error (or the timeout) and the traceback's last
line, after the output's tail, cut from the front to the server's `Ping-Body-Limit`: healthchecks
keeps the first bytes of a longer body, which would drop the lines nearest the failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from cronkit.config.notify import Notifier
from cronkit.notify.http import DeliveryError, FinalDeliveryError, post_response

DEFAULT_BODY_LIMIT = 10_000  # healthchecks' PING_BODY_LIMIT unless its server says otherwise
TIMED_OUT_CODE = 124  # timeout(1)'s exit status: the check shows "exit status 124", not a bare failure
_learned_limits: dict[str, int] = {}  # Ping-Body-Limit per server, as its answers said (this process)


class CheckNotFound(FinalDeliveryError):
    """The server has no such check (HTTP 404): a wrong key or slug; retrying cannot help."""


def check_url(base: str, task: str) -> str:
    """Return the check's ping URL for `task`: `{task}` replaced (a slug), the query kept."""
    return base.replace("{task}", quote(task, safe=""))


def suffix_of(event: Mapping[str, Any]) -> str:
    """Return the ping's path suffix: /start, /0, /<exit code>, /124 (timed out), /fail, /log (a test)."""
    kind, code, status = event["event"], event.get("exit_code"), event.get("status")
    if kind == "start":
        return "/start"
    if kind == "test":
        return "/log"
    if kind == "success":
        return "/0"
    if status == "timed_out":
        return f"/{TIMED_OUT_CODE}"
    if status in ("lost", "interrupted") or code is None or int(code) == 0:
        return "/fail"
    return f"/{int(code)}"


def ping_url(base: str, event: Mapping[str, Any]) -> str:
    """Return the ping URL of an event: the suffix appended to the path, `rid` added to the query."""
    parts = urlsplit(check_url(base, str(event["task"])))
    query = parse_qsl(parts.query, keep_blank_values=True)
    if event.get("rid"):
        query.append(("rid", str(event["rid"])))
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix_of(event), query=urlencode(query)))


def body_of(event: Mapping[str, Any], limit: int) -> bytes:
    """Return the ping body: the output's tail, then (for a failure) the error and the traceback's
    last line; cut from the front to `limit` bytes, so the end of it is what the server keeps."""
    text = str(event.get("output") or "")
    if event["event"] == "failure":
        said = [str(event.get("error") or event.get("status") or "failed")]
        last = str(event.get("traceback_tail") or "").strip()
        if last and last not in said[0]:
            said.append(last)
        text = (text if not text or text.endswith("\n") else text + "\n") + "\n".join(said) + "\n"
    data = text.encode()
    return data[-limit:] if len(data) > limit else data


def _server(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def send(notifier: Notifier, event: Mapping[str, Any], environ: Mapping[str, str], timeout: float) -> None:
    """Send one ping; CheckNotFound when the server has no such check."""
    assert notifier.url is not None
    url = ping_url(notifier.url, event)
    limit = _learned_limits.get(_server(url), DEFAULT_BODY_LIMIT)
    try:
        _, headers, _ = post_response(url, body_of(event, limit), {"Content-Type": "text/plain; charset=utf-8"}, timeout)
    except DeliveryError as exc:
        if str(exc).startswith("HTTP 404 "):
            raise CheckNotFound(f"{exc}: no such check (a wrong ping key, UUID or slug); not retried") from None
        raise
    learned = headers.get("Ping-Body-Limit", "")
    if learned.isdigit() and int(learned) > 0:
        _learned_limits[_server(url)] = int(learned)
