"""The learning platform's tables (SQLAlchemy Core) and its Redis refresh-token key layout.

One schema for SQLite and PostgreSQL. Every timestamp column is `UTCDateTime`: Python code
always sees timezone-aware UTC datetimes; PostgreSQL stores `timestamptz`, SQLite stores naive
UTC text (`YYYY-MM-DD HH:MM:SS.ffffff`), which compares correctly as text. Naive datetimes
handed to the database are taken as UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.types import TypeDecorator

from cronkit.runlog.engines import create_engine_for

if TYPE_CHECKING:
    import redis

    from cronkit.config.settings import Settings


class UTCDateTime(TypeDecorator[datetime]):
    """Store instants as UTC: `timestamptz` on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite has no zone-aware type: one text format, naive UTC, so text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# 64-bit ids on PostgreSQL; SQLite needs INTEGER PRIMARY KEY for its rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

# --- the platform's own data -------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("verified", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=True),
    Index("ix_users_created_at", "created_at"),
    Index("ix_users_verified_created_at", "verified", "created_at"),
)

courses = Table(
    "courses",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("course_id", BigId, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("progress", Float, nullable=False, default=0.0),
    Column("completed_at", UTCDateTime, nullable=True),
    UniqueConstraint("user_id", "course_id", name="uq_enrollments_user_course"),
    CheckConstraint("progress >= 0 AND progress <= 1", name="ck_enrollments_progress"),
    Index("ix_enrollments_course_id", "course_id"),
    Index("ix_enrollments_enrolled_at", "enrolled_at"),
    Index("ix_enrollments_completed_at", "completed_at"),
)

activity_events = Table(
    "activity_events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("course_id", BigId, ForeignKey("courses.id", ondelete="CASCADE"), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("seconds_spent", Integer, nullable=False, default=0),
    Index("ix_activity_events_occurred_at", "occurred_at"),
    Index("ix_activity_events_user_id", "user_id"),
    Index("ix_activity_events_course_id", "course_id"),
)

# Event kinds the analytics name; other kinds are counted in totals and in hourly_event_counts.
LESSON_VIEWED = "lesson_viewed"
QUIZ_SUBMITTED = "quiz_submitted"
LESSON_COMPLETED = "lesson_completed"

password_reset_tokens = Table(
    "password_reset_tokens",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_password_reset_tokens_user_id", "user_id"),
    Index("ix_password_reset_tokens_expires_at", "expires_at"),
)

SECRET_ACTIVE = "active"
SECRET_PREVIOUS = "previous"
SECRET_RETIRED = "retired"

secrets = Table(
    "secrets",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    # Erased (NULL) once the version is retired.
    Column("value_encrypted", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("rotate_after", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, default=SECRET_ACTIVE),
    Column("previous_until", UTCDateTime, nullable=True),
    Column("retired_at", UTCDateTime, nullable=True),
    UniqueConstraint("name", "version", name="uq_secrets_name_version"),
    CheckConstraint("status IN ('active', 'previous', 'retired')", name="ck_secrets_status"),
    Index("ix_secrets_status_rotate_after", "status", "rotate_after"),
)

# --- what the analytics tasks fill (primary keys on the period: re-runs replace rows) ----

hourly_metrics = Table(
    "hourly_metrics",
    metadata,
    Column("hour_start", UTCDateTime, primary_key=True),
    Column("active_users", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("time_spent_seconds", BigInteger, nullable=False),
    Column("signups", Integer, nullable=False),
    Column("enrollments", Integer, nullable=False),
    Column("completions", Integer, nullable=False),
)

hourly_event_counts = Table(
    "hourly_event_counts",
    metadata,
    Column("hour_start", UTCDateTime, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("events", Integer, nullable=False),
)

daily_course_stats = Table(
    "daily_course_stats",
    metadata,
    Column("day", Date, primary_key=True),
    Column("course_id", BigId, primary_key=True),
    Column("active_students", Integer, nullable=False),
    Column("new_enrollments", Integer, nullable=False),
    Column("completions", Integer, nullable=False),
    Column("lessons_viewed", Integer, nullable=False),
    Column("enrolled_students", Integer, nullable=False),
    Column("avg_progress", Float, nullable=False),
    Column("time_spent_seconds", BigInteger, nullable=False),
)

daily_student_stats = Table(
    "daily_student_stats",
    metadata,
    Column("day", Date, primary_key=True),
    Column("user_id", BigId, primary_key=True),
    Column("events", Integer, nullable=False),
    Column("time_spent_seconds", BigInteger, nullable=False),
    Column("lessons_completed", Integer, nullable=False),
    Column("courses_active", Integer, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("body", Text, nullable=False),
    Column("markdown", Text, nullable=False),
)

PLATFORM_TABLES = (users, courses, enrollments, activity_events, password_reset_tokens, secrets)
STATS_TABLES = (
    hourly_metrics,
    hourly_event_counts,
    daily_course_stats,
    daily_student_stats,
    reports,
)


def create_all(engine: Engine) -> None:
    """Create every missing table and index; leave existing ones as they are."""
    metadata.create_all(engine, checkfirst=True)


def engine_for(settings: Settings) -> Engine:
    """Open the platform database named by CRONKIT_APP_DB_URL."""
    return create_engine_for(settings.app_db_url)


# --- Redis refresh tokens ----------------------------------------------------------------
# rt:{user_id}:{token_id}  hash: user_id, expires_at (epoch seconds); one key per token
# rt:exp                   sorted set: member = a token's key, score = its expires_at
# rt:{user_id}             hash: field = a token's key, value = its expires_at; the user's tokens
#
# The token's key names its user and is itself the member of both indexes, so the sweep
# deletes the keys it reads from `rt:exp` as they are and finds the user's index by cutting
# the key at the `:` that ends the user id: no hash read, and one string built in Lua per
# token. User ids are whole numbers, so `rt:exp` and `rt:{user_id}` never meet, and a token
# id may hold any character, `:` included.

REFRESH_TOKEN_PREFIX = "rt:"
REFRESH_TOKEN_EXPIRY_ZSET = "rt:exp"
REDIS_BATCH_SIZE = 1000


def user_tokens_key(user_id: int | str) -> str:
    """Return the key of the hash of a user's refresh tokens (`rt:{user_id}`)."""
    uid = int(user_id)
    if uid < 0:
        raise ValueError(f"a user id is a whole number >= 0, got {user_id!r}")
    return f"{REFRESH_TOKEN_PREFIX}{uid}"


def refresh_token_key(user_id: int | str, token_id: str) -> str:
    """Return the key of one refresh token (`rt:{user_id}:{token_id}`)."""
    if not token_id:
        raise ValueError("a refresh token id cannot be empty")
    return f"{user_tokens_key(user_id)}:{token_id}"


def store_refresh_tokens(
    client: redis.Redis,
    rows: Iterable[tuple[str, int, int]],
    batch_size: int = REDIS_BATCH_SIZE,
) -> int:
    """Write (token_id, user_id, expires_at_epoch) rows into all three structures; return the count.

    Each batch goes in one pipeline (one round trip), so a million tokens take a thousand.
    """
    written = 0
    pipe: Any = client.pipeline(transaction=False)
    pending = 0
    for token_id, user_id, expires_at in rows:
        key, expiry = refresh_token_key(user_id, token_id), int(expires_at)
        pipe.hset(key, mapping={"user_id": int(user_id), "expires_at": expiry})
        pipe.zadd(REFRESH_TOKEN_EXPIRY_ZSET, {key: expiry})
        pipe.hset(user_tokens_key(user_id), key, expiry)
        pending += 1
        if pending >= batch_size:
            pipe.execute()
            written += pending
            pending = 0
    if pending:
        pipe.execute()
        written += pending
    return written
