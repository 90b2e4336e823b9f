"""One singleton wherever the run log is shared: two homes on one SQLite file, two hosts on PostgreSQL.

Real processes only: two `cronkit run` processes with their own CRONKIT_HOME (and, for
PostgreSQL, their own CRONKIT_HOSTNAME), one run log, no Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from cronkit import runlog
from tests.conftest import CRONKIT
from tests.runhelpers import (
    finish,
    make_registry,
    run_json,
    runs,
    runs_at,
    start,
    wait_for,
    wait_gone,
)


def _home(cronkit_env: dict[str, str], tmp_path: Path, name: str, db_url: str, registry: Path) -> dict[str, str]:
    home = tmp_path / name
    home.mkdir()
    return {**cronkit_env, "CRONKIT_HOME": str(home), "CRONKIT_HOSTNAME": name, "CRONKIT_DB_URL": db_url,
            "CRONKIT_TASKS": str(registry), "CRONKIT_STOP_GRACE": "0.5"}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRONKIT, "run", *args, "--json"], env=env, capture_output=True, text=True, timeout=60)


def test_two_homes_on_one_sqlite_file_run_one_singleton(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    url = f"sqlite:///{shared / 'runs.db'}"
    registry = make_registry(tmp_path)
    first_home = _home(cronkit_env, tmp_path, "first", url, registry)
    # the second home reaches the same file through a symlink: still the same run log
    (tmp_path / "link").symlink_to(shared)
    second_home = _home(cronkit_env, tmp_path, "second", f"sqlite:///{tmp_path / 'link' / 'runs.db'}", registry)
    ready, release = tmp_path / "ready", tmp_path / "release"
    first = start(first_home, "hold", "--param", f"ready={ready}", "--param", f"release={release}",
                  "--param", "for=30")
    wait_for(ready, proc=first)

    second = _run(second_home, "hold")
    assert second.returncode == 75, second.stderr
    skipped = run_json(second)
    assert skipped["status"] == "skipped" and f"pid {first.pid}" in skipped["error"]
    assert (shared / "runs.db.locks" / "hold.lock").exists()
    assert not (tmp_path / "second" / "locks").exists() and not (tmp_path / "first" / "locks").exists()

    release.touch()
    code, _, err = finish(first)
    assert code == 0, err
    again = _run(second_home, "hold")
    assert again.returncode == 0, again.stderr
    assert [r["status"] for r in runs(shared / "runs.db")] == ["succeeded", "skipped", "succeeded"]


def test_the_default_run_log_keeps_its_locks_in_the_home(cronkit_env: dict[str, str], home: Path,
                                                         tmp_path: Path) -> None:
    env = {**cronkit_env, "CRONKIT_TASKS": str(make_registry(tmp_path))}
    assert _run(env, "hold").returncode == 0
    assert (home / "locks" / "hold.lock").exists()


def test_two_hosts_on_one_postgresql_run_log_without_redis_run_one_singleton(
        cronkit_env: dict[str, str], tmp_path: Path, pg_url: str) -> None:
    registry = make_registry(tmp_path)
    host_a = _home(cronkit_env, tmp_path, "host-a", pg_url, registry)
    host_b = _home(cronkit_env, tmp_path, "host-b", pg_url, registry)
    ready, release = tmp_path / "ready", tmp_path / "release"
    first = start(host_a, "hold", "--param", f"ready={ready}", "--param", f"release={release}",
                  "--param", "for=30")
    task_pid = int(wait_for(ready, proc=first))

    second = _run(host_b, "hold")
    assert second.returncode == 75, second.stderr
    error = run_json(second)["error"]
    assert error.startswith("PostgreSQL lock held by host host-a") and "run_id 1" in error, error
    # a task that is not a singleton runs on both hosts; a task whose lock is per host too
    assert _run(host_b, "hold-many").returncode == 0

    # the holder dies (kill -9): the server ends its session and frees the lock, no TTL to wait for
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert wait_gone(task_pid)
    third = _run(host_b, "hold")
    assert third.returncode == 0, third.stderr
    statuses = {r["id"]: r["status"] for r in runs_at(pg_url)}
    assert statuses[2] == "skipped" and statuses[max(statuses)] == "succeeded"


def test_a_released_postgresql_lock_lets_the_other_host_run(cronkit_env: dict[str, str], tmp_path: Path,
                                                            pg_url: str) -> None:
    registry = make_registry(tmp_path)
    host_a = _home(cronkit_env, tmp_path, "host-a", pg_url, registry)
    host_b = _home(cronkit_env, tmp_path, "host-b", pg_url, registry)
    for env in (host_a, host_b, host_a):
        done = _run(env, "hold")
        assert done.returncode == 0, done.stderr
    assert [r["status"] for r in runs_at(pg_url)] == ["succeeded"] * 3


def test_catch_up_leaves_a_task_whose_advisory_lock_another_host_holds(pg_url: str, tmp_path: Path) -> None:
    """`cronkit check` defers a missed slot while the task runs on another host, as it does for a Redis lease."""
    from cronkit.config.settings import load_settings
    from cronkit.duties.check import _busy
    from cronkit.locks.postgres import AdvisoryLock
    from cronkit.registry import Registry
    from cronkit.runlog.engines import create_engine_for

    runlog.open(pg_url, create=True).close()
    settings = load_settings({"home": str(tmp_path / "h"), "db_url": pg_url}, environ={})
    task = Registry().add("0 * * * *", "mod:func", name="hourly")
    engine = create_engine_for(pg_url)
    other_host = AdvisoryLock(engine, "hourly", 7)
    try:
        other_host.acquire()
        busy = _busy(settings, task)
        assert busy is not None and busy.startswith("left for the next check: hourly: PostgreSQL lock held")
    finally:
        other_host.release()
        engine.dispose()
    assert _busy(settings, task) is None
