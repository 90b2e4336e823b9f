"""Answers the run log has not changed since: its version, and bounded caches keyed on it.

`DataVersion.read()` returns a value that changes whenever anything is committed to the run log:
SQLite's `PRAGMA data_version` on a connection of its own (it changes on every commit by any
other connection, in this process or another), PostgreSQL's current snapshot (equal snapshots
see the same committed transactions). An answer computed after reading version V is reused
only while the version still reads V: the run log stays the source of truth, and a run
inserted or finished is in the next answer. The version is read before the answer is
computed, so an answer is never older than the version it is stored under.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Engine

from cronkit.runlog.engines import sqlite_path

T = TypeVar("T")


class DataVersion:
    """Read the run log's version: None when the database cannot tell (then nothing is reused)."""

    def __init__(self, engine: Engine, db_url: str) -> None:
        self._engine = engine
        self._path = sqlite_path(db_url)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._postgres = engine.dialect.name == "postgresql"

    def read(self, *, wait: bool = True) -> Hashable | None:
        """Return the version; without `wait` (in the event loop), None rather than block: no
        network round trip, no waiting for the lock or for SQLite (busy_timeout 0)."""
        try:
            if self._path is not None:
                return self._sqlite(wait)
            if self._postgres and wait:
                with self._engine.connect() as conn:
                    return str(conn.execute(text("SELECT txid_current_snapshot()::text")).scalar())
        except Exception:  # noqa: BLE001 - an unknown version only means "compute afresh"
            self.close()
        return None

    def _sqlite(self, wait: bool) -> int | None:
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            if self._conn is None:
                # Read-only and never in a transaction: every commit to the file is another's.
                self._conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=0,
                                             check_same_thread=False, isolation_level=None)
                self._conn.execute("PRAGMA cache_size = 0")
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class VersionedCache(Generic[T]):
    """At most `size` answers (and `max_bytes` of bytes answers), each kept with the version it was
    computed at and reused while that version holds and it is younger than `max_age` seconds (an
    unknown version: never); the least recently used go first.

    One computation per key at a time: concurrent requests for a missing answer wait for it.
    """

    def __init__(self, size: int, max_age: float, max_bytes: int = 1 << 62) -> None:
        self._size = size
        self._max_age = max_age
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[Hashable, tuple[Hashable, float, T]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def kept(self, key: Hashable, version: Hashable | None) -> T | None:
        """Return the answer kept for `key` at `version`, None when there is none (computing nothing)."""
        return self._fresh(key, version)

    def _fresh(self, key: Hashable, version: Hashable | None) -> T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or version is None or entry[0] != version:
                return None
            if time.monotonic() - entry[1] > self._max_age:
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def get(self, key: Hashable, version: Hashable | None, compute: Callable[[], T]) -> T:
        """Return the answer for `key` at `version`, computing it when none is kept."""
        found = self._fresh(key, version)
        if found is not None:
            return found
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            found = self._fresh(key, version)
            if found is not None:
                return found
            value = compute()
            with self._lock:
                self._computing.pop(key, None)
                if version is not None:
                    self._drop(key)
                    self._entries[key] = (version, time.monotonic(), value)
                    self._bytes += _size(value)
                    while len(self._entries) > self._size or self._bytes > self._max_bytes:
                        self._drop(next(iter(self._entries)))
            return value

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= _size(entry[2])

    def __len__(self) -> int:
        return len(self._entries)


def _size(value: object) -> int:
    return len(value) if isinstance(value, bytes | str) else 0


__all__ = ["DataVersion", "VersionedCache"]
