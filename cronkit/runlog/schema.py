"""The run log's tables (SQLAlchemy Core) and the migrations that bring a database to them.

Everyone reads and writes these tables with plain SQL through `runlog.open`, which imports this
module only when a schema needs creating or upgrading (or the run log is opened on an engine).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy.engine import Connection, Engine

from cronkit.errors import ConfigError, SchemaTooNew, ServiceUnavailable
from cronkit.runlog import totals
from cronkit.runlog.backup import copy_before_migrating
from cronkit.runlog.engines import schema_file_lock, sqlite_path
from cronkit.runlog.queries import READ_META, RUN_COLUMNS, SET_META
from cronkit.runlog.version import SCHEMA_VERSION, release_of
from cronkit.version import __version__

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("scheduled_for", BigInteger),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Column("duration_ms", BigInteger),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("exit_code", Integer),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("pid_start", BigInteger),
    Column("user", String(255)),
    Column("heartbeat_at", BigInteger),
    Column("params", Text),
    Column("dry_run", Boolean, nullable=False, server_default="0"),
    Column("error", Text),
    Column("traceback", Text),
    Column("result", Text),
    Column("output", Text),
    # Version 11 (issue 29): the resources of the run's attempts (CPU summed, the largest RSS).
    Column("cpu_user_ms", BigInteger),
    Column("cpu_system_ms", BigInteger),
    Column("max_rss_kb", BigInteger),
    Index("ix_runs_task_id", "task", "id"),
    Index("ix_runs_status_id", "status", "id"),
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_task_started_at", "task", "started_at"),
)
assert tuple(c.name for c in runs.c) == RUN_COLUMNS  # the plain SQL of runlog.reader names them

attempts = Table(
    "attempts", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    # Version 11 (issue 29): what the attempt's process tree used (os.wait4 of the attempt).
    Column("cpu_user_ms", BigInteger),
    Column("cpu_system_ms", BigInteger),
    Column("max_rss_kb", BigInteger),
)

slots = Table(
    "slots", metadata,
    Column("task", String(64), primary_key=True),
    Column("scheduled_for", BigInteger, primary_key=True),
    Column("run_id", Integer, nullable=False),
)

dead_letters = Table(
    "dead_letters", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("task", String(64), nullable=False),
    Column("params", Text),
    Column("scheduled_for", BigInteger),
    Column("error", Text),
    Column("traceback", Text),
    Column("attempts", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("resolved_at", BigInteger),
    Column("resolved_by", Integer),
    Column("claimed_by", Integer),  # the retry run that claimed the letter (version 3)
    Index("ix_dead_letters_task", "task", "id"),
)

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Version 2: the indexes of `status`, `health` and `stats` (cronkit.health): the runs that served
# a task's slots in a window (missed slots), and a task's latest run of a given status.
HEALTH_INDEXES = (
    Index("ix_runs_task_scheduled_for", runs.c.task, runs.c.scheduled_for),
    Index("ix_runs_task_status_id", runs.c.task, runs.c.status, runs.c.id),
)


def _add_health_indexes(conn: Connection) -> None:
    for index in HEALTH_INDEXES:
        index.create(conn, checkfirst=True)


# Version 3: the HTTP service (`cronkit serve`): API tokens (a hash only), the audit trail of
# triggers and token changes, and the answers kept for Idempotency-Key replays.
api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("lookup", String(16), nullable=False),  # the public part of the token, to find its row
    Column("token_hash", String(64), nullable=False),  # sha256 hex of the whole token
    Column("scope", String(16), nullable=False),
    Column("task_pattern", String(255)),
    Column("env_pattern", String(255)),  # version 8: the environments a token is limited to
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
    Column("last_used_at", BigInteger),
    Index("ix_api_tokens_lookup", "lookup"),
    Index("ix_api_tokens_name", "name"),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("token_name", String(64)),
    Column("remote_addr", String(64)),
    Column("user_agent", String(255)),
    Column("action", String(32), nullable=False),
    Column("task", String(64)),
    Column("params", Text),
    Column("idempotency_key", String(255)),
    Column("result", String(32), nullable=False),
    Column("status_code", Integer),
    Column("run_id", Integer),
    Column("detail", Text),
    Index("ix_audit_at", "at"),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("token_name", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
SERVE_TABLES = (api_tokens, audit, idempotency_keys)


def _add_serve_tables(conn: Connection) -> None:
    for table in SERVE_TABLES:
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


# Version 4 (issue 15): the notifications cronkit sent or still owes (its outbox), one row per
# notifier and event. `state`: pending (in the outbox), delivered, failed (gave up), dropped (its
# notifier left the config). `dedup` makes an event sent once per key (a missed slot).
notifications = Table(
    "notifications", MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notifier", String(64), nullable=False),
    Column("task", String(64), nullable=False),
    Column("event", String(16), nullable=False),
    Column("run_id", Integer),
    Column("dedup", String(128)),
    Column("created_at", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("claimed_until", BigInteger),
    Column("delivered_at", BigInteger),
    Column("last_error", Text),
    Column("payload", Text, nullable=False),
    Index("ix_notifications_state_id", "state", "id"),
    Index("ix_notifications_task_event", "notifier", "task", "event", "id"),
    Index("ux_notifications_dedup", "notifier", "dedup", unique=True),
)


def _add_notifications(conn: Connection) -> None:
    notifications.create(conn, checkfirst=True)
    for index in notifications.indexes:
        index.create(conn, checkfirst=True)


def _add_letter_claims(conn: Connection) -> None:
    """Version 5: dead_letters.claimed_by, so that concurrent `dlq retry` of one letter run it once."""
    if "claimed_by" not in {c["name"] for c in inspect(conn).get_columns("dead_letters")}:
        conn.exec_driver_sql("ALTER TABLE dead_letters ADD COLUMN claimed_by INTEGER")


# Version 6: the runs of one trigger, newest first (`GET /api/v1/runs?trigger=catchup`, `history
# --trigger`), without scanning every run: a rare trigger scanned a million-run log in seconds.
TRIGGER_INDEX = Index("ix_runs_trigger_id", runs.c.trigger, runs.c.id)


def _add_trigger_index(conn: Connection) -> None:
    TRIGGER_INDEX.create(conn, checkfirst=True)


# Version 7: the dashboard's signed-out sessions (cronkit/web/session.py). A session is a signed
# cookie the service cannot take back; its random id lands here at sign-out, and the service
# refuses it until the cookie would have expired anyway (`expires_at`, then the row is pruned).
ended_sessions = Table(
    "ended_sessions", MetaData(),
    Column("session_id", String(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_ended_sessions_expires_at", "expires_at"),
)


def _add_ended_sessions(conn: Connection) -> None:
    ended_sessions.create(conn, checkfirst=True)
    for index in ended_sessions.indexes:
        index.create(conn, checkfirst=True)


def _add_token_environments(conn: Connection) -> None:
    """Version 8 (issue 31): api_tokens.env_pattern, the environments a token's role is limited to."""
    if "env_pattern" not in {c["name"] for c in inspect(conn).get_columns("api_tokens")}:
        conn.exec_driver_sql("ALTER TABLE api_tokens ADD COLUMN env_pattern VARCHAR(255)")


# Version 10 (issue 24): run_totals, the counters that only grow (runs per final status, the duration
# histogram, missed slots), one row per task, kept by the statement that ends a run (runlog/totals.py).
# The `.prom` files and `/metrics` read them in O(1) instead of aggregating every run of a task.
run_totals = Table(
    totals.TABLE, MetaData(),
    Column("task", String(64), primary_key=True),
    *(Column(name, BigInteger, nullable=False, server_default="0") for name in totals.ADDED_COLUMNS),
    Column("last_duration_ms", BigInteger),
    Column("missed_slots", BigInteger, nullable=False, server_default="0"),
    Column("missed_through", BigInteger),
)


def _add_run_totals(conn: Connection) -> None:
    """Create run_totals and fill it from the runs already recorded: one GROUP BY, seconds on a 1M-run log."""
    if inspect(conn).has_table(totals.TABLE):
        return
    run_totals.create(conn)

    def execute(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        result = conn.execute(text(sql), dict(params))
        return result.fetchall() if result.returns_rows else []

    totals.fill(execute)


# Version 9 (issue 28): pauses of a task (`cronkit pause`), one row per pause, kept as history so
# that the slots inside a past pause are not counted missed. `ended_at` is when the pause ends or
# ended: its `until` when it has one, the resume's time once resumed (None: until resumed). Only a
# task's latest row can be in force; the run path reads that one row by ix_pauses_task_id.
pauses = Table(
    "pauses", MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(64), nullable=False),
    Column("paused_at", BigInteger, nullable=False),
    Column("paused_by", String(255), nullable=False),
    Column("origin", String(16), nullable=False),  # cli, api, dashboard
    Column("paused_until", BigInteger),  # the end asked for; None: until resumed
    Column("reason", Text),
    Column("ended_at", BigInteger),
    Column("resumed_by", String(255)),
    Index("ix_pauses_task_id", "task", "id"),
    Index("ix_pauses_ended_at", "ended_at"),
)


def _add_pauses(conn: Connection) -> None:
    pauses.create(conn, checkfirst=True)
    for index in pauses.indexes:
        index.create(conn, checkfirst=True)


# Version 11 (issue 29): the resources of each attempt's process tree (CPU time, peak resident
# memory), on `attempts` and, summed over a run's attempts (the largest RSS), on `runs`, so that
# `stats` and `insights` read one row per run. Nullable columns added in place: no rewrite of a
# million-run table (SQLite and PostgreSQL both add such a column without touching the rows).
RESOURCE_COLUMNS = ("cpu_user_ms", "cpu_system_ms", "max_rss_kb")


def _add_resources(conn: Connection) -> None:
    for table in ("attempts", "runs"):
        have = {c["name"] for c in inspect(conn).get_columns(table)}
        for column in RESOURCE_COLUMNS:
            if column not in have:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} BIGINT")


# Each entry upgrades the schema from version N-1 to N; append, never edit.
# Version 1 creates the tables of its day only: a later version's tables come from its own step.
MIGRATIONS: list[Callable[[Connection], None]] = [
    lambda conn: metadata.create_all(conn, tables=[runs, attempts, slots, dead_letters, meta]),
    _add_health_indexes,
    _add_serve_tables,
    _add_notifications,
    _add_letter_claims,
    _add_trigger_index,
    _add_ended_sessions,
    _add_token_environments,
    _add_pauses,
    _add_run_totals,
    _add_resources,
]
assert len(MIGRATIONS) == SCHEMA_VERSION


def upgrade(engine: Engine, *, locked: bool = False, migrate: bool = False) -> int:
    """Bring the schema to SCHEMA_VERSION, one migration at a time; return the version found.

    `locked`: the caller already holds the schema lock (flock is per open file, so taking it
    again here would wait for ourselves). A SQLite run log is copied before its schema changes
    (runlog.backup). A PostgreSQL run log of an older schema is migrated only when `migrate`
    (`cronkit migrate`): its backup is the operator's, taken with the database's own tools.
    """
    if engine.dialect.name == "sqlite" and not locked:
        # The common case costs one read and no lock; it also fails on a file that is not a
        # database before a lock file is created next to it.
        with engine.connect() as conn:
            if conn.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION:
                return SCHEMA_VERSION
    with nullcontext() if locked else _schema_lock(engine):
        with engine.connect() as conn:
            found = _version(conn)
        _check_upgradable(engine, found, migrate)
        copy = _copy_before(engine, found)
        with engine.begin() as conn:
            for number in range(found, SCHEMA_VERSION):
                MIGRATIONS[number](conn)
            if found != SCHEMA_VERSION:
                set_meta(conn, "schema_version", str(SCHEMA_VERSION))
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if copy is not None:
            # The one line an operator must see, whichever command migrated (a cron tick included).
            sys.stderr.write(
                f"cronkit: run log schema {found} ({_release(found)}) migrated to {SCHEMA_VERSION}"
                f" (cronkit {__version__}); the copy from before is {copy}\n"
            )
        return found


def _release(schema: int) -> str:
    release = release_of(schema)
    return f"cronkit {release}" if release else "a newer cronkit"


def _check_upgradable(engine: Engine, found: int, migrate: bool) -> None:
    """Refuse a schema newer than this cronkit, and an unasked migration of a PostgreSQL run log."""
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"run log schema version {found} is newer than this cronkit {__version__} (schema"
            f" {SCHEMA_VERSION}): it needs {_release(found)}; upgrade cronkit, or restore the copy"
            " kept before the upgrade (CHANGELOG.md, Upgrading)"
        )
    if 0 < found < SCHEMA_VERSION and engine.dialect.name != "sqlite" and not migrate:
        raise ConfigError(
            f"run log schema version {found} ({_release(found)}) needs migrating to {SCHEMA_VERSION}"
            f" (cronkit {__version__}): back up the database (pg_dump), then run `cronkit migrate`"
        )


def _copy_before(engine: Engine, found: int) -> Path | None:
    """Copy a SQLite run log that holds runs before its schema changes; None when nothing is copied."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or not 0 < found < SCHEMA_VERSION:
        return None
    try:
        return copy_before_migrating(Path(database), found, release_of(found))
    except (OSError, sqlite3.Error) as exc:
        raise ServiceUnavailable(
            f"run log {database}: cannot keep a copy before migrating schema {found} to"
            f" {SCHEMA_VERSION} ({exc}); nothing was changed"
        ) from None


def _version(conn: Connection) -> int:
    if not inspect(conn).has_table("meta"):
        return 0
    value = conn.execute(text(READ_META), {"key": "schema_version"}).scalar()
    return int(value) if value else 0


def set_meta(conn: Connection, key: str, value: str) -> None:
    """Set one key of the `meta` table, in the caller's transaction."""
    conn.execute(text(SET_META), {"key": key, "value": value})


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """Serialise schema upgrades between processes: a file lock for SQLite, an advisory lock elsewhere."""
    # engine.url.database, not str(engine.url): the URL's text percent-encodes a `%` or `$` in the path.
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    path = sqlite_path(f"sqlite:///{database}") if database else None
    if path is not None:
        with schema_file_lock(path):
            yield
        return
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(727274)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(727274)"))
                conn.commit()
        return
    yield


__all__ = ["MIGRATIONS", "RESOURCE_COLUMNS", "SCHEMA_VERSION", "api_tokens", "attempts", "audit", "dead_letters",
           "ended_sessions", "idempotency_keys", "meta", "metadata", "notifications", "pauses", "run_totals", "runs",
           "set_meta", "slots", "upgrade"]
