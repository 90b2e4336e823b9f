"""daily-session-cleanup: expired refresh tokens, stale unverified accounts, old reset tokens.

Refresh tokens live in Redis; `cronkit.tasks.refresh_tokens` holds the scripts that remove
them in bounded batches, reading the expiry index from its low end (never a keyspace scan).

Database work runs in batches, one transaction per batch. A batch of unverified accounts is
chosen and deleted under a write lock (`BEGIN IMMEDIATE` on SQLite, `FOR UPDATE SKIP LOCKED`
on PostgreSQL), so an account verified while the batch runs is either left whole or was
already unverified when it was deleted, never half deleted.

Graceful degradation (SPEC 9): when Redis is down or not configured, the database cleanup
still runs; the Redis part is recorded as failed and the run then fails with
ServiceUnavailable (exit 69), naming what was done. Refresh tokens of accounts deleted while
Redis was down stay until they expire and the expiry sweep removes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, false, func, inspect, or_, select
from sqlalchemy.engine import Connection, Engine

from cronkit.context import TaskContext
from cronkit.errors import ConfigError, ServiceUnavailable, UsageError
from cronkit.runlog.engines import create_engine_for
from cronkit.tasks import platform
from cronkit.tasks._support import write_transaction
from cronkit.tasks.platform import (
    REFRESH_TOKEN_EXPIRY_ZSET,
    REFRESH_TOKEN_PREFIX,
    activity_events,
    enrollments,
    password_reset_tokens,
    users,
)
from cronkit.tasks.refresh_tokens import COUNT_USERS, DROP_USERS, RedisPart, sweep_refresh_tokens

TASK = "daily-session-cleanup"
KNOWN_PARAMS = ("user_id",)


def daily_session_cleanup(ctx: TaskContext) -> dict[str, Any]:
    """Remove expired refresh tokens, stale unverified accounts and dead reset tokens."""
    unknown = sorted(set(ctx.params) - set(KNOWN_PARAMS))
    if unknown:
        raise UsageError(f"{TASK}: unknown param {unknown[0]!r} (known: {', '.join(KNOWN_PARAMS)})")
    batch = _positive_int(ctx.config, "batch_size")
    user_id = _user_id(ctx.params["user_id"]) if "user_id" in ctx.params else None
    engine = ctx.app_db
    if not ctx.dry_run:
        platform.create_all(engine)
    elif not _has_schema(engine):
        # A dry run changes nothing, not even by creating tables: an empty database holds
        # nothing to count, so count against an empty in-memory copy of the schema.
        engine = create_engine_for("sqlite://")
        platform.create_all(engine)
    rds = RedisPart(ctx)
    if not ctx.settings.redis_url:
        # A deployment without Redis keeps no refresh tokens there: nothing to sweep, not a failure.
        rds.error = "unused"
    if user_id is not None:
        result = cleanup_user(ctx, engine, rds, user_id)
    else:
        result = cleanup_all(ctx, engine, rds, batch)
    result["dry_run"] = ctx.dry_run
    if rds.error == "unused":
        ctx.logger.info("%s: CRONKIT_REDIS_URL is not set: no refresh tokens to sweep", TASK)
        result["redis"] = "not configured"
        return result
    if rds.error is not None:
        result["redis"] = "failed"
        done = _summary(result)
        ctx.logger.error("%s: Redis part failed, database cleanup done: %s", TASK, done)
        raise ServiceUnavailable(
            f"{TASK}: Redis part failed ({rds.error}); the database cleanup ran and deleted {done}"
        )
    result["redis"] = "ok"
    return result


def cleanup_all(ctx: TaskContext, engine: Engine, rds: RedisPart, batch: int) -> dict[str, Any]:
    """Run the three scheduled cleanups; return counts per kind."""
    now = ctx.reference_time
    config = ctx.config
    token_cutoff = now - timedelta(days=_positive_int(config, "expired_token_retention_days", 0))
    account_days = _positive_int(config, "unverified_account_retention_days")
    account_cutoff = now - timedelta(days=account_days)
    reset_cutoff = now - timedelta(
        hours=_positive_int(config, "password_reset_token_retention_hours", 0)
    )

    result: dict[str, Any] = {}
    result["password_reset_tokens_deleted"] = delete_reset_tokens(ctx, engine, reset_cutoff, batch)
    accounts, swept_with_them = delete_unverified_accounts(
        ctx, engine, rds, account_cutoff, batch, reset_cutoff=reset_cutoff, token_cutoff=token_cutoff
    )
    result.update(accounts)
    # A dry run counts each kind from the untouched data, so what an earlier step would already
    # have removed comes off the later count: the real run's figures, not a sum with overlaps.
    result["refresh_tokens_deleted"] = sweep_refresh_tokens(ctx, rds, token_cutoff, batch) - swept_with_them
    return result


def cleanup_user(ctx: TaskContext, engine: Engine, rds: RedisPart, user_id: int) -> dict[str, Any]:
    """Remove one user's refresh tokens and password reset tokens (after a password change)."""
    result: dict[str, Any] = {"user_id": user_id}
    by_user = password_reset_tokens.c.user_id == user_id
    if ctx.dry_run:
        with engine.connect() as conn:
            result["password_reset_tokens_deleted"] = _count(conn, password_reset_tokens, by_user)
        result["refresh_tokens_deleted"] = rds.counts(
            COUNT_USERS, [], [REFRESH_TOKEN_PREFIX, 0, user_id], 2
        )[0]
    else:
        with engine.begin() as conn:
            result["password_reset_tokens_deleted"] = conn.execute(
                delete(password_reset_tokens).where(by_user)
            ).rowcount
        result["refresh_tokens_deleted"] = rds.run(
            DROP_USERS, [REFRESH_TOKEN_EXPIRY_ZSET],
            [REFRESH_TOKEN_PREFIX, user_id],
        )
    return result


def delete_reset_tokens(ctx: TaskContext, engine: Engine, cutoff: datetime, batch: int) -> int:
    """Delete reset tokens that have been dead (expired or used) since before `cutoff`.

    Tokens still valid are kept whatever their age. Two passes so each one can use the
    expires_at index: long expired, then used long ago but expiring recently.
    """
    t = password_reset_tokens
    total = 0
    for condition in _dead_reset_tokens(cutoff):
        if ctx.dry_run:
            with engine.connect() as conn:
                total += _count(conn, t, condition)
            continue
        while True:
            ctx.check_cancelled()
            chosen = select(t.c.id).where(condition).order_by(t.c.id).limit(batch).scalar_subquery()
            with engine.begin() as conn:
                n = conn.execute(delete(t).where(t.c.id.in_(chosen))).rowcount
            total += n
            if n < batch:
                break
    return total


def _dead_reset_tokens(cutoff: datetime) -> list[Any]:
    """The reset tokens dead since before `cutoff`, as two conditions that each use an index."""
    t = password_reset_tokens
    # used_at IS NOT NULL keeps the second one false, not NULL, for an unused token, so that its
    # negation (a dry run's "still alive") holds for it too.
    used_long_ago = t.c.used_at.is_not(None) & (t.c.used_at < cutoff)
    return [t.c.expires_at < cutoff, (t.c.expires_at >= cutoff) & used_long_ago]


def _owned_tables() -> list[Any]:
    """Tables whose rows belong to a user (user_id column), deleted with the account."""
    tables: list[Any] = [password_reset_tokens, enrollments, activity_events]
    stats = getattr(platform, "daily_student_stats", None)
    if stats is not None:
        tables.append(stats)  # derived per-student rows are the user's data too
    return tables


def delete_unverified_accounts(
    ctx: TaskContext, engine: Engine, rds: RedisPart, cutoff: datetime, batch: int, *,
    reset_cutoff: datetime, token_cutoff: datetime,
) -> tuple[dict[str, int], int]:
    """Delete unverified accounts created before `cutoff` with everything they own.

    Return the counts and, for a dry run, how many of those accounts' refresh tokens expired
    before `token_cutoff` (the expiry sweep would otherwise count them again). A dry run leaves
    out their reset tokens that died before `reset_cutoff`, which delete_reset_tokens counted.
    """
    owned = _owned_tables()
    names = {
        password_reset_tokens.name: "account_password_reset_tokens_deleted",
        enrollments.name: "enrollments_deleted",
        activity_events.name: "activity_events_deleted",
    }
    counts = {"unverified_accounts_deleted": 0, **{v: 0 for v in names.values()},
              "account_refresh_tokens_deleted": 0}
    stale = (users.c.verified == false()) & (users.c.created_at < cutoff)

    if ctx.dry_run:
        expired_tokens = _count_unverified_accounts(
            engine, rds, stale, batch, counts, names,
            reset_cutoff=reset_cutoff, token_cutoff=token_cutoff,
        )
        return counts, expired_tokens

    while True:
        ctx.check_cancelled()
        with write_transaction(engine) as conn:
            query = select(users.c.id).where(stale).order_by(users.c.id).limit(batch)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(conn.execute(query).scalars())
            if not ids:
                break
            for table in owned:
                n = conn.execute(delete(table).where(table.c.user_id.in_(ids))).rowcount
                if table.name in names:
                    counts[names[table.name]] += n
            counts["unverified_accounts_deleted"] += conn.execute(
                delete(users).where(users.c.id.in_(ids))
            ).rowcount
        # After the commit: a failure here leaves tokens of deleted users, which expire.
        counts["account_refresh_tokens_deleted"] += rds.run(
            DROP_USERS, [REFRESH_TOKEN_EXPIRY_ZSET],
            [REFRESH_TOKEN_PREFIX, *ids],
        )
        if len(ids) < batch:
            break
    return counts, 0


def _count_unverified_accounts(
    engine: Engine, rds: RedisPart, stale: Any, batch: int, counts: dict[str, int],
    names: Mapping[str, str], *, reset_cutoff: datetime, token_cutoff: datetime,
) -> int:
    """Fill `counts` with what deleting the `stale` accounts would remove (a dry run).

    Return how many of their refresh tokens expired before `token_cutoff`.
    """
    expired_tokens = 0
    alive = ~or_(*_dead_reset_tokens(reset_cutoff))
    with engine.connect() as conn:
        stale_ids = select(users.c.id).where(stale)
        counts["unverified_accounts_deleted"] = _count(conn, users, stale)
        for table in _owned_tables():
            if table.name in names:
                owned_rows = table.c.user_id.in_(stale_ids)
                if table is password_reset_tokens:
                    owned_rows = owned_rows & alive
                counts[names[table.name]] = _count(conn, table, owned_rows)
        last = 0
        while True:
            page = conn.execute(
                select(users.c.id).where(stale, users.c.id > last)
                .order_by(users.c.id).limit(batch)
            ).scalars().all()
            if not page:
                break
            last = page[-1]
            tokens, expired = rds.counts(
                COUNT_USERS, [], [REFRESH_TOKEN_PREFIX, int(token_cutoff.timestamp()), *page], 2
            )
            counts["account_refresh_tokens_deleted"] += tokens
            expired_tokens += expired
    return expired_tokens


_SUMMARY = (
    ("unverified_accounts_deleted", "unverified accounts"),
    ("enrollments_deleted", "enrollments"),
    ("activity_events_deleted", "activity events"),
    ("account_password_reset_tokens_deleted", "reset tokens of those accounts"),
    ("password_reset_tokens_deleted", "old password reset tokens"),
)


def _summary(result: Mapping[str, Any]) -> str:
    """Say what the database part did in words (no `name=value` pairs the redactor would mask)."""
    return ", ".join(f"{result[key]} {words}" for key, words in _SUMMARY if key in result)


def _has_schema(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names())
    return all(t.name in names for t in (users, password_reset_tokens, enrollments, activity_events))


def _count(conn: Connection, table: Any, condition: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(condition)).scalar() or 0)


def _positive_int(config: Mapping[str, Any], key: str, minimum: int = 1) -> int:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"tasks.{TASK}.{key}: must be a whole number >= {minimum}")
    return value


def _user_id(value: str) -> int:
    try:
        user_id = int(value)
    except ValueError:
        user_id = 0
    if user_id < 1:
        raise UsageError(f"{TASK}: --param user_id must be a positive whole number, got {value!r}")
    return user_id
