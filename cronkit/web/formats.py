"""How the dashboard writes times, durations and sizes: the templates' filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def fmt_when(value: Any) -> str:
    at = _instant(value)
    return "—" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_rel(value: Any, now: datetime) -> str:
    """Return "in 12 min", "3 h ago", "just now"."""
    at = _instant(value)
    if at is None:
        return ""
    seconds = (at - now).total_seconds()
    size = abs(seconds)
    if size < 45:
        return "just now" if seconds <= 0 else "in under a minute"
    for unit, width in (("d", 86400), ("h", 3600), ("min", 60)):
        if size >= width or unit == "min":
            n = round(size / width)
            text = f"{n} {unit}"
            break
    return f"in {text}" if seconds > 0 else f"{text} ago"


def fmt_dur(ms: Any) -> str:
    if ms is None:
        return "—"
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60000:.1f} min"


def fmt_kib(kb: Any) -> str:
    if kb is None:
        return "—"
    kb = float(kb)
    return f"{kb / 1024:.1f} MiB" if kb < 1024 * 1024 else f"{kb / 1024 / 1024:.2f} GiB"


__all__ = ["fmt_dur", "fmt_kib", "fmt_rel", "fmt_when"]
