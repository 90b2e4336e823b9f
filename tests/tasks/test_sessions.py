"""daily-session-cleanup against a real redis-server and a real SQLite platform database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, insert, select

from cronkit.config.settings import load_settings
from cronkit.context import TaskContext
from cronkit.errors import Cancelled, ServiceUnavailable, UsageError
from cronkit.registry import task_config
from cronkit.tasks import platform, registry
from cronkit.tasks.platform import (
    activity_events,
    courses,
    enrollments,
    password_reset_tokens,
    store_refresh_tokens,
    users,
)
from cronkit.tasks.sessions import daily_session_cleanup
from tests.fixturetypes import RunCli

NOW = datetime(2024, 6, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
EPOCH_NOW = int(NOW.timestamp())


def make_ctx(home: Path, redis_url: str | None, *, params: dict[str, str] | None = None,
             dry_run: bool = False, **config: Any) -> TaskContext:
    task = registry["daily-session-cleanup"]
    env = {"CRONKIT_HOME": str(home)}
    if redis_url:
        env["CRONKIT_REDIS_URL"] = redis_url
    return TaskContext(task=task.name, settings=load_settings(environ=env),
                       config=task_config(task, config), now=NOW, params=params or {},
                       dry_run=dry_run)


def seed(ctx: TaskContext, r: redis.Redis) -> None:
    """Users, their data and tokens on both sides of every cut-off."""
    engine = ctx.app_db
    platform.create_all(engine)
    rows = [
        (1, True, NOW - 100 * DAY),                 # verified, old: never touched
        (2, False, NOW - 30 * DAY - MINUTE),        # unverified past retention: deleted
        (3, False, NOW - 30 * DAY + MINUTE),        # unverified, young: kept
        (4, True, NOW - DAY),                       # verified, young
    ] + [(100 + i, False, NOW - 40 * DAY - i * MINUTE) for i in range(25)]  # more stale ones
    with engine.begin() as conn:
        conn.execute(insert(users), [
            {"id": uid, "email": f"u{uid}@example.org", "verified": ok, "created_at": created}
            for uid, ok, created in rows
        ])
        conn.execute(insert(courses), [{"id": 1, "title": "Python", "created_at": NOW - 200 * DAY}])
        conn.execute(insert(enrollments), [
            {"user_id": uid, "course_id": 1, "enrolled_at": NOW - 20 * DAY, "progress": 0.1}
            for uid in (1, 2, 3, 100, 101)
        ])
        conn.execute(insert(activity_events), [
            {"user_id": uid, "course_id": 1, "kind": "lesson_viewed", "occurred_at": NOW - 2 * DAY,
             "seconds_spent": 60}
            for uid in (1, 2, 2, 3, 100, 124)
        ])
        conn.execute(insert(password_reset_tokens), [
            # user, hash, created, expires, used
            reset(1, "expired-long-ago", NOW - 30 * DAY, NOW - 24 * 60 * MINUTE - MINUTE, None),
            reset(1, "expired-recently", NOW - 30 * DAY, NOW - 24 * 60 * MINUTE + MINUTE, None),
            reset(1, "used-long-ago", NOW - 2 * DAY, NOW + 5 * DAY, NOW - 25 * 60 * MINUTE),
            reset(1, "used-recently", NOW - 2 * DAY, NOW + 5 * DAY, NOW - 23 * 60 * MINUTE),
            reset(1, "still-valid", NOW - 2 * DAY, NOW + 5 * DAY, None),
            reset(4, "user-4-valid", NOW - MINUTE, NOW + DAY, None),
            reset(2, "owned-by-stale-account", NOW - MINUTE, NOW + DAY, None),
        ])
    cutoff = EPOCH_NOW - 7 * 86400
    tokens = [
        ("t-expired-past-retention", 1, cutoff - 1),
        ("t-at-cutoff", 1, cutoff),
        ("t-expired-within-retention", 1, cutoff + 1),
        ("t-live", 1, EPOCH_NOW + 86400),
        ("t-user4-live", 4, EPOCH_NOW + 86400),
        ("t-user4-old", 4, cutoff - 86400),
        ("t-stale-account", 2, EPOCH_NOW + 3600),
        ("t-stale-account-2", 101, EPOCH_NOW + 3600),
        ("t-young-unverified", 3, EPOCH_NOW + 3600),
    ] + [(f"bulk-{i}", 1000 + i % 50, cutoff - 10 - i) for i in range(2500)]
    store_refresh_tokens(r, tokens)


def reset(uid: int, token: str, created: datetime, expires: datetime, used: datetime | None) -> dict[str, Any]:
    return {"user_id": uid, "token_hash": token, "created_at": created, "expires_at": expires,
            "used_at": used}


def reset_hashes(ctx: TaskContext) -> set[str]:
    with ctx.app_db.connect() as conn:
        return set(conn.execute(select(password_reset_tokens.c.token_hash)).scalars())


def user_ids(ctx: TaskContext) -> set[int]:
    with ctx.app_db.connect() as conn:
        return set(conn.execute(select(users.c.id)).scalars())


def count(ctx: TaskContext, table: Any) -> int:
    with ctx.app_db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def redis_dump(r: redis.Redis) -> dict[bytes, Any]:
    keys = list(r.scan_iter(count=1000))
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    kinds = pipe.execute()
    for key, kind in zip(keys, kinds):
        if kind == b"hash":
            pipe.hgetall(key)
        else:
            pipe.zrange(key, 0, -1, withscores=True)
    return dict(zip(keys, pipe.execute()))


def db_dump(ctx: TaskContext) -> dict[str, list[Any]]:
    with ctx.app_db.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(select(t)).all()), key=repr)
                for t in platform.PLATFORM_TABLES}


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_cleans_every_kind_on_the_right_side_of_each_cutoff(tmp_path: Path, redis_url: str,
                                                             r: redis.Redis) -> None:
    ctx = make_ctx(tmp_path, redis_url, batch_size=10)
    seed(ctx, r)

    result = daily_session_cleanup(ctx)

    assert result["refresh_tokens_deleted"] == 2 + 2500
    assert result["unverified_accounts_deleted"] == 26
    assert result["enrollments_deleted"] == 3
    assert result["activity_events_deleted"] == 4
    assert result["account_password_reset_tokens_deleted"] == 1
    assert result["account_refresh_tokens_deleted"] == 2
    assert result["password_reset_tokens_deleted"] == 2
    assert result["redis"] == "ok" and result["dry_run"] is False

    assert user_ids(ctx) == {1, 3, 4}
    assert reset_hashes(ctx) == {"expired-recently", "used-recently", "still-valid", "user-4-valid"}
    with ctx.app_db.connect() as conn:
        assert set(conn.execute(select(enrollments.c.user_id)).scalars()) == {1, 3}
        assert sorted(conn.execute(select(activity_events.c.user_id)).scalars()) == [1, 3]

    kept = {b"rt:1:t-at-cutoff", b"rt:1:t-expired-within-retention", b"rt:1:t-live",
            b"rt:4:t-user4-live", b"rt:3:t-young-unverified"}
    assert set(r.zrange("rt:exp", 0, -1)) == kept
    assert set(r.scan_iter("rt:*")) == kept | {b"rt:exp", b"rt:1", b"rt:3", b"rt:4"}
    assert r.hgetall("rt:1") == {b"rt:1:t-at-cutoff": str(EPOCH_NOW - 7 * 86400).encode(),
                                 b"rt:1:t-expired-within-retention": str(EPOCH_NOW - 7 * 86400 + 1).encode(),
                                 b"rt:1:t-live": str(EPOCH_NOW + 86400).encode()}
    assert r.hkeys("rt:4") == [b"rt:4:t-user4-live"]

    again = daily_session_cleanup(make_ctx(tmp_path, redis_url, batch_size=10))
    assert again["refresh_tokens_deleted"] == 0 and again["unverified_accounts_deleted"] == 0


def test_dry_run_counts_the_same_and_changes_nothing(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    seed(make_ctx(tmp_path, redis_url), r)
    before_db, before_redis = db_dump(make_ctx(tmp_path, redis_url)), redis_dump(r)

    dry = daily_session_cleanup(make_ctx(tmp_path, redis_url, dry_run=True, batch_size=7))

    assert db_dump(make_ctx(tmp_path, redis_url)) == before_db
    assert redis_dump(r) == before_redis
    real = daily_session_cleanup(make_ctx(tmp_path, redis_url, batch_size=7))
    assert {k: v for k, v in dry.items() if k != "dry_run"} == {k: v for k, v in real.items() if k != "dry_run"}


def test_dry_run_does_not_count_twice_what_two_steps_would_remove(tmp_path: Path, redis_url: str,
                                                                   r: redis.Redis) -> None:
    # A stale account's long-dead reset token goes with the old reset tokens, and its refresh
    # token expired past retention goes with the account: the expiry sweep and the account step
    # must not count them again, in a dry run as in the real one.
    ctx = make_ctx(tmp_path, redis_url)
    seed(ctx, r)
    with ctx.app_db.begin() as conn:
        conn.execute(insert(password_reset_tokens), [
            reset(2, "stale-and-dead", NOW - 30 * DAY, NOW - 10 * DAY, None),
            reset(100, "stale-used-long-ago", NOW - 5 * DAY, NOW + 5 * DAY, NOW - 3 * DAY),
        ])
    store_refresh_tokens(r, [("t-stale-expired", 2, EPOCH_NOW - 30 * 86400),
                             ("t-stale-expired-2", 101, EPOCH_NOW - 20 * 86400)])

    dry = daily_session_cleanup(make_ctx(tmp_path, redis_url, dry_run=True, batch_size=7))
    real = daily_session_cleanup(make_ctx(tmp_path, redis_url, batch_size=7))

    assert real["password_reset_tokens_deleted"] == 2 + 2
    assert real["account_password_reset_tokens_deleted"] == 1
    assert real["account_refresh_tokens_deleted"] == 2 + 2 and real["refresh_tokens_deleted"] == 2 + 2500
    assert {k: v for k, v in dry.items() if k != "dry_run"} == {k: v for k, v in real.items() if k != "dry_run"}


def test_one_users_cleanup_leaves_everyone_else_alone(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    ctx = make_ctx(tmp_path, redis_url, params={"user_id": "4"})
    seed(ctx, r)
    before = redis_dump(r)

    result = daily_session_cleanup(ctx)

    assert result == {"user_id": 4, "password_reset_tokens_deleted": 1, "refresh_tokens_deleted": 2,
                      "dry_run": False, "redis": "ok"}
    after = redis_dump(r)
    gone = {b"rt:4:t-user4-live", b"rt:4:t-user4-old", b"rt:4"}
    assert set(before) - set(after) == gone
    assert all(after[k] == before[k] for k in after if k != b"rt:exp")
    assert set(before[b"rt:exp"]) - set(after[b"rt:exp"]) == {
        (b"rt:4:t-user4-live", EPOCH_NOW + 86400.0), (b"rt:4:t-user4-old", EPOCH_NOW - 8 * 86400.0)}
    assert "user-4-valid" not in reset_hashes(ctx) and len(reset_hashes(ctx)) == 6
    assert user_ids(ctx) == {1, 2, 3, 4} | {100 + i for i in range(25)}


def test_an_index_member_that_is_no_token_key_only_loses_its_index_entry(
        tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    # Members not written by store_refresh_tokens: the sweep drops them from rt:exp but never
    # deletes a key they merely name, nor touches anything else.
    cutoff = EPOCH_NOW - 7 * 86400
    store_refresh_tokens(r, [("t-new", 7, cutoff - 5), ("t:with:colons", 7, cutoff - 4),
                             ("t-kept", 7, cutoff + 5)])
    strays = {"session:precious": cutoff - 9, "rt:7": cutoff - 8, "rt:exp": cutoff - 7,
              "rt:x:1": cutoff - 6, "rt:": cutoff - 3}
    r.zadd("rt:exp", strays)
    r.set("session:precious", "keep me")

    result = daily_session_cleanup(make_ctx(tmp_path, redis_url, batch_size=2))

    assert result["refresh_tokens_deleted"] == 2
    assert r.zrange("rt:exp", 0, -1) == [b"rt:7:t-kept"]
    assert r.hkeys("rt:7") == [b"rt:7:t-kept"]
    assert not r.exists("rt:7:t-new", "rt:7:t:with:colons") and r.exists("rt:7:t-kept")
    assert r.get("session:precious") == b"keep me"


def test_a_users_cleanup_deletes_only_that_users_token_keys(tmp_path: Path, redis_url: str,
                                                            r: redis.Redis) -> None:
    store_refresh_tokens(r, [("a", 5, EPOCH_NOW + 60), ("b", 6, EPOCH_NOW + 60)])
    r.hset("rt:5", "session:precious", 1)  # a field that is not one of user 5's token keys
    r.hset("rt:5", "rt:6:b", 1)
    r.set("session:precious", "keep me")

    result = daily_session_cleanup(make_ctx(tmp_path, redis_url, params={"user_id": "5"}))

    assert result["refresh_tokens_deleted"] == 1
    assert not r.exists("rt:5", "rt:5:a")
    assert r.exists("rt:6:b") and r.get("session:precious") == b"keep me"
    assert r.zrange("rt:exp", 0, -1) == [b"rt:6:b"]


def test_redis_down_still_cleans_the_database_then_fails_clearly(tmp_path: Path, redis_url: str,
                                                                  r: redis.Redis) -> None:
    seed(make_ctx(tmp_path, redis_url), r)
    dead = make_ctx(tmp_path, "redis://127.0.0.1:1/0")

    with pytest.raises(ServiceUnavailable) as err:
        daily_session_cleanup(dead)

    message = str(err.value)
    assert message.startswith("daily-session-cleanup: Redis part failed (ConnectionError")
    assert message.endswith("the database cleanup ran and deleted 26 unverified accounts, 3 enrollments, "
                            "4 activity events, 1 reset tokens of those accounts, "
                            "2 old password reset tokens")
    from cronkit.safe.redact import Redactor
    assert Redactor()(message) == message  # nothing in it looks like a secret to the redactor
    assert user_ids(dead) == {1, 3, 4}
    assert r.zcard("rt:exp") == 2509  # Redis untouched



def test_without_redis_configured_only_the_database_is_cleaned(tmp_path: Path, redis_url: str,
                                                                r: redis.Redis) -> None:
    seed(make_ctx(tmp_path, redis_url), r)
    result = daily_session_cleanup(make_ctx(tmp_path, None))
    assert result["redis"] == "not configured"
    assert result["unverified_accounts_deleted"] == 26
    assert r.zcard("rt:exp") == 2509  # a deployment without CRONKIT_REDIS_URL never reaches Redis


def test_cancellation_stops_before_the_next_batch(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    ctx = make_ctx(tmp_path, redis_url, batch_size=5)
    seed(ctx, r)
    ctx.cancel_event.set()
    with pytest.raises(Cancelled):
        daily_session_cleanup(ctx)
    assert len(user_ids(ctx)) == 29 and r.zcard("rt:exp") == 2509


def test_rejects_bad_params(tmp_path: Path, redis_url: str) -> None:
    with pytest.raises(UsageError, match="user_id must be a positive whole number"):
        daily_session_cleanup(make_ctx(tmp_path, redis_url, params={"user_id": "abc"}))
    with pytest.raises(UsageError, match="unknown param 'user'"):
        daily_session_cleanup(make_ctx(tmp_path, redis_url, params={"user": "1"}))


@pytest.mark.slow
def test_cli_run_user_cleanup_and_redis_outage(run_cli: RunCli, cronkit_env: dict[str, str], redis_url: str,
                                               r: redis.Redis) -> None:
    ctx = TaskContext(task="daily-session-cleanup", settings=load_settings(environ=cronkit_env),
                      config={}, now=NOW)
    seed(ctx, r)
    env = {"CRONKIT_REDIS_URL": redis_url, "CRONKIT_ENV": "production"}

    proc = run_cli("run", "daily-session-cleanup", "--param", "user_id=4", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"]["refresh_tokens_deleted"] == 2
    assert not r.exists("rt:4") and r.exists("rt:1")

    down = run_cli("run", "daily-session-cleanup",
                   env={"CRONKIT_REDIS_URL": "redis://127.0.0.1:1/0", "CRONKIT_NOW": NOW.isoformat()})
    assert down.returncode == 69
    assert "Redis part failed" in down.stderr
    assert user_ids(ctx) == {1, 3, 4}  # the database part still ran


def test_dry_run_on_an_empty_platform_database_creates_nothing(tmp_path: Path, redis_url: str) -> None:
    ctx = make_ctx(tmp_path, redis_url, dry_run=True)
    result = daily_session_cleanup(ctx)
    assert result["unverified_accounts_deleted"] == 0 and result["refresh_tokens_deleted"] == 0
    from sqlalchemy import inspect
    assert inspect(ctx.app_db).get_table_names() == []
