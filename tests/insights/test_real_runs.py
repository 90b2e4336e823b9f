"""Each kind of insight, found in a history written by real `cronkit run` processes.

The task sleeps, fails or allocates as its environment says (INSIGHTS_SLEEP, INSIGHTS_FAIL,
INSIGHTS_ALLOC_MB); the calendar is the pinned clock (CRONKIT_NOW), one run a day (or every six
hours) so that a few dozen runs span weeks. Durations and memory are the real ones the runner
measured; nothing is written to the run log but by the runs themselves.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ..conftest import CRONKIT, write_registry

REGISTRY = """
def _work(ctx):
    keep = b"\\x01" * (int(os.environ.get("INSIGHTS_ALLOC_MB") or 0) << 20)  # written: resident
    time.sleep(float(os.environ.get("INSIGHTS_SLEEP", "0")))
    del keep
    if os.environ.get("INSIGHTS_FAIL") == "1":
        raise RuntimeError("the upstream API answered 502")
    return {}


@registry.task("0 3 * * *", name="export", environments=["*"], timeout=2.0)
def export(ctx):
    return _work(ctx)


@registry.task("0 * * * *", name="hourly", environments=["*"], grace=60)
def hourly(ctx):
    return _work(ctx)
"""

START = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    registry = write_registry(tmp_path / "insight_registry.py", REGISTRY)
    config = tmp_path / "cronkit.toml"
    # Tunables per task (SPEC 16): shorter windows keep these histories a few runs long.
    config.write_text("[tasks.export.insights]\nslow_run_min_runs = 5\n\n"
                      "[tasks.hourly.insights]\nfailure_window = 8\nflapping_window = 8\nlate_window = 6\n")
    return {**cronkit_env, "CRONKIT_TASKS": str(registry), "CRONKIT_CONFIG": str(config)}


def run(env: dict[str, str], task: str, at: datetime, *args: str, **knobs: Any) -> None:
    extra = {f"INSIGHTS_{k.upper()}": str(v) for k, v in knobs.items()}
    done = subprocess.run([CRONKIT, "run", task, *args], env={**env, "CRONKIT_NOW": at.isoformat(), **extra},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr


def insights(env: dict[str, str], at: datetime, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run([CRONKIT, "insights", *args, "--json"], env={**env, "CRONKIT_NOW": at.isoformat()},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)["insights"]
    return found


def kinds(found: list[dict[str, Any]]) -> set[str]:
    return {f["kind"] for f in found}


def test_a_sudden_slow_run_is_a_slow_run(env: dict[str, str]) -> None:
    for day in range(6):
        run(env, "export", START + timedelta(days=day))
    at = START + timedelta(days=6)
    assert insights(env, at + timedelta(hours=1)) == []
    run(env, "export", at, sleep=1.6)
    found = insights(env, at + timedelta(hours=1), "export")
    assert kinds(found) == {"slow_run"}
    slow = found[0]
    assert slow["severity"] in ("warning", "critical") and slow["evidence"]["runs"] == 6
    assert slow["evidence"]["duration_ms"] >= 1600 and slow["since"] == at.isoformat()
    assert slow["message"].startswith(f"run {slow['evidence']['run_id']} took ")


def test_durations_growing_toward_the_timeout_are_a_duration_trend(env: dict[str, str]) -> None:
    for day in range(10):
        run(env, "export", START + timedelta(days=day), sleep=0.12 * day)
    found = insights(env, START + timedelta(days=9, hours=1))
    assert "duration_trend" in kinds(found)
    trend = next(f for f in found if f["kind"] == "duration_trend")
    assert trend["task"] == "export" and trend["evidence"]["limit_ms"] == 2000
    assert 0 < trend["evidence"]["days_to_limit"] <= 14 and trend["evidence"]["runs"] == 10
    assert "timeout in about" in trend["message"] and "a day over 10 runs" in trend["message"]


def test_memory_that_grows_every_run_is_a_memory_trend(env: dict[str, str]) -> None:
    for n in range(10):
        run(env, "export", START + timedelta(hours=6 * n), alloc_mb=10 * n)
    found = insights(env, START + timedelta(hours=55))
    assert "memory_trend" in kinds(found), found
    memory = next(f for f in found if f["kind"] == "memory_trend")
    assert memory["severity"] == "warning" and memory["evidence"]["limit_kb"] is None
    assert memory["evidence"]["per_day"] > 30 * 1024  # about 40 MiB a day, measured by wait4
    assert "peak memory doubles in about" in memory["message"]
    with sqlite3.connect(Path(env["CRONKIT_HOME"]) / "cronkit.db") as db:  # every attempt has its resources
        rows = db.execute("SELECT cpu_user_ms, cpu_system_ms, max_rss_kb FROM attempts").fetchall()
        assert len(rows) == 10 and all(None not in row for row in rows)
        last = db.execute("SELECT max_rss_kb FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
        assert last > 90 * 1024  # the 90 MiB the last run allocated, resident


def test_a_failure_rate_that_jumps_and_flaps(env: dict[str, str]) -> None:
    at = START
    for n in range(6):
        at = START + timedelta(hours=n)
        run(env, "hourly", at)
    for n in range(6, 14):
        at = START + timedelta(hours=n)
        run(env, "hourly", at, fail=(n + 1) % 2)
    found = insights(env, at + timedelta(minutes=30), "hourly")
    assert kinds(found) == {"failure_rate", "flapping"}
    rate = next(f for f in found if f["kind"] == "failure_rate")
    assert rate["evidence"]["recent_failures"] == 4 and rate["evidence"]["earlier_runs"] == 6
    assert rate["evidence"]["p_value"] < 0.01 and rate["since"] == (START + timedelta(hours=6)).isoformat()
    flap = next(f for f in found if f["kind"] == "flapping")
    assert flap["evidence"] == {"changes": 7, "failures": 4, "runs": 8, "earlier_failures": 0, "earlier_runs": 0}


def test_cron_starting_the_task_late_is_late_starts(env: dict[str, str]) -> None:
    for n in range(6):
        slot = START + timedelta(hours=n)
        run(env, "hourly", slot + timedelta(seconds=45), "--trigger", "cron")  # grace 60 s: half is 30 s
    found = insights(env, START + timedelta(hours=6))
    assert kinds(found) == {"late_starts"}
    late = found[0]
    assert late["severity"] == "warning" and late["evidence"]["grace_ms"] == 60_000
    assert 45_000 <= late["evidence"]["p95_ms"] < 46_000 and late["evidence"]["runs"] == 6
