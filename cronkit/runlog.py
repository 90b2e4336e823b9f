"""The run log: its schema (SQLAlchemy Core), schema upgrades, and the queries the read commands use.

Times are stored as integer milliseconds since the Unix epoch (UTC): exact, dialect-neutral and
cheap to index, compare and aggregate. The run path writes through `cronkit.runstore`, which uses
these same tables without importing SQLAlchemy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
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
    and_,
    delete,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from .config import Settings, sqlite_path
from .errors import ServiceUnavailable
from .runstore import SCHEMA_VERSION, RunStatus, from_ms, schema_file_lock, to_ms

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
    Index("ix_runs_task_id", "task", "id"),
    Index("ix_runs_status_id", "status", "id"),
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_task_started_at", "task", "started_at"),
)

attempts = Table(
    "attempts", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Column("status", String(16), nullable=False),
    Column("error", Text),
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


# Each entry upgrades the schema from version N-1 to N; append, never edit.
MIGRATIONS: list[Callable[[Connection], None]] = [
    lambda conn: metadata.create_all(conn),
    _add_health_indexes,
]
assert len(MIGRATIONS) == SCHEMA_VERSION


def upgrade(engine: Engine, *, locked: bool = False) -> int:
    """Bring the schema to SCHEMA_VERSION, one migration at a time; return the version found.

    `locked`: the caller already holds the schema lock (flock is per open file, so taking it
    again here would wait for ourselves).
    """
    if engine.dialect.name == "sqlite" and not locked:
        # The common case costs one read and no lock; it also fails on a file that is not a
        # database before a lock file is created next to it.
        with engine.connect() as conn:
            if conn.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION:
                return SCHEMA_VERSION
    with (nullcontext() if locked else _schema_lock(engine)), engine.begin() as conn:
        found = _version(conn)
        if found > SCHEMA_VERSION:
            raise ServiceUnavailable(
                f"run log schema version {found} is newer than this cronkit ({SCHEMA_VERSION}): upgrade cronkit"
            )
        for number in range(found, SCHEMA_VERSION):
            MIGRATIONS[number](conn)
        if found != SCHEMA_VERSION:
            _set_meta(conn, "schema_version", str(SCHEMA_VERSION))
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return found


def _version(conn: Connection) -> int:
    if not inspect(conn).has_table("meta"):
        return 0
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value else 0


def _set_meta(conn: Connection, key: str, value: str) -> None:
    updated = conn.execute(meta.update().where(meta.c.key == key).values(value=value)).rowcount
    if not updated:
        conn.execute(meta.insert().values(key=key, value=value))


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """Serialise schema upgrades between processes: a file lock for SQLite, an advisory lock elsewhere."""
    path = sqlite_path(str(engine.url))
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


@dataclass(frozen=True)
class HistoryFilter:
    task: str | None = None
    status: str | None = None
    since: datetime | None = None
    limit: int = 20


class RunLog:
    """Read access to the run log, plus the few writes the read commands make."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, settings: Settings) -> RunLog:
        """Open and upgrade the run log of `settings`; ServiceUnavailable when it cannot be used."""
        from .dbutil import create_engine_for

        engine = create_engine_for(settings.db_url)
        try:
            upgrade(engine)
        except (DatabaseError, OperationalError) as exc:
            raise ServiceUnavailable(f"run log {describe_url(settings.db_url)} is unusable: {first_line(exc)}") from None
        log = cls(engine)
        from .runstore import RunStore

        RunStore.for_engine(engine).mark_lost()
        return log

    def history(self, flt: HistoryFilter) -> list[dict[str, Any]]:
        """Return runs newest first, filtered."""
        cols = [c for c in runs.c if c.name not in ("output", "traceback")]
        query = select(*cols).order_by(runs.c.id.desc()).limit(flt.limit)
        if flt.task:
            query = query.where(runs.c.task == flt.task)
        if flt.status:
            query = query.where(runs.c.status == flt.status)
        if flt.since:
            query = query.where(runs.c.started_at >= to_ms(flt.since))
        with self.engine.connect() as conn:
            return [run_dict(row._mapping) for row in conn.execute(query)]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """Return one run with its attempts and dead letter, None when there is no such run."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                return None
            record = run_dict(row._mapping)
            record["attempt_log"] = [
                {
                    "number": a.number,
                    "status": a.status,
                    "started_at": iso(a.started_at),
                    "finished_at": iso(a.finished_at),
                    "error": a.error,
                }
                for a in conn.execute(
                    select(attempts).where(attempts.c.run_id == run_id).order_by(attempts.c.number)
                )
            ]
            letter = conn.execute(
                select(dead_letters.c.id, dead_letters.c.resolved_at).where(dead_letters.c.run_id == run_id)
            ).first()
            record["dead_letter"] = (
                {"id": letter.id, "resolved_at": iso(letter.resolved_at)} if letter is not None else None
            )
            return record

    def prune(self, older_than: datetime) -> int:
        """Delete runs (and their attempts, slots, resolved dead letters) that started before the cutoff."""
        cutoff = to_ms(older_than)
        with self.engine.begin() as conn:
            old = select(runs.c.id).where(runs.c.started_at < cutoff, runs.c.status != RunStatus.RUNNING)
            open_letters = select(dead_letters.c.run_id).where(dead_letters.c.resolved_at.is_(None))
            old = old.where(runs.c.id.not_in(open_letters))
            conn.execute(delete(attempts).where(attempts.c.run_id.in_(old)))
            conn.execute(delete(slots).where(slots.c.run_id.in_(old)))
            conn.execute(
                delete(dead_letters).where(
                    and_(dead_letters.c.run_id.in_(old), dead_letters.c.resolved_at.is_not(None))
                )
            )
            return conn.execute(delete(runs).where(runs.c.id.in_(old))).rowcount or 0

    def count_prunable(self, older_than: datetime) -> int:
        cutoff = to_ms(older_than)
        open_letters = select(dead_letters.c.run_id).where(dead_letters.c.resolved_at.is_(None))
        query = select(func.count()).select_from(runs).where(
            runs.c.started_at < cutoff, runs.c.status != RunStatus.RUNNING, runs.c.id.not_in(open_letters)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)


def run_dict(row: Any) -> dict[str, Any]:
    """Turn a runs row into the stable JSON shape of `history --json` and `show --json`."""
    record: dict[str, Any] = {}
    for key, value in dict(row).items():
        if key in ("scheduled_for", "started_at", "finished_at", "heartbeat_at"):
            record[key] = iso(value)
        elif key in ("result", "params"):
            record[key] = json.loads(value) if value else None
        elif key == "dry_run":
            record[key] = bool(value)
        else:
            record[key] = value
    return record


def iso(ms: int | None) -> str | None:
    """Format epoch milliseconds as ISO 8601 in UTC with its offset."""
    if ms is None:
        return None
    return from_ms(ms).isoformat(timespec="seconds")


def describe_url(url: str) -> str:
    from .redact import Redactor

    return Redactor()(url)


def first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__


def parse_since(value: str, now: datetime) -> datetime:
    """Parse `--since`: an ISO date or instant (UTC when no offset) or a duration ago such as 2h, 7d."""
    from .registry import parse_duration

    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    except ValueError:
        pass
    from datetime import timedelta

    from .errors import RegistryError, UsageError

    try:
        return now - timedelta(seconds=parse_duration(value, "--since"))
    except RegistryError:
        raise UsageError(f"--since: {value!r} is neither a date, an instant nor a duration such as 2h or 7d") from None


__all__: Sequence[str] = ["RunLog", "HistoryFilter", "upgrade", "metadata", "runs", "attempts", "slots", "dead_letters", "meta"]
