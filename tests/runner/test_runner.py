"""`cronkit run` under real life: concurrent runs, two hosts, kill -9, signals, timeouts, Redis outages.

Every test drives the installed `cronkit` executable as a subprocess against real SQLite files and a
real redis-server, and checks the run record, the exit code and that no lock stays held.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CRONKIT, RedisServer
from tests.fixturetypes import RunCli
from tests.runhelpers import (
    assert_unlocked,
    attempts,
    finish,
    gone,
    lease,
    lease_pid,
    letters,
    local_lock_free,
    make_registry,
    pids_of,
    run_json,
    runs,
    runs_at,
    start,
    wait_for,
    wait_gone,
)

SLOT = "2026-03-01T10:00:00+00:00"


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**cronkit_env, "CRONKIT_TASKS": str(make_registry(tmp_path)), "CRONKIT_STOP_GRACE": "0.5"}


@pytest.fixture
def db(home: Path) -> Path:
    return home / "cronkit.db"


def test_second_run_of_a_singleton_is_skipped_with_the_holder(env: dict[str, str], home: Path, db: Path, tmp_path: Path, redis_url: str) -> None:
    env = {**env, "CRONKIT_REDIS_URL": redis_url}
    ready, release = tmp_path / "ready", tmp_path / "release"
    first = start(env, "hold", "--param", f"ready={ready}", "--param", f"release={release}", "--param", "for=20")
    wait_for(ready, proc=first)

    second = subprocess.run([CRONKIT, "run", "hold", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 75, second.stderr
    assert run_json(second)["status"] == "skipped"
    release.touch()
    code, out, err = finish(first)
    assert code == 0, err

    held, skipped = runs(db)
    assert held["status"] == "succeeded" and held["exit_code"] == 0
    assert skipped["status"] == "skipped" and skipped["exit_code"] == 75
    # The record names the holder: host, pid and run id.
    assert f"host {held['host']}" in skipped["error"]
    assert f"pid {first.pid}" in skipped["error"] and f"run_id {held['id']}" in skipped["error"]
    assert_unlocked(home, "hold", redis_url)


def test_manual_skip_prints_the_reason(env: dict[str, str], home: Path, tmp_path: Path, run_cli: RunCli) -> None:
    ready, release = tmp_path / "ready", tmp_path / "release"
    first = start(env, "hold", "--param", f"ready={ready}", "--param", f"release={release}", "--param", "for=20")
    wait_for(ready, proc=first)
    second = run_cli("run", "hold", env=env)
    release.touch()
    assert finish(first)[0] == 0
    assert second.returncode == 75
    assert second.stdout == ""
    assert second.stderr.startswith("hold skipped: local lock held by host ")
    assert len(second.stderr.splitlines()) == 1
    assert_unlocked(home, "hold")


def _host(env: dict[str, str], tmp_path: Path, name: str, shared_db: str | None, redis_url: str) -> dict[str, str]:
    """The environment of one simulated host: its own home and host name, shared Redis, pinned clock."""
    home = tmp_path / name
    home.mkdir()
    host = {**env, "CRONKIT_HOME": str(home), "CRONKIT_HOSTNAME": name, "CRONKIT_REDIS_URL": redis_url,
            "CRONKIT_NOW": SLOT}
    if shared_db is not None:
        host["CRONKIT_DB_URL"] = shared_db
    return host


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A run log several hosts share: a SQLite file, or a fresh schema on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.mark.slow
def test_two_hosts_firing_the_same_slot_run_the_task_once(env: dict[str, str], tmp_path: Path, redis_url: str, shared_log: str) -> None:
    count = tmp_path / "count"
    hosts = [_host(env, tmp_path, name, shared_log, redis_url) for name in ("host-a", "host-b")]
    args = ("hold", "--trigger", "cron", "--param", f"count={count}", "--param", "for=0.5", "--json")
    procs = [start(h, *args) for h in hosts]
    results = [finish(p) for p in procs]

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 75], results
    assert len(count.read_text().splitlines()) == 1  # the task ran once
    records = runs_at(shared_log)
    assert sorted(r["status"] for r in records) == ["skipped", "succeeded"]
    assert {r["host"] for r in records} == {"host-a", "host-b"}
    assert all(r["scheduled_for"] == records[0]["scheduled_for"] for r in records)
    skipped = next(r for r in records if r["status"] == "skipped")
    winner = next(r for r in records if r["status"] == "succeeded")
    # Whichever guard stopped it (the Redis lease while the winner ran, or the slot after), it names the winner.
    assert winner["host"] in skipped["error"] and str(winner["id"]) in skipped["error"]
    for h in hosts:
        assert_unlocked(Path(h["CRONKIT_HOME"]), "hold", redis_url)


@pytest.mark.slow
def test_two_hosts_with_separate_run_logs_share_the_slot_through_redis(env: dict[str, str], tmp_path: Path, redis_url: str, run_cli: RunCli) -> None:
    count = tmp_path / "count"
    host_a, host_b = (_host(env, tmp_path, name, None, redis_url) for name in ("host-a", "host-b"))
    args = ("run", "hold", "--trigger", "cron", "--param", f"count={count}")
    first = run_cli(*args, env=host_a)
    assert first.returncode == 0 and first.stdout == "" and first.stderr == ""  # cron success is quiet
    second = run_cli(*args, env=host_b)
    assert second.returncode == 75 and second.stdout == "" and second.stderr == ""  # a cron skip too

    [ran] = runs(Path(host_a["CRONKIT_HOME"]) / "cronkit.db")
    [skipped] = runs(Path(host_b["CRONKIT_HOME"]) / "cronkit.db")
    assert ran["status"] == "succeeded" and ran["trigger"] == "cron"
    assert skipped["status"] == "skipped" and skipped["exit_code"] == 75
    assert skipped["error"] == f"slot {SLOT} already served by run {ran['id']} on host-a"
    assert len(count.read_text().splitlines()) == 1
    # The same host firing the slot again (clock stepped back) does not run it either.
    again = run_cli(*args, env=host_a)
    assert again.returncode == 75
    assert runs(Path(host_a["CRONKIT_HOME"]) / "cronkit.db")[-1]["error"] == f"slot {SLOT} already served by run {ran['id']} on host-a"
    assert len(count.read_text().splitlines()) == 1
    for h in (host_a, host_b):
        assert_unlocked(Path(h["CRONKIT_HOME"]), "hold", redis_url)


@pytest.mark.slow
def test_kill_9_of_the_runner_then_a_new_run(env: dict[str, str], home: Path, db: Path, tmp_path: Path, redis_url: str, run_cli: RunCli) -> None:
    env = {**env, "CRONKIT_REDIS_URL": redis_url}
    ready = tmp_path / "ready"
    victim = start(env, "hold", "--param", f"ready={ready}", "--param", "for=30")
    task_pid = int(wait_for(ready, proc=victim))
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert wait_gone(task_pid), "the task process outlived its runner"
    assert local_lock_free(home, "hold")  # the kernel released the flock with the process
    assert lease_pid(redis_url, "hold") == victim.pid  # the lease lingers until its TTL...

    history = run_cli("history", "--json", env=env)
    assert history.returncode == 0, history.stderr
    [old] = json.loads(history.stdout)
    assert old["status"] == "lost" and old["exit_code"] is None
    assert old["error"] == "the run's process died without recording an outcome"

    again = run_cli("run", "hold", "--json", env=env)  # ...but a dead holder on this host is taken over
    assert again.returncode == 0, again.stderr
    assert run_json(again)["status"] == "succeeded"
    assert [r["status"] for r in runs(db)] == ["lost", "succeeded"]
    assert_unlocked(home, "hold", redis_url)


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_signal_interrupts_the_run(env: dict[str, str], home: Path, db: Path, tmp_path: Path, redis_url: str, sig: signal.Signals, code: int, name: str) -> None:
    env = {**env, "CRONKIT_REDIS_URL": redis_url, "CRONKIT_STOP_GRACE": "20"}
    ready = tmp_path / "ready"
    proc = start(env, "hold", "--param", f"ready={ready}", "--param", "for=30")
    task_pid = int(wait_for(ready, proc=proc))
    proc.send_signal(sig)
    returncode, out, err = finish(proc)
    assert returncode == code
    assert gone(task_pid)
    [run] = runs(db)
    assert run["status"] == "interrupted" and run["exit_code"] == code
    assert run["error"] == f"interrupted by {name}"
    assert f"hold interrupted: interrupted by {name}" in err
    # The task saw its cancellation flag and stopped by itself, well inside the 20 s grace period.
    assert run["duration_ms"] < 15_000
    assert letters(db) == []  # an interrupted run is not a dead letter
    assert_unlocked(home, "hold", redis_url)


def test_a_task_that_ignores_sigterm_is_still_stopped(env: dict[str, str], home: Path, db: Path, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    proc = start(env, "stubborn", "--param", f"ready={ready}")
    task_pid = int(wait_for(ready, proc=proc))
    proc.send_signal(signal.SIGTERM)
    returncode, _, _ = finish(proc)
    assert returncode == 143
    assert gone(task_pid)
    [run] = runs(db)
    assert run["status"] == "interrupted" and run["exit_code"] == 143
    assert_unlocked(home, "stubborn")


def test_a_task_stuck_in_a_child_process_times_out(env: dict[str, str], home: Path, db: Path, tmp_path: Path, redis_url: str, run_cli: RunCli) -> None:
    env = {**env, "CRONKIT_REDIS_URL": redis_url}
    secs = f"600.{uuid.uuid4().int % 10**9}"  # a sleep no one else runs
    ready = tmp_path / "ready"
    proc = start(env, "stuck", "--param", f"ready={ready}", "--param", f"secs={secs}")
    task_pid = int(wait_for(ready, proc=proc))
    deadline = time.monotonic() + 10
    while not pids_of(f"sleep {secs}") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    returncode, out, err = finish(proc)
    assert returncode == 124
    assert "stuck timed_out: timed out after 1.5s" in err
    assert gone(task_pid)
    assert pids_of(f"sleep {secs}") == []  # the task's own child went with it
    [run] = runs(db)
    assert run["status"] == "timed_out" and run["exit_code"] == 124
    [letter] = letters(db)
    assert letter["run_id"] == run["id"] and letter["error"] == "timed out after 1.5s"
    assert_unlocked(home, "stuck", redis_url)


@pytest.mark.slow
@pytest.mark.parametrize("hang", [False, True], ids=["returns", "times-out"])
def test_processes_the_task_detached_from_its_group_are_stopped_too(env: dict[str, str], home: Path, db: Path, tmp_path: Path, hang: bool) -> None:
    secs = f"600.{uuid.uuid4().int % 10**9}"  # a sleep no one else runs
    ready, release = tmp_path / "ready", tmp_path / "release"
    if hang:  # its 3 s timeout may pass before this test looks: the run's output says what it killed
        proc = start(env, "detach-hang", "--param", f"ready={ready}", "--param", f"secs={secs}")
    else:
        proc = start(env, "detach", "--param", f"ready={ready}", "--param", f"secs={secs}",
                     "--param", f"release={release}")
        wait_for(ready, proc=proc)
        deadline = time.monotonic() + 10  # a double fork may still be on its way to exec on a loaded host
        while len(pids_of(f"sleep {secs}")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(pids_of(f"sleep {secs}")) == 2  # both running, each in a session of its own
        release.touch()
    returncode, out, err = finish(proc)
    assert returncode == (124 if hang else 0), err
    assert pids_of(f"sleep {secs}") == []  # setsid and a dead parent did not take them out of reach
    [run] = runs(db)
    assert "killed 2 process(es) the task left running outside its process group" in run["output"]


def test_redis_down_before_a_run_fails_closed_or_falls_back(env: dict[str, str], home: Path, db: Path, tmp_path: Path, redis_server: RedisServer, redis_url: str, run_cli: RunCli) -> None:
    env = {**env, "CRONKIT_REDIS_URL": redis_url}
    redis_server.stop()
    try:
        closed = run_cli("run", "hold", env=env)
        fallback = run_cli("run", "hold-fallback", "--json", env=env)
    finally:
        redis_server.start()
    assert closed.returncode == 69
    # cronkit's words for the failure, whatever redis-py's release says about it
    assert closed.stderr.startswith("hold failed: hold: Redis unavailable: connection refused (")
    assert "needs the Redis lock (fail closed)" in closed.stderr
    assert fallback.returncode == 0, fallback.stderr
    shut, fell_back = runs(db)
    assert shut["status"] == "failed" and shut["exit_code"] == 69 and shut["attempts"] == 0
    [letter] = letters(db)
    assert letter["run_id"] == shut["id"] and letter["attempts"] == 0
    assert fell_back["status"] == "succeeded" and fell_back["exit_code"] == 0
    assert "running without the Redis lock (redis_fallback)" in fell_back["output"]
    assert_unlocked(home, "hold", redis_url)
    assert_unlocked(home, "hold-fallback", redis_url)


@pytest.mark.slow
@pytest.mark.parametrize("outage", ["stopped", "hung"])
def test_redis_lost_mid_run_stops_the_task_before_its_lease_expires(env: dict[str, str], home: Path, db: Path, tmp_path: Path, redis_server: RedisServer, redis_url: str, run_cli: RunCli, outage: str) -> None:
    env = {**env, "CRONKIT_REDIS_URL": redis_url, "CRONKIT_LEASE_TTL": "2", "CRONKIT_STOP_GRACE": "0.3"}
    ready = tmp_path / "ready"
    proc = start(env, "hold", "--param", f"ready={ready}", "--param", "for=30")
    try:
        task_pid = int(wait_for(ready, proc=proc))
        assert lease_pid(redis_url, "hold") == proc.pid
        if outage == "stopped":
            redis_server.stop()
        else:  # a network partition: connections stay open, nothing answers
            assert redis_server.proc is not None
            redis_server.proc.send_signal(signal.SIGSTOP)
        returncode, out, err = finish(proc)
    finally:
        if redis_server.proc is None:
            redis_server.start()
        else:
            redis_server.proc.send_signal(signal.SIGCONT)
    assert returncode == 69
    assert gone(task_pid)
    [run] = runs(db)
    assert run["status"] == "failed" and run["exit_code"] == 69
    # cronkit's words for the outage (redis-py's own text, which changes between its releases,
    # follows in parentheses): a stopped server refuses, a hung one leaves the renewal unanswered.
    said = "no answer in time" if outage == "hung" else "connection"
    assert run["error"].startswith(f"the Redis lease could not be renewed (Redis unavailable: {said}")
    if outage == "hung":
        # Commands queued while Redis hung may have renewed it once more; it expires by itself.
        deadline = time.monotonic() + 10
        while lease(redis_url, "hold") is not None and time.monotonic() < deadline:
            time.sleep(0.1)
    assert run["error"].endswith("stopped the task before its lease could expire, so that no other host runs it at the same time")
    assert "the task is stopped unless the lease is renewed in time" in run["output"]
    assert [a["status"] for a in attempts(db, run["id"])] == ["failed"]
    assert letters(db)[0]["run_id"] == run["id"]
    assert_unlocked(home, "hold", redis_url)
    again = run_cli("run", "hold", env=env)  # Redis is back: the task runs again
    assert again.returncode == 0, again.stderr


@pytest.mark.slow
def test_redis_down_mid_run_of_a_fallback_task_goes_on(env: dict[str, str], home: Path, db: Path, tmp_path: Path, redis_server: RedisServer, redis_url: str) -> None:
    env = {**env, "CRONKIT_REDIS_URL": redis_url, "CRONKIT_LEASE_TTL": "1.5"}
    ready, release = tmp_path / "ready", tmp_path / "release"
    proc = start(env, "hold-fallback", "--param", f"ready={ready}", "--param", f"release={release}", "--param", "for=30")
    try:
        wait_for(ready, proc=proc)
        redis_server.stop()
        time.sleep(2.5)  # past the lease TTL: a fail-closed task would have been stopped by now
        assert proc.poll() is None
        release.touch()
        returncode, out, err = finish(proc)
    finally:
        if redis_server.proc is None:
            redis_server.start()
    assert returncode == 0, err
    [run] = runs(db)
    assert run["status"] == "succeeded"
    assert "going on under the local lock (redis_fallback)" in run["output"]
    assert_unlocked(home, "hold-fallback", redis_url)


def test_a_transient_error_succeeds_on_the_third_attempt(env: dict[str, str], home: Path, db: Path, tmp_path: Path, run_cli: RunCli) -> None:
    counter = tmp_path / "counter"
    result = run_cli("run", "flaky", "--param", f"counter={counter}", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flaky succeeded in ")
    [run] = runs(db)
    assert run["status"] == "succeeded" and run["attempts"] == 3 and json.loads(run["result"]) == {"attempt": 3}
    tries = attempts(db, run["id"])
    assert [(a["number"], a["status"], a["error"]) for a in tries] == [
        (1, "failed", "TransientError: upstream busy"),
        (2, "failed", "ConnectionResetError: connection reset by peer"),
        (3, "succeeded", None),
    ]
    assert letters(db) == []
    assert_unlocked(home, "flaky")


def test_a_permanent_error_fails_at_once(env: dict[str, str], home: Path, db: Path, tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("run", "broken", "--param", f"flag={tmp_path / 'flag'}", env=env)
    assert result.returncode == 1
    [run] = runs(db)
    assert run["status"] == "failed" and run["attempts"] == 1  # retries are for transient errors only
    assert result.stderr.strip() == (
        f"broken failed: RuntimeError: flag file {tmp_path / 'flag'} is missing"
        f" (run {run['id']}; cronkit show {run['id']}; dead letter 1)"
    )
    assert_unlocked(home, "broken")


@pytest.mark.parametrize("reader", [("show", "1", "--json"), ("status", "--json")], ids=["show", "status"])
def test_a_dead_runner_is_marked_lost_by_the_next_reader(env: dict[str, str], home: Path, db: Path, tmp_path: Path, run_cli: RunCli, reader: tuple[str, ...]) -> None:
    ready = tmp_path / "ready"
    victim = start(env, "hold", "--param", f"ready={ready}", "--param", "for=30")
    task_pid = int(wait_for(ready, proc=victim))
    victim.kill()
    victim.wait(10)
    assert wait_gone(task_pid)
    assert runs(db)[0]["status"] == "running"  # nothing has looked yet
    result = run_cli(*reader, env=env)
    assert result.returncode == 0, result.stderr
    [run] = runs(db)
    assert run["status"] == "lost" and run["exit_code"] is None and run["finished_at"] is not None
    if reader[0] == "show":
        assert json.loads(result.stdout)["status"] == "lost"
    assert_unlocked(home, "hold")


def test_a_run_on_another_host_is_lost_once_its_heartbeat_is_stale(env: dict[str, str], db: Path, tmp_path: Path, run_cli: RunCli) -> None:
    ready = tmp_path / "ready"
    elsewhere = {**env, "CRONKIT_HOSTNAME": "host-elsewhere", "CRONKIT_NOW": SLOT}
    victim = start(elsewhere, "hold", "--param", f"ready={ready}", "--param", "for=30")
    wait_for(ready, proc=victim)
    victim.kill()
    victim.wait(10)

    # From this host the pid means nothing; a heartbeat a minute old is not proof of death...
    soon = run_cli("history", "--json", env={**env, "CRONKIT_NOW": "2026-03-01T10:01:00+00:00"})
    assert [r["status"] for r in json.loads(soon.stdout)] == ["running"]
    # ...one ten minutes old is.
    later = run_cli("history", "--json", env={**env, "CRONKIT_NOW": "2026-03-01T10:10:00+00:00"})
    [run] = json.loads(later.stdout)
    assert run["status"] == "lost" and run["host"] == "host-elsewhere"
    assert run["finished_at"] == "2026-03-01T10:10:00+00:00"
