"""The one place that reads the clock; tests replace `now` through CRONKIT_NOW."""

from __future__ import annotations

import os
from datetime import UTC, datetime


def now() -> datetime:
    """Return the current instant, timezone-aware in UTC.

    `CRONKIT_NOW` (an ISO 8601 instant) pins the clock for tests and for "what if" checks.
    """
    pinned = os.environ.get("CRONKIT_NOW")
    if pinned:
        value = datetime.fromisoformat(pinned)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return datetime.now(UTC)
