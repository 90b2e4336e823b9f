"""Pause and resume tasks at runtime (SPEC 15), for the CLI, the API and the dashboard alike.

The state lives in the run log (runlog/pauses.py), so every host that shares it obeys: the run
path reads it on every start. This module checks a request at the edge (known tasks, one end at
most, an end in the future, a reason of sane length), writes it with its audit rows, and says
what it did as the JSON every front end shows.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronkit.config.settings import Settings
from cronkit.config.values import parse_duration
from cronkit.errors import RegistryError, UsageError
from cronkit.registry import Registry
from cronkit.runlog import connect
from cronkit.runlog.engines import sqlite_path
from cronkit.runlog.pauses import (
    Origin,
    Pause,
    current_pauses,
    pause_keys,
    write_pauses,
    write_resumes,
)
from cronkit.runlog.times import bounded_utc, to_ms
from cronkit.safe.redact import redactor_for

MAX_REASON = 500  # characters of a pause's reason
MAX_PAUSE = timedelta(days=366)  # the longest end a pause may name; no end at all is allowed

_HAS_PAUSES = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pauses'"

Transact = Callable[[Callable[[Any], Any], int], Any]


def pause_end(for_: str | None, until: str | None, now: datetime, zone: str = "UTC") -> datetime | None:
    """Return when a pause asked `--for D` or `--until T` ends (None: until resumed); UsageError if bad.

    `until` is an ISO instant (UTC when it has no offset) or `HH:MM`, the next such time in `zone`.
    """
    if for_ is not None and until is not None:
        raise UsageError("--for and --until: give one of them, not both")
    if for_ is not None:
        try:
            seconds = parse_duration(for_, "--for")
        except RegistryError as exc:
            raise UsageError(str(exc)) from None
        if seconds <= 0:
            raise UsageError(f"--for: {for_!r} must be longer than zero")
        end = now + timedelta(seconds=seconds)
    elif until is not None:
        end = _until(until.strip(), now, zone)
    else:
        return None
    if end <= now:
        raise UsageError(f"--until: {until!r} is not in the future (now {now.isoformat(timespec='seconds')})")
    if end - now > MAX_PAUSE:
        raise UsageError(f"--for/--until: at most {MAX_PAUSE.days} days ahead; leave both out to pause until resumed")
    return end


def _until(text: str, now: datetime, zone: str) -> datetime:
    parts = text.split(":")
    if len(parts) == 2 and all(p.isascii() and p.isdigit() for p in parts) and int(parts[0]) < 24 and int(parts[1]) < 60:
        local = now.astimezone(ZoneInfo(zone))
        at = local.replace(hour=int(parts[0]), minute=int(parts[1]), second=0, microsecond=0)
        return (at if at > local else at + timedelta(days=1)).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise UsageError(f"--until: {text!r} is not a time such as 14:00 or 2026-12-07T14:00+01:00") from None
    return bounded_utc(parsed, "--until", text)  # not near datetime's ends, where the zone overflows


def _names(registry: Registry, tasks: Sequence[str]) -> list[str]:
    """Return the task names once each, in order; UnknownTask (exit 2) for a name not registered."""
    if not tasks:
        raise UsageError("name at least one task")
    for name in tasks:
        registry[name]
    return list(dict.fromkeys(tasks))


def pause(settings: Settings, registry: Registry, tasks: Sequence[str], *, for_: str | None, until: str | None,
          reason: str | None, origin: Origin, now: datetime, transact: Transact | None = None,
          ) -> list[dict[str, Any]]:
    """Pause `tasks` on every host sharing the run log; return each task's pause keys."""
    names = _names(registry, tasks)
    end = pause_end(for_, until, now, settings.timezone)
    text = " ".join((reason or "").split()) or None
    if text is not None and len(text) > MAX_REASON:
        raise UsageError(f"--reason: at most {MAX_REASON} characters")
    text = redactor_for(settings, os.environ)(text) if text else None
    asked = {k: v for k, v in (("for", for_), ("until", until), ("reason", text)) if v is not None}
    done = _with_store(settings, transact, lambda t: write_pauses(
        t, names, at=to_ms(now), until=to_ms(end) if end else None, reason=text, origin=origin, asked=asked))
    return [{"task": p.task, **pause_keys(p)} for p in done]


def resume(settings: Settings, registry: Registry, tasks: Sequence[str], *, origin: Origin, now: datetime,
           transact: Transact | None = None) -> list[dict[str, Any]]:
    """End the pause of `tasks`; return for each whether it was paused, and by whom."""
    names = _names(registry, tasks)
    was = _with_store(settings, transact, lambda t: write_resumes(t, names, at=to_ms(now), origin=origin))
    return [{"task": name, **pause_keys(None), "resumed": prev is not None,
             "was": prev.as_dict() if prev is not None else None} for name, prev in zip(names, was, strict=True)]


def _with_store(settings: Settings, transact: Transact | None, work: Callable[[Transact], Any]) -> Any:
    if transact is not None:
        return work(transact)
    store = connect.open(settings.db_url, create=True)
    try:
        return work(store.transact)
    finally:
        store.close()


def read_pauses(settings: Settings, now: datetime) -> dict[str, Pause]:
    """Return the pauses in force, by task, for a read command; none when there is no run log yet.

    A SQLite run log is read read-only (never created nor upgraded: a log of an older schema has
    no pauses yet); another is opened as every command opens it.
    """
    path = sqlite_path(settings.db_url)
    if path is not None and not path.is_file():
        return {}
    store = connect.open(settings.db_url, read_only=True) if path else connect.open(settings.db_url, settle=settings)
    try:
        if path is not None and not store.sql(_HAS_PAUSES, {}):
            return {}  # a run log of an older schema, upgraded by the next run
        return pauses_of(store, now)
    finally:
        store.close()


def pauses_of(reader: Any, now: datetime) -> dict[str, Pause]:
    """Return the pauses in force, by task, through an open run log (a RunStore)."""
    with reader.connection() as execute:
        return current_pauses(execute, to_ms(now))


def cli_origin() -> Origin:
    """Return the origin of a pause typed at the CLI: the OS user (the one sudo names, under sudo).

    As a manual run records its user: the login variables, then the password entry.
    """
    try:
        user = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return Origin("cli", user=user)


def keys_for(pauses: Mapping[str, Pause], task: str) -> dict[str, Any]:
    """Return the pause keys of one task of a read command's answer."""
    return pause_keys(pauses.get(task))


__all__ = ["MAX_REASON", "cli_origin", "keys_for", "pause", "pause_end", "pauses_of", "read_pauses", "resume"]
