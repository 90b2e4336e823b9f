"""Many hosts fire the same slot: the run that serves it is never stopped by a host that only skips it.

Hosts here are CRONKIT_HOMEs with their own CRONKIT_HOSTNAME, sharing a PostgreSQL run log and a
Redis, each starting `cronkit run TASK --trigger cron` at its own second of one pinned minute
(bench/multihost.py does the same at scale, with kills and Redis restarts).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

from cronkit import runlog
from tests.conftest import CRONKIT, RedisServer, write_registry
from tests.runhelpers import runs_at

SLOT = "2026-03-02T09:00:00+00:00"
SLOT_MS = int(datetime.fromisoformat(SLOT).timestamp() * 1000)
TASKS = '''
def _serve(ctx):
    """Say we started, wait for the test's `release` file (or a stop), then write our line."""
    box = os.environ["SLOT_BOX"]
    with open(os.path.join(box, f"ready-{ctx.settings.hostname}.tmp"), "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(os.path.join(box, f"ready-{ctx.settings.hostname}.tmp"), os.path.join(box, f"ready-{ctx.settings.hostname}"))
    while not os.path.exists(os.path.join(box, "release")):
        ctx.check_cancelled()
        time.sleep(0.02)
    with open(os.path.join(box, "lines"), "a") as fh:
        fh.write(f"{ctx.settings.hostname} {ctx.run_id}\\n")
    return {}


registry.add("* * * * *", _serve, name="slotted", environments=["*"], timeout="120s")
registry.add("* * * * *", _serve, name="slotted-replace", environments=["*"], timeout="120s", concurrency="replace")
'''


def _host(base: dict[str, str], tmp_path: Path, name: str, db: str, redis_url: str, second: int,
          ttl: str) -> dict[str, str]:
    registry = tmp_path / "slot_tasks.py"
    if not registry.exists():
        write_registry(registry, TASKS)
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    return {**base, "CRONKIT_TASKS": str(registry), "CRONKIT_HOME": str(home), "CRONKIT_HOSTNAME": name,
            "CRONKIT_DB_URL": db, "CRONKIT_REDIS_URL": redis_url, "CRONKIT_LEASE_TTL": ttl,
            "CRONKIT_STOP_GRACE": "1", "CRONKIT_NOW": f"2026-03-02T09:00:{second:02d}Z", "SLOT_BOX": str(tmp_path)}


def _fire(env: dict[str, str], task: str) -> subprocess.Popen[str]:
    return subprocess.Popen([CRONKIT, "run", task, "--trigger", "cron"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"ended ({proc.returncode}) before it started its task: {proc.communicate()}")
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def _served_once(tmp_path: Path, db: str, a: subprocess.Popen[str], b: subprocess.CompletedProcess[str]) -> None:
    (tmp_path / "release").touch()
    out, err = a.communicate(timeout=120)
    assert a.returncode == 0, err
    assert b.returncode == 75, b.stderr
    assert (tmp_path / "lines").read_text().splitlines() == ["host-a 1"]
    first, second = runs_at(db)
    assert (first["status"], first["host"]) == ("succeeded", "host-a")
    assert (second["status"], second["host"], second["error"]) == (
        "skipped", "host-b", f"slot {SLOT} already served by run 1 on host-a")


def test_a_late_host_does_not_replace_the_run_serving_its_slot(
        cronkit_env: dict[str, str], tmp_path: Path, pg_url: str, redis_url: str) -> None:
    """Scenario: a task with concurrency="replace" fires on two hosts for one slot; the second starts
    while the first runs it.
    Promise: the second is recorded skipped (the slot is served) and the first is not stopped: the
    slot runs once, where stopping it would have left the slot served by nobody."""
    a = _fire(_host(cronkit_env, tmp_path, "host-a", pg_url, redis_url, 0, "3"), "slotted-replace")
    _wait_for(tmp_path / "ready-host-a", a)
    b = subprocess.run([CRONKIT, "run", "slotted-replace", "--trigger", "cron"], text=True, capture_output=True,
                       env=_host(cronkit_env, tmp_path, "host-b", pg_url, redis_url, 20, "3"), timeout=120)
    time.sleep(1.5)  # past the first run's next lease renewal (TTL/3), where a stop request would reach it
    _served_once(tmp_path, pg_url, a, b)


def test_a_host_that_finds_the_lease_forgotten_does_not_fence_out_the_run_serving_its_slot(
        cronkit_env: dict[str, str], tmp_path: Path, pg_url: str) -> None:
    """Scenario: Redis restarts without persistence while host A runs the slot's task; host B then fires
    the same slot and finds the lease free.
    Promise: B skips without taking the lease (the run log says the slot is served), so A's next renewal
    takes its lease back and A's task completes: the slot runs once instead of not at all."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        a = _fire(_host(cronkit_env, tmp_path, "host-a", pg_url, server.url, 0, "6"), "slotted")
        _wait_for(tmp_path / "ready-host-a", a)
        server.stop()
        server.start()  # no persistence: A's lease is forgotten
        b = subprocess.run([CRONKIT, "run", "slotted", "--trigger", "cron"], text=True, capture_output=True,
                           env=_host(cronkit_env, tmp_path, "host-b", pg_url, server.url, 20, "6"), timeout=120)
        time.sleep(2.5)  # past A's next renewal (every TTL/3 = 2 s), which would find B's lease
        _served_once(tmp_path, pg_url, a, b)
    finally:
        server.stop()


def _pretend_host_x_runs(pg_url: str, redis_url: str, task: str, *, lease: bool) -> int:
    """Record a `running` run of `task` for the slot on host-x, holding the lease, with no slot claim yet."""
    import redis


    store = runlog.open(pg_url, create=True)
    run_id = store.start_run(task=task, trigger="cron", scheduled_for=SLOT_MS, started_at=SLOT_MS + 1000, user="x",
                             pid=1)
    store.sql("UPDATE runs SET host = 'host-x' WHERE id = :id", {"id": run_id})
    store.close()
    if lease:
        client = redis.Redis.from_url(redis_url)
        client.set(f"cronkit:lock:{task}", json.dumps({"host": "host-x", "pid": 1, "run_id": run_id}), px=60_000)
        client.close()
    return run_id


def test_a_replacing_run_spares_a_lease_holder_of_its_own_slot_before_its_claim(
        cronkit_env: dict[str, str], tmp_path: Path, pg_url: str, redis_url: str) -> None:
    """Scenario: host X holds the lease for a slot and has not claimed it yet when host B, for the same
    slot, finds the lease held (concurrency="replace").
    Promise: B skips, saying the slot is being served, and leaves no stop request for X."""
    import redis

    x = _pretend_host_x_runs(pg_url, redis_url, "slotted-replace", lease=True)
    b = subprocess.run([CRONKIT, "run", "slotted-replace", "--trigger", "cron"], text=True, capture_output=True,
                       env=_host(cronkit_env, tmp_path, "host-b", pg_url, redis_url, 20, "3"), timeout=120)
    assert b.returncode == 75, b.stderr
    assert runs_at(pg_url)[-1]["error"] == f"slot {SLOT} is being served by run {x} on host-x"
    client = redis.Redis.from_url(redis_url)
    assert client.get("cronkit:stop:slotted-replace") is None
    client.close()


def test_a_run_fenced_behind_the_run_serving_its_slot_gives_its_lease_back(
        cronkit_env: dict[str, str], tmp_path: Path, pg_url: str, redis_url: str) -> None:
    """Scenario: host B takes a free lease while host X's run of the same slot is still `running` (Redis
    forgot X's lease), so B waits for it; then X claims the slot.
    Promise: B gives the lease back and skips as soon as it sees the claim, not one lease TTL later, so
    X's renewal never finds the lease in other hands."""
    import redis


    x = _pretend_host_x_runs(pg_url, redis_url, "slotted", lease=False)
    b = _fire(_host(cronkit_env, tmp_path, "host-b", pg_url, redis_url, 20, "120"), "slotted")
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while b"host-b" not in (client.get("cronkit:lock:slotted") or b""):  # B holds the lease and waits for X
        assert b.poll() is None and time.monotonic() < deadline, b.communicate()
        time.sleep(0.02)
    store = runlog.open(pg_url, create=True)
    assert store.claim_slot("slotted", SLOT_MS, x) is None
    store.close()
    try:
        _out, err = b.communicate(timeout=60)  # without giving up, B would wait for X up to TTL + 1 = 121 s
    finally:
        b.kill()
    assert b.returncode == 75, err
    assert runs_at(pg_url)[-1]["error"] == f"slot {SLOT} already served by run {x} on host-x"
    assert client.get("cronkit:lock:slotted") is None
    client.close()
