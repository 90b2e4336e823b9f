"""Validate the notification settings of cronkit.toml: `notify`, `[notify.<name>]`, per-task keys.

Imported by `config.load_settings` only when the file has a `notify` key or a task table uses one
of TASK_KEYS, so a host without notifications does not pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cronkit.config.values import checked_port, checked_text, parse_duration
from cronkit.errors import ConfigError, RegistryError
from cronkit.safe.redact import redact_url

KINDS = ("healthchecks", "webhook", "email", "apprise")
# `drift` (issue 28): `cronkit check` re-installed the block (auto_sync); `insight` (issue 29): a new
# finding of `cronkit insights`. Neither is in any default `on`.
EVENTS = ("start", "success", "failure", "recovery", "missed", "too_long", "too_fast", "drift", "insight")
# A healthchecks check keeps its own alerting state: it hears about every start and end.
PING_EVENTS = ("start", "success", "failure")
DEFAULT_ON: Mapping[str, tuple[str, ...]] = {
    "healthchecks": PING_EVENTS,
    "webhook": ("failure", "recovery", "missed", "too_long", "too_fast"),
    "email": ("failure", "recovery", "missed", "too_long", "too_fast"),
    "apprise": ("failure", "recovery", "missed", "too_long", "too_fast"),
}
DEFAULT_TIMEOUT = 5.0
TASK_KEYS = ("notify", "max_duration", "min_duration")
MAX_FAILURES_BEFORE_ALERT = 10_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_address(text: str) -> bool:
    """Whether smtplib can take `text` as an address: `ops@example.com` or `Ops <ops@example.com>`."""
    from email.utils import parseaddr  # lazy: the email package, only for an email notifier

    address = parseaddr(text)[1]
    return "@" in address and " " not in address
_COMMON = ("kind", "on", "failures_before_alert", "repeat_after", "timeout")
_KEYS: Mapping[str, tuple[str, ...]] = {
    "healthchecks": (*_COMMON, "url", "api_url", "api_key_env"),
    "webhook": (*_COMMON, "url", "secret_env"),
    "email": (*_COMMON, "smtp_host", "smtp_port", "starttls", "ssl", "user", "password_env", "from", "to"),
    "apprise": (*_COMMON, "urls"),
}


@dataclass(frozen=True)
class Notifier:
    """One `[notify.<name>]` table, validated; `options` holds the kind's own keys."""

    name: str
    kind: str
    on: tuple[str, ...]
    failures_before_alert: int = 1
    repeat_after: float | None = None  # seconds; None: not again until it recovers
    timeout: float = DEFAULT_TIMEOUT
    url: str | None = None
    secret_env: str | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    starttls: bool = False
    ssl: bool = False
    user: str | None = None
    password_env: str | None = None
    sender: str = "cronkit@localhost"
    to: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    api_url: str | None = None  # healthchecks' management API (`cronkit notify sync`)
    api_key_env: str | None = None


@dataclass(frozen=True)
class TaskNotify:
    """A task's notification keys from its `[tasks.<name>]` table."""

    notify: tuple[str, ...] | None = None  # None: the top-level `notify` list
    max_duration: float | None = None
    min_duration: float | None = None


def _duration(name: str, value: Any) -> float:
    try:
        return parse_duration(value, name)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None


def _names(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name}: must be a list of notifier names such as [\"ops-hook\"]")
    return tuple(value)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name}: must be a non-empty string")
    return checked_text(name, value.strip())


def _url(name: str, value: Any) -> str:
    """Check an http(s) URL; a `user:password@` in it is sent as Basic auth and masked in the message."""
    url = _text(name, value)
    shown = redact_url(url)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{name}: {shown!r} is not an http:// or https:// URL")
    checked_port(name, url)
    if not urlsplit(url).hostname:
        raise ConfigError(f"{name}: {shown!r} has no host")
    return url.rstrip("/")


def _env_name(name: str, value: Any) -> str:
    text = _text(name, value)
    if not _ENV.fullmatch(text):
        raise ConfigError(f"{name}: {text!r} is not an environment variable name")
    return text


def notifier(name: str, table: Any) -> Notifier:
    """Validate one `[notify.<name>]` table; raise ConfigError naming the key."""
    where = f"notify.{name}"
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: {name!r} is not a notifier name (letters, digits, '_', '.', '-')")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a [notify.{name}] table")
    kind = table.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    for key in table:
        if key not in _KEYS[kind]:
            raise ConfigError(f"{where}.{key}: unknown setting for kind {kind} (known: {', '.join(_KEYS[kind])})")
    allowed = PING_EVENTS if kind == "healthchecks" else EVENTS
    on = table.get("on", list(DEFAULT_ON[kind]))
    if not isinstance(on, list) or not all(isinstance(e, str) for e in on):
        raise ConfigError(f"{where}.on: must be a list of events such as [\"failure\", \"recovery\"]")
    for event in on:
        if event not in allowed:
            raise ConfigError(f"{where}.on: {event!r} is not an event a {kind} notifier sends ({', '.join(allowed)})")
    n = table.get("failures_before_alert", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_FAILURES_BEFORE_ALERT:
        raise ConfigError(f"{where}.failures_before_alert: must be a whole number from 1 to {MAX_FAILURES_BEFORE_ALERT}")
    repeat = table.get("repeat_after")
    timeout = _duration(f"{where}.timeout", table.get("timeout", DEFAULT_TIMEOUT))
    if not 0 < timeout <= 60:
        raise ConfigError(f"{where}.timeout: must be between 0 and 60 seconds")
    options: dict[str, Any] = {}
    if kind in ("healthchecks", "webhook"):
        options["url"] = _url(f"{where}.url", table.get("url"))
    if kind == "healthchecks":
        options.update(_healthchecks(where, table, options["url"]))
    if kind == "webhook" and "secret_env" in table:
        options["secret_env"] = _env_name(f"{where}.secret_env", table["secret_env"])
    if kind == "email":
        options.update(_email(where, table))
    if kind == "apprise":
        urls = table.get("urls")
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
            raise ConfigError(f"{where}.urls: must be a non-empty list of apprise URLs")
        for url in urls:
            checked_text(f"{where}.urls", url)
        options["urls"] = tuple(urls)
    return Notifier(name=name, kind=kind, on=tuple(on), failures_before_alert=n,
                    repeat_after=_duration(f"{where}.repeat_after", repeat) if repeat is not None else None,
                    timeout=timeout, **options)


def _healthchecks(where: str, table: Mapping[str, Any], url: str) -> dict[str, Any]:
    """Check a healthchecks notifier's own keys: `{task}` only in the path, the management API's URL and key."""
    parts = urlsplit(url)
    if "{task}" in parts.netloc or "{task}" in parts.query:
        raise ConfigError(f"{where}.url: {{task}} may stand in the path only (a slug: .../ping/<ping-key>/{{task}})")
    out: dict[str, Any] = {}
    if "api_url" in table:
        out["api_url"] = _url(f"{where}.api_url", table["api_url"])
    if "api_key_env" in table:
        out["api_key_env"] = _env_name(f"{where}.api_key_env", table["api_key_env"])
    return out


def _email(where: str, table: Mapping[str, Any]) -> dict[str, Any]:
    port = table.get("smtp_port", 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}.smtp_port: must be a port number")
    for flag in ("starttls", "ssl"):
        if not isinstance(table.get(flag, False), bool):
            raise ConfigError(f"{where}.{flag}: must be true or false")
    if table.get("starttls") and table.get("ssl"):
        raise ConfigError(f"{where}: starttls and ssl are two ways to encrypt: set one (ssl: SMTPS, port 465;"
                          " starttls: port 587)")
    to = table.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and _is_address(a) for a in to):
        raise ConfigError(f"{where}.to: must be a list of mail addresses")
    sender = _text(f"{where}.from", table.get("from", "cronkit@localhost"))
    if not _is_address(sender):
        raise ConfigError(f"{where}.from: {sender!r} is not a mail address")
    out: dict[str, Any] = {
        "smtp_host": _text(f"{where}.smtp_host", table.get("smtp_host", "127.0.0.1")),
        "smtp_port": port, "starttls": table.get("starttls", False), "ssl": table.get("ssl", False),
        "sender": sender, "to": tuple(to),
    }
    if "user" in table:
        out["user"] = _text(f"{where}.user", table["user"])
    if "password_env" in table:
        out["password_env"] = _env_name(f"{where}.password_env", table["password_env"])
    return out


def notify_settings(data: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, Notifier]]:
    """Split the file's `notify` key into the default list and the `[notify.<name>]` tables."""
    value = data.get("notify", [])
    defaults: tuple[str, ...] = ()
    notifiers: dict[str, Notifier] = {}
    if isinstance(value, list):  # `notify = [...]` with no tables
        defaults = _names("notify", value)
    elif isinstance(value, Mapping):
        # TOML cannot hold both `notify = [...]` and `[notify.x]`: the list may sit inside as `default`.
        tables = dict(value)
        if "default" in tables and isinstance(tables["default"], list):
            defaults = _names("notify.default", tables.pop("default"))
        notifiers = {name: notifier(name, table) for name, table in tables.items()}
    else:
        raise ConfigError("notify: must be a list of notifier names or [notify.<name>] tables")
    for name in defaults:
        if name not in notifiers:
            raise ConfigError(f"notify: unknown notifier {name!r} (no [notify.{name}] table)")
    return defaults, notifiers


def task_notify(task: str, table: Mapping[str, Any], notifiers: Mapping[str, Notifier]) -> TaskNotify:
    """Validate a task table's notification keys (TASK_KEYS); raise ConfigError naming the key."""
    where = f"tasks.{task}"
    names = None
    if "notify" in table:
        names = _names(f"{where}.notify", table["notify"])
        for name in names:
            if name not in notifiers:
                raise ConfigError(f"{where}.notify: unknown notifier {name!r} (no [notify.{name}] table)")
    high = _duration(f"{where}.max_duration", table["max_duration"]) if "max_duration" in table else None
    low = _duration(f"{where}.min_duration", table["min_duration"]) if "min_duration" in table else None
    if high is not None and low is not None and low >= high:
        raise ConfigError(f"{where}.min_duration: must be shorter than max_duration")
    return TaskNotify(names, high, low)


__all__ = ["DEFAULT_ON", "EVENTS", "KINDS", "TASK_KEYS", "Notifier", "TaskNotify", "notifier",
           "notify_settings", "task_notify"]
