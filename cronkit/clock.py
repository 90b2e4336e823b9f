"""The one place that reads the clock; the `now` setting (CRONKIT_NOW) pins it for tests and "what if"."""

from __future__ import annotations

from datetime import UTC, datetime

_pinned: datetime | None = None


def pin(instant: datetime | None) -> None:
    """Make `now()` answer `instant` (an aware datetime) from here on; None restores the real clock."""
    global _pinned
    _pinned = None if instant is None else instant.astimezone(UTC)


def now() -> datetime:
    """Return the current instant, timezone-aware in UTC (the pinned one, when the settings pin it)."""
    return _pinned if _pinned is not None else datetime.now(UTC)
