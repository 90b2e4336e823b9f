"""The checks that turn one raw setting value (an option, an environment variable, a TOML value)
into a validated one, each raising ConfigError that names the setting."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Any

from .errors import ConfigError
from .redact import redact_url, url_password

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_HOSTNAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,253}")
DEFAULT_CRONTAB_COMMAND = ("crontab",)
DEFAULT_CHECK_SCHEDULE = "*/5 * * * *"
ENV_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # an environment's name


def checked_retention_days(retention: Any) -> int:
    try:
        # int() would truncate 1.5 and accept True; a retention is a whole number, from TOML or text.
        if isinstance(retention, bool) or (isinstance(retention, float) and not retention.is_integer()):
            raise ValueError
        days = int(retention.strip() if isinstance(retention, str) else retention)
        if days < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError("runlog_retention_days: must be a whole number of days >= 1") from None
    return days


def checked_check_schedule(value: str | None) -> str:
    """Return the schedule of the block's periodic `cronkit check` line, validated as Debian's cron reads it."""
    if value is None:
        return DEFAULT_CHECK_SCHEDULE
    from .schedule import validate_schedule

    if value.startswith("@"):
        raise ConfigError(f"check_schedule: {value!r}: give five cron fields (the block adds its own @reboot line)")
    validate_schedule(value, "check_schedule")
    return value


def checked_seconds(name: str, value: Any, bounds: tuple[float, float]) -> float:
    low, high = bounds
    try:
        if isinstance(value, bool):
            raise ValueError
        seconds = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not low <= seconds <= high:
        raise ConfigError(f"{name}: {value!r} is not a number of seconds between {low:g} and {high:g}")
    return seconds


def checked_hostname(value: str | None) -> str:
    if value is None:
        return os.uname().nodename  # socket.gethostname()'s answer, without importing socket
    if not _HOSTNAME.fullmatch(value):
        raise ConfigError(f"hostname: {value!r} is not a host name (no spaces, at most 253 characters)")
    return value


def checked_instant(name: str, value: Any) -> datetime | None:
    """Read an ISO 8601 instant (a TOML date-time too); one without an offset is UTC."""
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value.strip()) if isinstance(value, str) else value
        if not isinstance(instant, datetime):
            raise ValueError
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not an ISO 8601 instant (2026-11-28T10:00:00+00:00)") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def checked_command(name: str, value: str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_CRONTAB_COMMAND
    import shlex  # not on the run path, which never sets it

    try:
        words = tuple(shlex.split(value))
    except ValueError as exc:
        raise ConfigError(f"{name}: {value!r}: {exc}") from None
    if not words:
        raise ConfigError(f"{name}: empty command")
    return words


def checked_encryption(value: Any, secret_key: str | None) -> bool:
    """Return `encrypt_payloads`, which needs a secret key to seal with."""
    on = checked_flag("encrypt_payloads", value)
    if on and not secret_key:
        raise ConfigError("encrypt_payloads: needs secret_key (CRONKIT_SECRET_KEY), the key payloads are sealed with")
    return on


def checked_flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{name}: {value!r} is not a boolean (1/0, true/false, yes/no, on/off)")


def checked_db_url(name: str, value: str) -> str:
    """Check a SQLAlchemy URL's shape; `postgres://` (Heroku's, libpq's spelling) is taken as `postgresql://`."""
    if "://" not in value:
        raise ConfigError(f"{name}: {redact_url(value)!r} is not a database URL (sqlite:///path, postgresql://...)")
    scheme, _, rest = value.partition("://")
    if scheme == "postgres" or scheme.startswith("postgres+"):
        value = "postgresql" + scheme[len("postgres"):] + "://" + rest
    password = url_password(value)
    if password is not None and any(c in password for c in "/?#"):  # they end the URL's authority
        raise ConfigError(f"{name}: {redact_url(value)}: the password holds '/', '?' or '#';"
                          " percent-encode it (%2F, %3F, %23)")
    from urllib.parse import urlsplit

    try:
        urlsplit(value).port
    except ValueError:
        raise ConfigError(f"{name}: {redact_url(value)}: the port is not a number from 1 to 65535") from None
    return checked_url_text(name, value)


def checked_url_text(name: str, value: str) -> str:
    """Refuse what drivers would split wrongly (and then quote half a password in their errors)."""
    password = url_password(value)
    if password is not None and "@" in password:
        raise ConfigError(f"{name}: {redact_url(value)}: the password holds '@'; write it as %40")
    return value


def check_timezone(name: str, value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}: unknown timezone {value!r} (use an IANA name such as Europe/Paris)") from None


def checked_environments(value: Any) -> tuple[str, ...]:
    """Read the `environments` setting: a TOML list of names, or names separated by commas."""
    if value is None:
        return ()
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        names = [item.strip() for item in value]
    else:
        raise ConfigError("environments: must be a list of environment names")
    for name in names:
        if not ENV_NAME.fullmatch(name):
            raise ConfigError(f"environments: {name!r} is not a lowercase name")
    return tuple(dict.fromkeys(names))
