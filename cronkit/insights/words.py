"""Durations and sizes as a person reads them in a finding's message: 850ms, 45s, 7m12s, 1h02m, 301M."""

from __future__ import annotations


def span(ms: float) -> str:
    """Return a duration in milliseconds as `850ms`, `4.2s`, `7m12s` or `1h02m`."""
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def amount(kb: float) -> str:
    """Return a size in KiB as `900K`, `301M` or `1.5G` (powers of 1024)."""
    kb = float(kb)
    if kb < 1024:
        return f"{kb:.0f}K"
    if kb < 1024 * 1024:
        return f"{kb / 1024:.0f}M"
    return f"{kb / 1024 / 1024:.1f}G"


__all__ = ["amount", "span"]
