"""The platform schema on SQLite and PostgreSQL, and the Redis refresh-token layout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from cronkit.runlog.engines import create_engine_for
from cronkit.tasks import platform as p


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty platform database; on PostgreSQL a schema of this test's own, dropped after."""
    if request.param == "sqlite":
        eng = create_engine_for(f"sqlite:///{tmp_path / 'platform.db'}")
        yield eng
        eng.dispose()
        return
    eng = create_engine_for(request.getfixturevalue("pg_url"))
    yield eng
    eng.dispose()


def test_create_all_is_idempotent_and_makes_every_table(engine: Engine) -> None:
    p.create_all(engine)
    p.create_all(engine)
    names = set(inspect(engine).get_table_names())
    assert {t.name for t in (*p.PLATFORM_TABLES, *p.STATS_TABLES)} <= names
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("activity_events")}
    assert "ix_activity_events_occurred_at" in indexes


def test_timestamps_round_trip_as_aware_utc(engine: Engine) -> None:
    p.create_all(engine)
    paris = timezone(timedelta(hours=1))
    with engine.begin() as conn:
        conn.execute(
            insert(p.users),
            [
                {
                    "id": 1,
                    "email": "a@x.test",
                    "verified": True,
                    "created_at": datetime(2026, 11, 20, 14, 30, tzinfo=paris),
                },
                # Naive values are taken as UTC.
                {
                    "id": 2,
                    "email": "b@x.test",
                    "verified": False,
                    "created_at": datetime(2026, 11, 20, 13, 30, 0, 5),
                },
            ],
        )
        got = conn.execute(
            select(p.users.c.id, p.users.c.created_at, p.users.c.verified).order_by("id")
        ).all()
        assert got == [
            (1, datetime(2026, 11, 20, 13, 30, tzinfo=UTC), True),
            (2, datetime(2026, 11, 20, 13, 30, 0, 5, tzinfo=UTC), False),
        ]
        assert all(row[1].tzinfo is UTC for row in got)
        # Comparisons happen in UTC whatever the zone of the bound value.
        later = (
            conn.execute(
                select(p.users.c.id).where(
                    p.users.c.created_at > datetime(2026, 11, 20, 14, 30, tzinfo=paris)
                )
            )
            .scalars()
            .all()
        )
        assert later == [2]


def test_constraints(engine: Engine) -> None:
    p.create_all(engine)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(p.secrets),
            [
                {
                    "name": "jwt",
                    "version": 1,
                    "value_encrypted": b"x",
                    "created_at": now,
                    "rotate_after": now,
                    "status": "active",
                }
            ],
        )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(p.secrets),
            [
                {
                    "name": "jwt",
                    "version": 1,
                    "value_encrypted": None,
                    "created_at": now,
                    "rotate_after": now,
                    "status": "active",
                }
            ],
        )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(p.secrets),
            [
                {
                    "name": "jwt",
                    "version": 2,
                    "value_encrypted": None,
                    "created_at": now,
                    "rotate_after": now,
                    "status": "stale",
                }
            ],
        )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(p.activity_events),
            [
                {
                    "user_id": 999,
                    "course_id": None,
                    "kind": "login",
                    "occurred_at": now,
                    "seconds_spent": 0,
                }
            ],
        )


def test_deleting_a_user_cascades(engine: Engine) -> None:
    p.create_all(engine)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(p.users), [{"id": 1, "email": "a@x.test", "verified": False, "created_at": now}]
        )
        conn.execute(insert(p.courses), [{"id": 1, "title": "A", "created_at": now}])
        conn.execute(
            insert(p.enrollments),
            [{"user_id": 1, "course_id": 1, "enrolled_at": now, "progress": 0.5}],
        )
        conn.execute(
            insert(p.activity_events),
            [
                {
                    "user_id": 1,
                    "course_id": 1,
                    "kind": "login",
                    "occurred_at": now,
                    "seconds_spent": 0,
                }
            ],
        )
        conn.execute(
            insert(p.password_reset_tokens),
            [{"user_id": 1, "token_hash": "h", "created_at": now, "expires_at": now}],
        )
        conn.execute(p.users.delete())
        for table in (p.enrollments, p.activity_events, p.password_reset_tokens):
            assert conn.execute(select(table)).all() == []


def test_store_refresh_tokens_writes_the_three_structures(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    rows = [(f"t{i}", i % 3, 1_700_000_000 + i) for i in range(2500)]
    assert p.store_refresh_tokens(client, iter(rows), batch_size=1000) == 2500
    assert client.hgetall("rt:1:t7") == {b"user_id": b"1", b"expires_at": b"1700000007"}
    assert client.zcard(p.REFRESH_TOKEN_EXPIRY_ZSET) == 2500
    assert client.zscore("rt:exp", "rt:0:t2499") == 1_700_002_499  # member: the token's key
    assert client.hlen("rt:0") == 834 and client.hget("rt:2", "rt:2:t5") == b"1700000005"
    assert p.refresh_token_key("2", "a:b") == "rt:2:a:b" and p.user_tokens_key(2) == "rt:2"
    with pytest.raises(ValueError):
        p.refresh_token_key(1, "")
    with pytest.raises(ValueError):
        p.user_tokens_key(-1)
    assert p.store_refresh_tokens(client, []) == 0
    client.close()
