"""Time in the run log: integer milliseconds since the Unix epoch (UTC), and the `--since` syntax."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cronkit import clock
from cronkit.config.values import parse_duration
from cronkit.errors import RegistryError, UsageError
from cronkit.plain import TYPE_CHECKING
from cronkit.safe.encrypt import HIDDEN, reveal

if TYPE_CHECKING:
    from typing import Any

SEALED = ("params", "result", "error", "traceback", "output")  # the columns encrypt_payloads seals


def to_ms(value: datetime) -> int:
    """Return an aware datetime as epoch milliseconds."""
    return int(value.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Return epoch milliseconds as an aware datetime in UTC."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def now_ms() -> int:
    """Return cronkit's clock (CRONKIT_NOW in tests) as epoch milliseconds."""
    return to_ms(clock.now())


def iso(ms: int | None) -> str | None:
    """Format epoch milliseconds as ISO 8601 in UTC with its offset."""
    if ms is None:
        return None
    return from_ms(ms).isoformat(timespec="seconds")


def instant_iso(value: datetime | int | None) -> str | None:
    """Format an instant (aware datetime or epoch milliseconds) as ISO 8601 in UTC, to the second."""
    if value is None:
        return None
    if isinstance(value, int):
        return iso(value)
    return value.astimezone(UTC).isoformat(timespec="seconds")


MIN_YEAR, MAX_YEAR = 1970, 9000  # instants a person asks about; room on both sides for windows and zones


def bounded_utc(parsed: datetime, option: str, value: str) -> datetime:
    """Return `parsed` in UTC (naive means UTC); UsageError when it is outside MIN_YEAR to MAX_YEAR.

    Near datetime's ends (year 1, year 9999) a zone offset or a window's days overflow: a traceback.
    """
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise UsageError(f"{option}: {value!r} is out of range (years {MIN_YEAR} to {MAX_YEAR})")
    return parsed.astimezone(UTC)


def parse_since(value: str, now: datetime) -> datetime:
    """Parse `--since`: an ISO date or instant (UTC when no offset) or a duration ago such as 2h, 7d."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        pass
    else:
        return bounded_utc(parsed, "--since", value)
    try:
        return now - timedelta(seconds=parse_duration(value, "--since"))
    except RegistryError:
        raise UsageError(f"--since: {value!r} is neither a date, an instant nor a duration such as 2h or 7d") from None


__all__ = ["bounded_utc", "from_ms", "instant_iso", "iso", "now_ms", "parse_since", "run_dict", "to_ms"]


def run_dict(row: Any) -> dict[str, Any]:
    """Turn a runs row into the stable JSON shape of `history --json` and `show --json`."""
    record: dict[str, Any] = {}
    for key, value in dict(row).items():
        if key in SEALED:  # encrypt_payloads: opened with the key, `(encrypted)` without it
            value = reveal(value, key)
        if key in ("scheduled_for", "started_at", "finished_at", "heartbeat_at"):
            record[key] = iso(value)
        elif key in ("result", "params"):
            record[key] = json.loads(value) if value and value != HIDDEN else (value or None)
        elif key == "dry_run":
            record[key] = bool(value)
        else:
            record[key] = value
    return record
