"""Chat and push channels through apprise URLs (Slack, Teams, Telegram, ...): the `apprise` extra."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cronkit.config.notify import Notifier
from cronkit.notify.email import text_body
from cronkit.notify.events import describe
from cronkit.notify.http import DeliveryError


def send(notifier: Notifier, event: Mapping[str, Any], environ: Mapping[str, str], timeout: float) -> None:
    """Notify every URL of the notifier; DeliveryError when apprise is missing or a URL failed."""
    try:
        # lazy: apprise is optional (cronkit[apprise]) and slow to import
        import apprise  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise DeliveryError("apprise is not installed: pip install 'cronkit[apprise]'") from None
    sender = apprise.Apprise()
    for url in notifier.urls:
        sender.add(url)
    if not sender.notify(title=describe(event), body=text_body(event)):
        raise DeliveryError(f"apprise could not notify {len(notifier.urls)} URL(s)")
