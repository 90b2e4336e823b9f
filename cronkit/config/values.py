"""The checks that turn one raw setting value (an option, an environment variable, a TOML value)
into a validated one, each raising ConfigError that names the setting."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote, urlsplit

from cronkit.errors import ConfigError, RegistryError, ScheduleError
from cronkit.plain import TYPE_CHECKING
from cronkit.safe.redact import redact_url, url_password
from cronkit.schedule import validate_schedule, zone_info

if TYPE_CHECKING:
    from typing import Any

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_HOSTNAME = r"[^\s\x00-\x1f\x7f]{1,253}"  # text: compiled only when the setting is given
DEFAULT_CRONTAB_COMMAND = ("crontab",)
DEFAULT_CHECK_SCHEDULE = "*/5 * * * *"
ENV_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # an environment's name
MAX_RETENTION_DAYS = 36_525  # a century: further back than any run log holds, short of datetime's end
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REDIS_MAX_DB = 1_000_000  # far above any server's `databases`; the server names its own limit
# The query keys redis-py reads as numbers (redis.connection.URL_QUERY_ARGUMENT_PARSERS): a bad one
# fails inside redis-py's parse at the first connection, as a traceback.
_REDIS_WHOLE = frozenset({"db", "socket_read_size", "max_connections", "health_check_interval",
                          "ssl_min_version", "protocol"})
_REDIS_SECONDS = frozenset({"socket_timeout", "socket_connect_timeout", "timeout"})

MAX_DURATION = 100 * 366 * 86_400.0  # a century: longer than any wait, short of datetime's end
MAX_DURATION_TEXT = "100 years"
_DURATION = r"(\d+(?:\.\d+)?)(ms|s|m|h|d)"  # text: compiled only when a duration is written out
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float | int, what: str = "duration") -> float:
    """Return seconds for `90`, `"30s"`, `"30m"`, `"1h30m"` or `"2d"`."""
    if isinstance(value, bool):
        raise RegistryError(f"{what}: {value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value) if abs(value) <= MAX_DURATION else math.inf
    else:
        text = value.strip().lower().replace(" ", "")
        pos, seconds = 0, 0.0
        for match in re.finditer(_DURATION, text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            if text.replace(".", "", 1).isdigit():
                seconds, pos = float(text), len(text)
            else:
                raise RegistryError(f"{what}: {value!r} is not a duration such as 30s, 5m, 1h30m")
    if seconds < 0:
        raise RegistryError(f"{what}: must not be negative")
    if not seconds <= MAX_DURATION:  # inf and nan too: a datetime plus it would overflow
        raise RegistryError(f"{what}: {value!r} is longer than {MAX_DURATION_TEXT}")
    return seconds



def checked_retention_days(retention: Any) -> int:
    try:
        # int() would truncate 1.5 and accept True; a retention is a whole number, from TOML or text.
        if isinstance(retention, bool) or (isinstance(retention, float) and not retention.is_integer()):
            raise ValueError
        days = int(retention.strip() if isinstance(retention, str) else retention)
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"runlog_retention_days: must be a whole number of days from 1 to {MAX_RETENTION_DAYS}") from None
    return days


def checked_check_schedule(value: str | None) -> str:
    """Return the schedule of the block's periodic `cronkit check` line, validated as Debian's cron reads it."""
    if value is None:
        return DEFAULT_CHECK_SCHEDULE

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
    if not re.fullmatch(_HOSTNAME, value):
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
    try:
        return instant.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before datetime's first UTC instant
        raise ConfigError(f"{name}: {value!r} is out of range") from None


def checked_command(name: str, value: str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_CRONTAB_COMMAND
    import shlex  # lazy: only the crontab_command setting, which the run path never reads

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
    checked_port(name, value)
    return checked_url_text(name, value)


def checked_port(name: str, value: str) -> None:
    """Refuse a URL whose port is not a number from 1 to 65535 (urllib raises ValueError when it is read)."""
    try:
        port = urlsplit(value).port
    except ValueError:
        port = 0
    if port == 0:
        raise ConfigError(f"{name}: {redact_url(value)}: the port is not a number from 1 to 65535")


def checked_redis_url(name: str, value: str) -> str:
    """Check a Redis URL as redis-py will read it: scheme, port, database number, numeric query values."""
    if not value.startswith(REDIS_SCHEMES):
        raise ConfigError(f"{name}: must start with redis://, rediss:// or unix://")
    checked_url_text(name, value)
    checked_port(name, value)
    parts = urlsplit(value)
    shown = redact_url(value)
    db = unquote(parts.path).strip("/") if parts.scheme != "unix" else ""
    if db and not _whole(db, REDIS_MAX_DB):  # redis-py would quietly use database 0
        raise ConfigError(f"{name}: {shown}: the path {parts.path!r} is not a database number (/0 to /{REDIS_MAX_DB})")
    for key, text in parse_qsl(parts.query, keep_blank_values=True):
        if key in _REDIS_WHOLE and not _whole(text, 2**31 - 1):
            raise ConfigError(f"{name}: {shown}: {key}={text!r} is not a whole number")
        if key in _REDIS_SECONDS and not _seconds(text):
            raise ConfigError(f"{name}: {shown}: {key}={text!r} is not a number of seconds")
    return value


def _whole(text: str, high: int) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= high


def _seconds(text: str) -> bool:
    try:
        return 0 < float(text) <= 86_400
    except ValueError:
        return False


def checked_text(name: str, value: str) -> str:
    """Refuse a NUL (no path, URL or name holds one) and a lone surrogate.

    A byte that is not UTF-8 (in a path from the environment, say) arrives as a lone surrogate,
    which the files cronkit writes (the run settings, the crontab) and the database drivers
    cannot encode: a traceback later, where the setting is no longer named.
    """
    if "\x00" in value:
        raise ConfigError(f"{name}: holds a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{name}: is not valid UTF-8 text") from None
    return value


def checked_url_text(name: str, value: str) -> str:
    """Refuse what drivers would split wrongly (and then quote half a password in their errors)."""
    password = url_password(value)
    if password is not None and "@" in password:
        raise ConfigError(f"{name}: {redact_url(value)}: the password holds '@'; write it as %40")
    return value


def check_timezone(name: str, value: str) -> None:
    try:
        zone_info(value)
    except ScheduleError:
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


def serve_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the settings of `cronkit serve` (from options, environment or file)."""
    out: dict[str, Any] = {}
    host = raw.get("serve_host")
    if host is not None:
        if not isinstance(host, str) or not host.strip():
            raise ConfigError("serve_host: must be a non-empty string")
        out["serve_host"] = checked_text("serve_host", host.strip())
    port = raw.get("serve_port")
    if port is not None:
        try:
            if isinstance(port, bool) or isinstance(port, float):
                raise ValueError
            out["serve_port"] = int(port.strip() if isinstance(port, str) else port)
            if not 1 <= out["serve_port"] <= 65535:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError("serve_port: must be a port number (1-65535)") from None
    public = raw.get("health_public")
    if public is not None:
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if isinstance(public, bool):
            out["health_public"] = public
        elif isinstance(public, str) and public.strip().lower() in words:
            out["health_public"] = words[public.strip().lower()]
        else:
            raise ConfigError("health_public: must be true or false")
    url = raw.get("public_url")
    if url is not None:
        if not isinstance(url, str) or not url.strip():
            raise ConfigError("public_url: must be a non-empty string")
        url = checked_text("public_url", url.strip().rstrip("/"))
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"public_url: {redact_url(url)!r} must start with http:// or https://")
        checked_port("public_url", url)
        out["public_url"] = url
    return out
