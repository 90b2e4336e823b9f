"""`seed_demo` and `cronkit demo seed`: deterministic sample data in the database, Redis, logs."""

from __future__ import annotations

import gzip
import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from cronkit.config.settings import Settings, load_settings
from cronkit.context import TaskContext
from cronkit.errors import UsageError
from cronkit.registry import task_config
from cronkit.runlog.engines import create_engine_for
from cronkit.tasks import platform as p
from cronkit.tasks import registry
from cronkit.tasks.demo import seed_demo
from tests.fixturetypes import RunCli

NOW = datetime(2026, 11, 22, 1, 0, 30, tzinfo=UTC)
class DemoSize(TypedDict):
    """The size of a demo seed, as seed_demo takes it."""

    users: int
    courses: int
    days: int
    seed: int
    large_log_mb: float


SMALL: DemoSize = {"users": 120, "courses": 6, "days": 21, "seed": 7, "large_log_mb": 0.25}


def settings_for(home: Path, **env: str) -> Settings:
    return load_settings(environ={"CRONKIT_HOME": str(home), **env})


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in (p.users, p.courses, p.enrollments, p.activity_events, p.password_reset_tokens)
        }


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_seed_is_deterministic_and_counts_what_it_wrote(tmp_path: Path) -> None:
    first, second = settings_for(tmp_path / "a"), settings_for(tmp_path / "b")
    counts = seed_demo(first, now=NOW, **SMALL)
    assert seed_demo(second, now=NOW, **SMALL) == counts
    e1, e2 = create_engine_for(first.app_db_url), create_engine_for(second.app_db_url)
    try:
        assert dump(e1) == dump(e2)
        assert counts["users"] == count(e1, p.users) == 120
        assert counts["courses"] == count(e1, p.courses) == 6
        assert counts["enrollments"] == count(e1, p.enrollments) > 0
        assert counts["activity_events"] == count(e1, p.activity_events) > 500
        assert counts["unverified_users"] == count(e1, p.users, p.users.c.verified.is_(False)) > 0
        stale = NOW - timedelta(days=30)
        assert (
            counts["stale_unverified_users"]
            == count(e1, p.users, p.users.c.verified.is_(False), p.users.c.created_at < stale)
            > 0
        )
        assert counts["password_reset_tokens"] == count(e1, p.password_reset_tokens) > 0
        assert (
            0
            < counts["expired_password_reset_tokens"]
            == count(e1, p.password_reset_tokens, p.password_reset_tokens.c.expires_at < NOW)
            < counts["password_reset_tokens"]
        )
        # No secret key, no Redis: those parts are skipped, not failed.
        assert (counts["secrets"], counts["refresh_tokens"]) == (0, 0)
        # Events fall inside the window, never in the future, never before their enrollment.
        with e1.connect() as conn:
            lo, hi = conn.execute(
                select(
                    func.min(p.activity_events.c.occurred_at),
                    func.max(p.activity_events.c.occurred_at),
                )
            ).one()
            early = conn.execute(
                select(func.count())
                .select_from(
                    p.activity_events.join(
                        p.enrollments,
                        (p.enrollments.c.user_id == p.activity_events.c.user_id)
                        & (p.enrollments.c.course_id == p.activity_events.c.course_id),
                    )
                )
                .where(p.activity_events.c.occurred_at < p.enrollments.c.enrolled_at)
            ).scalar_one()
        assert datetime(2026, 11, 1, tzinfo=UTC) <= lo and hi < NOW and early == 0
        # The newest course has no enrollments (the analytics show zeros for it).
        assert count(e1, p.enrollments, p.enrollments.c.course_id == 6) == 0
    finally:
        e1.dispose()
        e2.dispose()


def test_weekdays_are_busier_than_weekends(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    seed_demo(settings, now=NOW, users=300, courses=5, days=28, seed=3, large_log_mb=0)
    engine = create_engine_for(settings.app_db_url)
    per_day: dict[int, int] = {}
    with engine.connect() as conn:
        for (at,) in conn.execute(select(p.activity_events.c.occurred_at)):
            per_day[at.weekday()] = per_day.get(at.weekday(), 0) + 1
    engine.dispose()
    weekday = sum(per_day.get(d, 0) for d in range(5)) / 5
    weekend = sum(per_day.get(d, 0) for d in (5, 6)) / 2
    assert weekday > 1.5 * weekend


def test_seed_refuses_existing_data_unless_reset(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    counts = seed_demo(settings, now=NOW, **SMALL)
    with pytest.raises(UsageError, match="already holds 120 users; pass --reset"):
        seed_demo(settings, now=NOW, **SMALL)
    again = seed_demo(settings, now=NOW, reset=True, **SMALL)
    assert again == counts
    with pytest.raises(UsageError, match="at least 1"):
        seed_demo(settings, now=NOW, users=0)


def test_seed_writes_redis_tokens_and_secrets(tmp_path: Path, redis_url: str) -> None:
    import redis

    settings = settings_for(
        tmp_path, CRONKIT_REDIS_URL=redis_url, CRONKIT_SECRET_KEY="demo-key-for-tests-only-123"
    )
    counts = seed_demo(settings, now=NOW, **SMALL)
    client = redis.Redis.from_url(redis_url)
    try:
        assert counts["refresh_tokens"] == client.zcard(p.REFRESH_TOKEN_EXPIRY_ZSET) > 0
        expired = client.zcount(p.REFRESH_TOKEN_EXPIRY_ZSET, "-inf", f"({int(NOW.timestamp())}")
        assert 0 < counts["expired_refresh_tokens"] == expired < counts["refresh_tokens"]
        [first] = client.zrange(p.REFRESH_TOKEN_EXPIRY_ZSET, 0, 0)
        assert isinstance(first, bytes)
        key = first.decode()
        uid = key.split(":")[1]  # `rt:{user_id}:{token_id}`
        assert client.hgetall(key)[b"user_id"] == uid.encode()
        assert client.hexists(p.user_tokens_key(uid), key)
        # --reset replaces the tokens instead of adding to them.
        again = seed_demo(settings, now=NOW, reset=True, **SMALL)
        assert (
            client.zcard(p.REFRESH_TOKEN_EXPIRY_ZSET)
            == again["refresh_tokens"]
            == counts["refresh_tokens"]
        )
    finally:
        client.close()
    assert counts["secrets"] > 0
    engine = create_engine_for(settings.app_db_url)
    assert count(engine, p.secrets) == counts["secrets"]
    engine.dispose()


def test_seed_writes_logs_of_various_ages_and_sizes(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    counts = seed_demo(settings, now=NOW, **SMALL)
    files = {f.name: f for f in settings.log_dir.iterdir()}
    assert len(files) == counts["log_files"]
    assert {"app.log", "app.log.1", "app.log.2.gz", "app.log.14.gz", "api.log"} <= set(files)
    ages = {name: (NOW.timestamp() - f.stat().st_mtime) / 86_400 for name, f in files.items()}
    assert ages["app.log"] < 1 and 1.9 < ages["app.log.2.gz"] < 2.1
    assert sum(1 for age in ages.values() if age > 30) == counts["old_log_files"] == 3
    assert files["api.log"].stat().st_size == int(0.25 * 1024 * 1024)
    assert b"status=" in gzip.decompress(files["app.log.2.gz"].read_bytes())
    assert sum(f.stat().st_size for f in files.values()) == counts["log_bytes"]


def test_the_analytics_tasks_run_on_demo_data(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    seed_demo(settings, now=NOW, **SMALL)
    results = {}
    for name in (
        "hourly-metrics",
        "daily-analytics-updates",
        "weekly-trend-reports",
        "monthly-executive-summaries",
    ):
        task = registry[name]
        ctx = TaskContext(task=name, settings=settings, config=task_config(task, {}), now=NOW)
        results[name] = task.load()(ctx)
        ctx.app_db.dispose()
    engine = create_engine_for(settings.app_db_url)
    start = datetime(2026, 11, 21, tzinfo=UTC)
    ev = p.activity_events.c.occurred_at
    assert (
        results["daily-analytics-updates"]["events"]
        == count(engine, p.activity_events, ev >= start, ev < start + timedelta(days=1))
        > 0
    )
    assert results["daily-analytics-updates"]["day"] == date(2026, 11, 21).isoformat()
    engine.dispose()
    assert results["weekly-trend-reports"]["period"] == "2026-W47"
    assert results["weekly-trend-reports"]["active_students"] > 0
    assert (
        (settings.reports_dir / "weekly-2026-W47.md")
        .read_text()
        .startswith("# Weekly trend report 2026-W47")
    )


def test_cli_demo_seed(run_cli: RunCli, home: Path) -> None:
    done: subprocess.CompletedProcess[str] = run_cli(
        "demo",
        "seed",
        "--users",
        "40",
        "--courses",
        "4",
        "--days",
        "7",
        "--large-log-mb",
        "0",
        "--json",
        env={"CRONKIT_NOW": NOW.isoformat()},
    )
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert (counts["users"], counts["courses"], counts["now"]) == (40, 4, NOW.isoformat())
    assert (home / "platform.db").exists()
    again = run_cli("demo", "seed", "--users", "40")
    assert (again.returncode, again.stdout) == (2, "")
    assert (
        "already holds 40 users; pass --reset" in again.stderr and "Traceback" not in again.stderr
    )
    table = run_cli(
        "demo",
        "seed",
        "--users",
        "40",
        "--courses",
        "4",
        "--days",
        "7",
        "--large-log-mb",
        "0",
        "--reset",
        env={"CRONKIT_NOW": NOW.isoformat()},
    )
    assert table.returncode == 0, table.stderr
    assert "activity events" in table.stdout and f"{counts['activity_events']:,}" in table.stdout
