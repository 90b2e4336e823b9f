"""A singleton runs once: a stalled database, a Redis restart, concurrent dead-letter retries (issue 12)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RedisServer
from tests.faults._run_proxy import Proxy
from tests.faults._run_tasks import cli, journal_files, make_env, start, wait_path
from tests.runhelpers import lease, runs_at


@pytest.fixture
def pg_proxy(pg_url: str) -> Any:
    proxy = Proxy(("127.0.0.1", 5432))
    yield proxy, proxy.url(pg_url)
    proxy.close()


@pytest.mark.slow
def test_a_stalled_postgresql_connection_does_not_block_timeout_or_lease(
        cronkit_env: dict[str, str], tmp_path: Path, home: Path, pg_proxy: Any, redis_url: str) -> None:
    """Scenario: PostgreSQL stops answering (no reset) while a singleton with a Redis lease runs and heartbeats.
    Promise: the Redis lease keeps being renewed, the task's timeout still fires, and the outcome is journaled."""
    proxy, url = pg_proxy
    env = make_env(cronkit_env, tmp_path, CRONKIT_DB_URL=url, CRONKIT_REDIS_URL=redis_url, CRONKIT_LEASE_TTL="2",
                   CRONKIT_HEARTBEAT_INTERVAL="0.3", CRONKIT_FINISH_RETRY="1", GUARDED_TIMEOUT="6s")
    ready = tmp_path / "ready"
    proc = start(env, "run", "guarded", "--param", f"ready={ready}")
    wait_path(ready, proc=proc)
    proxy.set("stall")
    time.sleep(3.0)  # longer than the lease TTL: only renewals keep it
    holder = lease(redis_url, "guarded")
    assert proc.poll() is None and holder is not None and holder["pid"] == proc.pid
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 124, err  # timed out, on its own timeout
    assert "timed out" in err and "kept in" in err
    proxy.set("pass")
    assert len(journal_files(home)) == 1
    result = cli(env, "history", "--json")
    assert [r["status"] for r in json.loads(result.stdout)] == ["timed_out"], result.stderr
    assert journal_files(home) == []
    assert [r["status"] for r in runs_at(url)] == ["timed_out"]


def _host(base: dict[str, str], tmp_path: Path, name: str, db: str, redis_url: str) -> dict[str, str]:
    home = tmp_path / name
    home.mkdir()
    return make_env(base, tmp_path, CRONKIT_HOME=str(home), CRONKIT_HOSTNAME=name, CRONKIT_DB_URL=db,
                    CRONKIT_REDIS_URL=redis_url, CRONKIT_LEASE_TTL="3")


def test_a_redis_restart_does_not_let_a_second_host_run_a_singleton_alongside(
        cronkit_env: dict[str, str], tmp_path: Path, pg_url: str) -> None:
    """Scenario: Redis restarts without persistence while host A runs a singleton; A's renewal comes late
    (its runner paused) and host B, sharing the run log, takes the lease Redis forgot.
    Promise: A stops as soon as it sees the lease gone to B, and B's task starts only after A's has ended.

    The run log is PostgreSQL, as between real hosts: two homes on one SQLite file share its local
    lock (issue 25), which would keep B out before the lease does."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        db = pg_url
        a = _host(cronkit_env, tmp_path, "host-a", db, server.url)
        b = _host(cronkit_env, tmp_path, "host-b", db, server.url)
        a_pid, b_ready, overlap = tmp_path / "a_pid", tmp_path / "b_ready", tmp_path / "overlap"
        proc_a = start(a, "run", "guarded", "--param", f"ready={a_pid}")
        wait_path(a_pid, proc=proc_a)
        os.kill(proc_a.pid, signal.SIGSTOP)  # A's renewal is late (a pause, a slow host)
        try:
            server.stop()
            server.start()
            proc_b = start(b, "run", "guarded", "--param", f"other={a_pid}", "--param", f"overlap={overlap}",
                           "--param", f"ready={b_ready}", "--param", "for=0.2")
            deadline = time.monotonic() + 60
            while (lease(server.url, "guarded") or {}).get("host") != "host-b":
                assert time.monotonic() < deadline and proc_b.poll() is None, proc_b.communicate()
                time.sleep(0.02)
        finally:
            os.kill(proc_a.pid, signal.SIGCONT)
        _, err_a = proc_a.communicate(timeout=60)
        _, err_b = proc_b.communicate(timeout=60)
        assert proc_a.returncode == 69, err_a
        assert "taken over" in err_a
        assert proc_b.returncode == 0, err_b
        assert not overlap.exists(), overlap.read_text()
        records = {r["host"]: r for r in runs_at(db)}
        assert records["host-a"]["status"] == "failed" and records["host-b"]["status"] == "succeeded"
        assert "waiting for it to end" in records["host-b"]["output"]
    finally:
        server.stop()


@pytest.mark.slow
def test_concurrent_retries_of_one_dead_letter_run_the_task_once(cronkit_env: dict[str, str], tmp_path: Path,
                                                                  home: Path) -> None:
    """Scenario: three `cronkit dlq retry` of the same dead letter start at once (a task that is no singleton).
    Promise: one claims the letter and runs the task; the others exit 75 saying who has it."""
    env = make_env(cronkit_env, tmp_path)
    count, flag = tmp_path / "count", tmp_path / "flag"
    first = cli(env, "run", "slowfail", "--param", f"count={count}", "--param", f"flag={flag}", "--param", "for=1")
    assert first.returncode == 1, first.stderr
    [letter] = json.loads(cli(env, "dlq", "list", "--json").stdout)
    flag.touch()
    barrier = threading.Barrier(3)
    results: list[Any] = []

    def retry() -> None:
        barrier.wait()
        results.append(cli(env, "dlq", "retry", str(letter["id"])))

    threads = [threading.Thread(target=retry) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 75, 75], [(r.returncode, r.stderr) for r in results]
    assert len(count.read_text().splitlines()) == 2  # the failed run and one retry
    for r in results:
        if r.returncode == 75:
            assert f"dead letter {letter['id']}" in r.stderr
    [after] = json.loads(cli(env, "dlq", "list", "--all", "--json").stdout)
    assert after["status"] == "resolved"
