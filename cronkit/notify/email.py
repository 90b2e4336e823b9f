"""Plain-text mail over SMTP (STARTTLS or TLS optional; the password comes from the environment)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from cronkit.config.notify import Notifier
from cronkit.notify.events import describe
from cronkit.notify.http import DeliveryError

OUTPUT_LINES = 40


def text_body(event: Mapping[str, Any]) -> str:
    """Return the mail's plain-text body: the facts, one per line, then the output tail."""
    lines = [describe(event), ""]
    for key in ("task", "event", "status", "host", "trigger", "run_id", "scheduled_for", "started_at",
                "duration_ms", "exit_code", "attempts", "error", "url"):
        value = event.get(key)
        if value is not None:
            lines.append(f"{key + ':':15}{value}")
    output = str(event.get("output") or "").rstrip()
    if output:
        lines += ["", f"last {OUTPUT_LINES} lines of output (redacted):", *output.splitlines()[-OUTPUT_LINES:]]
    return "\n".join(lines) + "\n"


def message(notifier: Notifier, event: Mapping[str, Any]) -> Any:
    """Return the EmailMessage of an event."""
    msg = EmailMessage()
    msg["Subject"] = describe(event)
    msg["From"] = notifier.sender
    msg["To"] = ", ".join(notifier.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="cronkit.invalid")
    msg["X-Cronkit-Event"] = str(event["event"])
    msg.set_content(text_body(event))
    return msg


def send(notifier: Notifier, event: Mapping[str, Any], environ: Mapping[str, str], timeout: float) -> None:
    """Send the event's mail; DeliveryError on any SMTP or network failure."""
    password = environ.get(notifier.password_env, "") if notifier.password_env else ""
    if notifier.password_env and not password:
        raise DeliveryError(f"{notifier.password_env} is not set: cannot log in to {notifier.smtp_host}")
    cls = smtplib.SMTP_SSL if notifier.ssl else smtplib.SMTP
    try:
        with cls(notifier.smtp_host, notifier.smtp_port, timeout=timeout) as smtp:
            if notifier.starttls and not notifier.ssl:
                smtp.starttls(context=ssl.create_default_context())
            if notifier.user:
                smtp.login(notifier.user, password)
            smtp.send_message(message(notifier, event))
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {notifier.smtp_host}:{notifier.smtp_port}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
