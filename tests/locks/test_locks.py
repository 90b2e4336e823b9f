"""Local flock and Redis lease semantics against a real redis-server, and `cronkit unlock`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cronkit.errors import ConfigError
from cronkit.host import hostname
from cronkit.locks import (
    Holder,
    LocalLock,
    LockHeld,
    RedisLease,
    claim_slot,
    lease_key,
)
from tests.fixturetypes import RunCli
from tests.runhelpers import (
    assert_unlocked,
    lease_pid,
    local_lock_free,
    make_registry,
    start,
    wait_for,
)

HOST = hostname()

SLOT = "2026-03-01T10:00:00+00:00"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_local_lock_records_its_holder_and_excludes_others(tmp_path: Path) -> None:
    first, second = LocalLock(tmp_path, "t"), LocalLock(tmp_path, "t")
    first.acquire(Holder.me(7))
    with pytest.raises(LockHeld) as held:
        second.acquire(Holder.me(8))
    assert held.value.holder["run_id"] == 7 and held.value.holder["pid"] == os.getpid()
    assert str(held.value) == f"t: local lock held by host {HOST}, pid {os.getpid()}, run_id 7"
    first.release()
    second.acquire(Holder.me(8))
    second.release()
    assert (tmp_path / "t.lock").read_bytes() == b""  # no stale holder left behind


def test_the_kernel_releases_a_local_lock_with_its_process(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from cronkit.locks import Holder, LocalLock\n"
        f"LocalLock(Path({str(tmp_path)!r}), 't').acquire(Holder.me(1))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert child.returncode == -9, child.stderr  # it took the lock and died holding it
    assert json.loads((tmp_path / "t.lock").read_text())["run_id"] == 1
    lock = LocalLock(tmp_path, "t")
    lock.acquire(Holder.me(2))
    assert json.loads((tmp_path / "t.lock").read_text())["run_id"] == 2
    lock.release()


def test_a_lease_is_exclusive_renewed_and_released_only_by_its_owner(client: redis.Redis) -> None:
    mine, theirs = RedisLease(client, "t", 5000), RedisLease(client, "t", 5000)
    mine.acquire(Holder.me(1))
    with pytest.raises(LockHeld) as held:
        theirs.acquire(Holder.me(2))
    assert held.value.holder["run_id"] == 1 and "Redis lock held by" in str(held.value)
    assert 0 < client.pttl(lease_key("t")) <= 5000
    assert mine.renew() is True
    theirs.release()  # not the owner: nothing happens
    assert client.exists(lease_key("t"))
    mine.release()
    assert not client.exists(lease_key("t"))


def test_a_dead_holder_on_this_host_is_taken_over_but_not_one_elsewhere(client: redis.Redis) -> None:
    client.set(lease_key("t"), json.dumps({"host": HOST, "pid": dead_pid(), "pid_start": 1, "run_id": 1}))
    lease_ = RedisLease(client, "t", 5000)
    lease_.acquire(Holder.me(2))
    held = client.get(lease_key("t"))
    assert held is not None and json.loads(held)["run_id"] == 2
    lease_.release()

    client.set(lease_key("t"), json.dumps({"host": "elsewhere", "pid": dead_pid(), "run_id": 3}))
    with pytest.raises(LockHeld):
        RedisLease(client, "t", 5000).acquire(Holder.me(4))


def test_renewing_takes_a_vanished_lease_again_and_fails_when_another_owns_it(client: redis.Redis) -> None:
    lease_ = RedisLease(client, "t", 5000)
    lease_.acquire(Holder.me(1))
    before = lease_.expires_at
    client.flushdb()  # a Redis restart without persistence
    assert lease_.renew() is True
    assert client.exists(lease_key("t")) and lease_.expires_at >= before
    client.set(lease_key("t"), b"someone else")
    assert lease_.renew() is False


def test_a_slot_is_claimed_once_across_hosts(client: redis.Redis) -> None:
    assert claim_slot(client, "t", 1_000, 5) is None
    assert claim_slot(client, "t", 1_000, 6) == {"host": HOST, "run_id": 5}
    assert claim_slot(client, "t", 2_000, 7) is None


def test_lease_ttl_comes_from_the_environment() -> None:
    from cronkit.config.settings import load_settings

    assert load_settings(environ={}).lease_ttl_ms == 60_000
    assert load_settings(environ={"CRONKIT_LEASE_TTL": "2.5"}).lease_ttl_ms == 2500
    for bad in ("soon", "0", "-3"):
        with pytest.raises(ConfigError, match="lease_ttl"):
            load_settings(environ={"CRONKIT_LEASE_TTL": bad})


# -- cronkit unlock ---------------------------------------------------------------------------------


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path, redis_url: str) -> dict[str, str]:
    return {**cronkit_env, "CRONKIT_TASKS": str(make_registry(tmp_path)), "CRONKIT_REDIS_URL": redis_url,
            "CRONKIT_STOP_GRACE": "0.5"}


def test_unlock_refuses_while_the_holder_is_alive_and_clears_it_once_gone(env: dict[str, str], home: Path, tmp_path: Path, redis_url: str, run_cli: RunCli) -> None:
    ready, release = tmp_path / "ready", tmp_path / "release"
    holder = start(env, "hold", "--param", f"ready={ready}", "--param", f"release={release}", "--param", "for=30")
    wait_for(ready, proc=holder)
    refused = run_cli("unlock", "hold", env=env)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == f"cronkit: error: refusing to unlock hold: pid {holder.pid} on {HOST} (run 1) holds its local lock and is alive\n"
    assert lease_pid(redis_url, "hold") == holder.pid  # untouched

    holder.kill()
    holder.wait(10)
    cleared = run_cli("unlock", "hold", env=env)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout == f"hold: cleared the Redis lease of pid {holder.pid} on {HOST}, run 1, which is gone; the local lock is free\n"
    assert_unlocked(home, "hold", redis_url)

    again = run_cli("unlock", "hold", "--json", env=env)
    assert json.loads(again.stdout) == {"task": "hold", "local": "free", "redis": "free", "holder": None}


def test_unlock_of_a_holder_on_another_host_follows_its_run(env: dict[str, str], home: Path, tmp_path: Path, redis_url: str, run_cli: RunCli) -> None:
    ready = tmp_path / "ready"
    elsewhere = {**env, "CRONKIT_HOSTNAME": "host-x", "CRONKIT_NOW": SLOT}
    holder = start(elsewhere, "hold", "--param", f"ready={ready}", "--param", "for=30")
    wait_for(ready, proc=holder)
    holder.kill()
    holder.wait(10)
    assert local_lock_free(home, "hold")

    soon = run_cli("unlock", "hold", env={**env, "CRONKIT_NOW": "2026-03-01T10:01:00+00:00"})
    assert soon.returncode == 1
    assert soon.stderr == (f"cronkit: error: refusing to unlock hold: the Redis lease holder, pid {holder.pid}"
                           " on host-x (run 1), is still running\n")
    later = run_cli("unlock", "hold", "--json", env={**env, "CRONKIT_NOW": "2026-03-01T10:10:00+00:00"})
    assert later.returncode == 0, later.stderr
    report = json.loads(later.stdout)
    assert report["redis"] == "cleared" and report["holder"]["host"] == "host-x"
    assert_unlocked(home, "hold", redis_url)


def test_unlock_refuses_a_holder_it_cannot_check(env: dict[str, str], run_cli: RunCli, client: redis.Redis) -> None:
    client.set(lease_key("hold"), json.dumps({"host": "far-away", "pid": 4242, "run_id": 99}))
    refused = run_cli("unlock", "hold", env=env)
    assert refused.returncode == 1
    assert "the Redis lease holder, pid 4242 on far-away (run 99), is on another host and not in this run log" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert client.exists(lease_key("hold"))


def test_unlock_without_redis_and_of_an_unknown_task(env: dict[str, str], run_cli: RunCli) -> None:
    local_only = {k: v for k, v in env.items() if k != "CRONKIT_REDIS_URL"}
    result = run_cli("unlock", "hold", env=local_only)
    assert result.returncode == 0 and result.stdout == "hold: not locked (local lock free; no Redis configured)\n"
    unknown = run_cli("unlock", "nope", env=env)
    assert unknown.returncode == 2 and unknown.stderr.startswith("cronkit: error: unknown task 'nope'")


def test_a_redis_database_number_the_server_lacks_is_a_configuration_error(redis_url: str) -> None:
    from cronkit.errors import ConfigError
    from cronkit.locks import RedisLease
    from cronkit.locks.redisconn import connect

    base = redis_url.rsplit("/", 1)[0]
    with pytest.raises(ConfigError, match="redis_url: the database number is out of this server's range"):
        RedisLease(connect(f"{base}/99"), "t", 1000).acquire(Holder.me(1))
