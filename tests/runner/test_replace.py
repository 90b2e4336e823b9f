"""concurrency="replace": a new run stops the running one (TERM, KILL after the grace) and takes over.

On one host through the local lock, across two hosts (two CRONKIT_HOMEs, one Redis, one PostgreSQL
run log) through the Redis lease: exactly one run of the task is live at any time, and the run log
holds both, the first `interrupted` with the id of the run that replaced it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.schema import runs
from tests.conftest import CRONKIT, write_registry

TASK = '''
@registry.task("* * * * *", name="long", environments=["*"], timeout="60s", concurrency="replace")
def long(ctx):
    """Log start and end in the journal; run for `for` seconds, stopping when cancelled."""
    journal = ctx.params["journal"]
    with open(journal, "a") as fh:
        fh.write(f"start {ctx.run_id}\\n")
    try:
        end = time.monotonic() + float(ctx.params["for"])
        while time.monotonic() < end:
            ctx.check_cancelled()
            time.sleep(0.02)
    finally:
        with open(journal, "a") as fh:
            fh.write(f"end {ctx.run_id}\\n")
    return {"ran": ctx.run_id}
'''


def env_for(base: dict[str, str], home: Path, registry: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {**base, "CRONKIT_HOME": str(home), "CRONKIT_TASKS": str(registry), "CRONKIT_STOP_GRACE": "3",
            **extra}


def wait_for(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}")


def records(db_url: str) -> list[dict[str, Any]]:
    engine = create_engine_for(db_url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(runs).order_by(runs.c.id))]
    engine.dispose()
    return rows


def replace_once(first_env: dict[str, str], second_env: dict[str, str], journal: Path) -> tuple[
        subprocess.Popen[str], subprocess.CompletedProcess[str]]:
    args = ["run", "long", "--param", f"journal={journal}"]
    first = subprocess.Popen([CRONKIT, *args, "--param", "for=60"], env=first_env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(journal, "start 1\n")
    second = subprocess.run([CRONKIT, *args, "--param", "for=0.2"], env=second_env, text=True,
                            capture_output=True, timeout=60)
    first.communicate(timeout=60)
    return first, second


def check_record(db_url: str, journal: Path, first: subprocess.Popen[str],
                 second: subprocess.CompletedProcess[str], second_host: str) -> None:
    assert second.returncode == 0, second.stderr
    assert first.returncode == 143
    # Never two live runs: the first ended before the second started.
    assert journal.read_text().splitlines() == ["start 1", "end 1", "start 2", "end 2"]
    one, two = records(db_url)
    assert (one["status"], one["error"]) == ("interrupted", f"replaced by run 2 on {second_host}")
    assert (two["status"], two["error"]) == ("succeeded", None)
    assert "replaced run 1" in (two["output"] or "")


def test_replace_on_one_host(tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    registry = write_registry(tmp_path / "replacetasks.py", TASK)
    env = env_for(cronkit_env, tmp_path / "home", registry, CRONKIT_HOSTNAME="host-a")
    journal = tmp_path / "journal"
    first, second = replace_once(env, env, journal)
    check_record(f"sqlite:///{tmp_path / 'home' / 'cronkit.db'}", journal, first, second, "host-a")


@pytest.mark.slow
def test_replace_across_two_hosts_through_the_redis_lease(
        tmp_path: Path, cronkit_env: dict[str, str], pg_url: str, redis_url: str) -> None:
    registry = write_registry(tmp_path / "replacetasks.py", TASK)
    shared = {"CRONKIT_DB_URL": pg_url, "CRONKIT_REDIS_URL": redis_url, "CRONKIT_LEASE_TTL": "3"}
    a = env_for(cronkit_env, tmp_path / "a", registry, CRONKIT_HOSTNAME="host-a", **shared)
    b = env_for(cronkit_env, tmp_path / "b", registry, CRONKIT_HOSTNAME="host-b", **shared)
    journal = tmp_path / "journal"
    first, second = replace_once(a, b, journal)
    check_record(pg_url, journal, first, second, "host-b")
    import redis

    client = redis.Redis.from_url(redis_url)
    assert client.get("cronkit:lock:long") is None  # the second run released the lease it took over
    client.close()
