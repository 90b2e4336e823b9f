"""Missed slots (DST, install time, a week down), drift, and `cronkit health` against real services."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cronkit.cronfile.block import task_of_line
from cronkit.cronfile.drift import compare_lines
from cronkit.health.missed import MISSED_MAX_SLOTS, candidate_slots, missed_slots
from cronkit.health.probes import NoAnswer, bounded
from cronkit.host import cron_daemon_pids
from cronkit.registry import Registry, Task
from cronkit.runlog import open as open_runlog
from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore
from tests.conftest import write_registry
from tests.fixturetypes import RunCli
from tests.runlog.outcomes import finish_run

UTC = UTC


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


@pytest.fixture
def runlog(tmp_path: Path) -> Iterator[tuple[RunStore, Any]]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = open_runlog(url, create=True)
    engine = create_engine_for(url)
    yield store, engine
    store.close()
    engine.dispose()


def serve(store: RunStore, task: str, slot: datetime, status: str = "succeeded") -> int:
    """Record a cron run that served `slot`, as `cronkit run --trigger cron` would."""
    run_id = store.start_run(task=task, trigger="cron", scheduled_for=to_ms(slot), started_at=to_ms(slot) + 700,
                             user="cron")
    finish_run(store, run_id, status=status, finished_at=to_ms(slot) + 1700, duration_ms=1000, attempts=1,
                     exit_code=0 if status == "succeeded" else 1)
    return run_id


def task(schedule: str, zone: str | None = None, grace: float = 300) -> Task:
    return Registry().add(schedule, "mod:func", name="job", timezone=zone, grace=grace)


# --- missed slots ----------------------------------------------------------------------------


def test_spring_forward_moves_the_slot_and_is_not_missed(runlog: tuple[RunStore, Any]) -> None:
    store, engine = runlog
    job = task("30 2 * * *", "Europe/Paris")
    # 02:30 does not exist in Paris on 2026-03-29 (02:00 CET -> 03:00 CEST): Debian cron, and
    # cronsim after it, run the job at the end of the gap, 03:00 CEST = 01:00 UTC.
    hand = [at(f"2026-03-{d:02d}T01:30") for d in range(26, 29)] + [at("2026-03-29T01:00")]
    hand += [at("2026-03-30T00:30"), at("2026-03-31T00:30"), at("2026-04-01T00:30")]
    for slot in hand:
        serve(store, "job", slot)
    now = at("2026-04-01T12:00")
    installed = at("2026-03-25T12:00")
    window = candidate_slots(job.schedule, "Europe/Paris", installed_at=installed, now=now, grace=300)
    assert list(window.slots) == hand
    found = missed_slots(engine, job, "Europe/Paris", installed_at=installed, now=now)
    assert (found.count, found.latest) == (0, None)

    with sqlite3.connect(engine.url.database) as conn:
        conn.execute("DELETE FROM runs WHERE scheduled_for = ?", (to_ms(at("2026-03-29T01:00")),))
    found = missed_slots(engine, job, "Europe/Paris", installed_at=installed, now=now)
    assert (found.count, found.latest) == (1, at("2026-03-29T01:00"))


def test_fall_back_repeated_hour_is_not_a_false_alarm(runlog: tuple[RunStore, Any]) -> None:
    store, engine = runlog
    job = task("30 2 * * *", "Europe/Paris")
    # 02:30 happens twice on 2026-10-25 (00:30 UTC in CEST, 01:30 UTC in CET); cron runs it once.
    hand = [at(f"2026-10-{d:02d}T00:30") for d in range(21, 26)] + [at("2026-10-26T01:30"), at("2026-10-27T01:30")]
    for slot in hand:
        serve(store, "job", slot)
    now = at("2026-10-27T23:00")
    installed = at("2026-10-20T12:00")
    assert list(candidate_slots(job.schedule, "Europe/Paris", installed_at=installed, now=now, grace=300).slots) == hand
    found = missed_slots(engine, job, "Europe/Paris", installed_at=installed, now=now)
    assert found.count == 0


def test_wildcard_hour_runs_both_passes_of_the_fall_back(runlog: tuple[RunStore, Any]) -> None:
    store, engine = runlog
    job = task("30 * * * *", "Europe/Paris")
    installed, now = at("2026-10-24T22:00"), at("2026-10-25T03:00")
    slots = candidate_slots(job.schedule, "Europe/Paris", installed_at=installed, now=now, grace=300).slots
    # 02:30 CEST (00:30 UTC) and 02:30 CET (01:30 UTC) are both slots: one per UTC hour.
    assert list(slots) == [at("2026-10-24T22:30"), at("2026-10-24T23:30")] + [
        at(f"2026-10-25T{h:02d}:30") for h in range(0, 3)
    ]
    for slot in slots:
        if slot != at("2026-10-25T01:30"):
            serve(store, "job", slot)
    found = missed_slots(engine, job, "Europe/Paris", installed_at=installed, now=now)
    assert (found.count, found.latest) == (1, at("2026-10-25T01:30"))


def test_task_installed_yesterday_has_no_misses_before_install(runlog: tuple[RunStore, Any]) -> None:
    _store, engine = runlog
    job = task("0 3 * * *")
    now = at("2026-06-11T12:00")
    found = missed_slots(engine, job, "UTC", installed_at=at("2026-06-10T12:00"), now=now)
    assert (found.count, found.latest, found.capped) == (1, at("2026-06-11T03:00"), False)
    # Installed half a minute before a slot: cron may not have reread the crontab in time.
    found = missed_slots(engine, job, "UTC", installed_at=at("2026-06-11T02:59:30"), now=now)
    assert found.count == 0


def test_grace_period_is_respected(runlog: tuple[RunStore, Any]) -> None:
    _store, engine = runlog
    installed = at("2026-06-10T12:00")
    assert missed_slots(engine, task("0 3 * * *"), "UTC", installed_at=installed, now=at("2026-06-11T03:04:59")).count == 0
    assert missed_slots(engine, task("0 3 * * *"), "UTC", installed_at=installed, now=at("2026-06-11T03:05")).count == 1
    slow = task("0 3 * * *", grace=3600)
    assert missed_slots(engine, slow, "UTC", installed_at=installed, now=at("2026-06-11T03:30")).count == 0


def test_any_run_for_the_slot_serves_it(runlog: tuple[RunStore, Any]) -> None:
    store, engine = runlog
    job = task("0 * * * *")
    for hour, status in ((1, "failed"), (2, "skipped"), (3, "timed_out")):
        serve(store, "job", at(f"2026-06-11T{hour:02d}:00"), status)
    found = missed_slots(engine, job, "UTC", installed_at=at("2026-06-11T00:30"), now=at("2026-06-11T04:10"))
    assert (found.count, found.latest) == (1, at("2026-06-11T04:00"))


def test_host_down_for_a_week(runlog: tuple[RunStore, Any]) -> None:
    store, engine = runlog
    job = task("0 * * * *")
    installed = at("2026-05-01T00:00")
    # Served every hour until the host went down on June 20 at 10:30; back on June 27 at 10:30.
    slot = at("2026-06-13T00:00")
    while slot < at("2026-06-20T10:30"):
        serve(store, "job", slot)
        slot += timedelta(hours=1)
    now = at("2026-06-27T10:30")
    found = missed_slots(engine, job, "UTC", installed_at=installed, now=now)
    # Last 7 days: June 20 11:00 .. June 27 10:00 inclusive, none served.
    assert (found.count, found.latest, found.capped) == (7 * 24, at("2026-06-27T10:00"), False)
    assert found.since == now - timedelta(days=7)


def test_per_minute_task_down_for_a_month_is_capped(runlog: tuple[RunStore, Any]) -> None:
    _store, engine = runlog
    job = task("* * * * *")
    now = at("2026-06-30T12:00")
    found = missed_slots(engine, job, "UTC", installed_at=at("2026-05-01T00:00"), now=now)
    assert found.count == MISSED_MAX_SLOTS and found.capped
    assert found.latest == at("2026-06-30T11:55")


# --- drift -----------------------------------------------------------------------------------

LINE_A = "0 3 * * * /usr/bin/cronkit --tasks x run alpha --trigger cron"
LINE_B = "0 4 * * * /usr/bin/cronkit --tasks x run beta --trigger cron"
LINE_C = "0 5 * * * /usr/bin/cronkit --tasks x run gamma --trigger cron"


def test_task_of_line() -> None:
    assert task_of_line(LINE_A) == "alpha"
    assert task_of_line("0 3 * * * /usr/bin/backup --run-fast") is None


def test_compare_lines_reports_each_kind_by_task() -> None:
    assert compare_lines([LINE_A, LINE_B], [LINE_A, LINE_B], [LINE_A, LINE_B]) == []
    edited = LINE_A.replace("0 3", "15 3")
    drift = {(d.task, d.kind) for d in compare_lines([edited, LINE_C], [LINE_A, LINE_B], [LINE_A, LINE_C])}
    assert drift == {("alpha", "hand-edited"), ("beta", "missing"), ("gamma", "extra")}
    # The registry moved beta to 04:30 since the install: changed, not hand-edited.
    moved = LINE_B.replace("0 4", "30 4")
    assert [(d.task, d.kind) for d in compare_lines([LINE_A, LINE_B], [LINE_A, moved], [LINE_A, LINE_B])] == [
        ("beta", "changed")
    ]
    # A foreign line typed inside the block names no task.
    assert [(d.task, d.kind) for d in compare_lines([LINE_A, "* * * * * echo hi"], [LINE_A], [LINE_A])] == [
        (None, "hand-edited")
    ]


# --- bounded checks and services -------------------------------------------------------------


def test_bounded_gives_up_on_a_hanging_call() -> None:
    import threading

    never = threading.Event()
    with pytest.raises(NoAnswer, match="no answer within 0.2 s"):
        bounded("thing", 0.2, lambda: never.wait(30))
    never.set()
    assert bounded("thing", 5, lambda: 42) == 42


def test_cron_daemon_detection_reads_proc(tmp_path: Path) -> None:
    for pid, comm, state in ((10, "cron", "S"), (11, "bash", "S"), (12, "crond", "Z"), (13, "crond", "S")):
        entry = tmp_path / str(pid)
        entry.mkdir()
        (entry / "comm").write_text(comm + "\n")
        (entry / "stat").write_text(f"{pid} ({comm}) {state} 1 1 1\n")
    (tmp_path / "self").mkdir()
    assert cron_daemon_pids(tmp_path) == [10, 13]


# --- cronkit health from the CLI -------------------------------------------------------------

PROD_ONLY = """
@registry.task("0 3 * * *", name="nightly", environments=["production"])
def nightly(ctx): return {"ok": 1}

@registry.task("0 4 * * *", name="broken", environments=["production"])
def broken(ctx): raise RuntimeError("database said no")
"""


@pytest.fixture
def env(tmp_path: Path, cronkit_env: dict[str, str]) -> dict[str, str]:
    registry = write_registry(tmp_path / "healthreg.py", PROD_ONLY)
    return {"CRONKIT_TASKS": str(registry), "CRONKIT_NOW": "2026-06-11T12:00:00+00:00"}


def test_health_is_quiet_when_nothing_is_scheduled_here(run_cli: RunCli, env: dict[str, str]) -> None:
    result = run_cli("health", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "healthy\n", "")
    status = json.loads(run_cli("status", "--json", env=env).stdout)
    assert status["last_health_check"] == "2026-06-11T12:00:00+00:00"
    assert status["last_health_result"] == "healthy"
    # cron_daemon is `up` while another test runs a real cron daemon on this host.
    assert status["services"]["crontab"] == "unused" and status["services"]["cron_daemon"] in ("unused", "up")


def test_health_lists_a_failed_latest_run_and_a_missing_block(run_cli: RunCli, env: dict[str, str]) -> None:
    assert run_cli("run", "broken", env=env).returncode == 1
    result = run_cli("--env", "production", "health", env=env)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("task broken: latest run 1 failed at 2026-06-11T12:00:00+00:00: ") and
               "database said no" in line for line in lines), lines
    assert any("cronkit block is not installed while 2 tasks are scheduled in production" in line for line in lines)
    doc = json.loads(run_cli("--env", "production", "health", "--json", env=env).stdout)
    assert doc["healthy"] is False and doc["reasons"] == lines


def test_health_names_a_log_directory_runs_cannot_write(run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "logs-is-a-file"
    blocker.write_text("")
    env = {**env, "CRONKIT_LOG_DIR": str(blocker)}
    result = run_cli("--env", "production", "health", env=env)
    assert result.returncode == 1, result.stderr
    assert f"log directory unusable: {blocker} is not a directory" in result.stdout.splitlines()
    quiet = run_cli("health", env=env)  # development schedules nothing here: no run would write there
    assert (quiet.returncode, quiet.stdout) == (0, "healthy\n")


def test_health_with_a_corrupted_run_log(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    assert run_cli("run", "nightly", env=env).returncode == 0
    db = home / "cronkit.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database, just garbage " * 200)
    result = run_cli("health", env=env)
    assert result.returncode == 1
    assert result.stdout.startswith("run log unreachable: ")
    assert "not a database" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    status = run_cli("status", "--json", env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["services"]["run_log"] == "down"


def test_health_with_redis_stopped(run_cli: RunCli, env: dict[str, str], redis_server: Any, redis_url: str) -> None:
    env = {**env, "CRONKIT_REDIS_URL": redis_url}
    assert run_cli("health", env=env).returncode == 0
    redis_server.stop()
    try:
        result = run_cli("health", env=env, timeout=30)
        assert result.returncode == 1
        assert result.stdout.startswith(f"redis down: redis://127.0.0.1:{redis_server.port}/0: ")
        assert "Traceback" not in result.stdout + result.stderr
        assert json.loads(run_cli("status", "--json", env=env).stdout)["services"]["redis"] == "down"
    finally:
        redis_server.start()
    assert run_cli("health", env=env).returncode == 0


@pytest.mark.parametrize("mode", ["replica", "oom", "acl"])
def test_health_calls_down_a_redis_that_cannot_hold_a_lease(run_cli: RunCli, env: dict[str, str], tmp_path: Path,
                                                            mode: str) -> None:
    """A read-only replica (of a primary that is gone), a server out of memory, an ACL without writes:
    each answers PING, none takes the lease a run needs: health says Redis is down."""
    import shutil
    import subprocess
    import time

    import redis

    from tests.conftest import free_port, need

    if shutil.which("redis-server") is None:
        need("redis-server", "apt-get install redis-server")
    port = free_port()
    extra = {"replica": ["--replicaof", "127.0.0.1", str(free_port())],
             "oom": ["--maxmemory", "1", "--maxmemory-policy", "noeviction"],
             "acl": []}[mode]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path), *extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        url = f"redis://127.0.0.1:{port}/0"
        if mode == "acl":  # a user that may read and ping, not write
            client.execute_command(  # type: ignore[no-untyped-call]  # redis-py leaves execute_command untyped
                "ACL", "SETUSER", "reader", "on", ">readerpw", "~*", "+@read", "+ping")
            url = f"redis://reader:readerpw@127.0.0.1:{port}/0"
        client.close()
        result = run_cli("health", env={**env, "CRONKIT_REDIS_URL": url}, timeout=30)
        assert result.returncode == 1, result.stdout + result.stderr
        line = result.stdout.splitlines()[0]
        assert line.startswith("redis down: redis://"), result.stdout
        assert "readerpw" not in result.stdout + result.stderr
        status = json.loads(run_cli("status", "--json", env={**env, "CRONKIT_REDIS_URL": url}).stdout)
        assert status["services"]["redis"] == "down"
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
def test_health_with_a_hanging_redis_stays_bounded(run_cli: RunCli, env: dict[str, str]) -> None:
    # A listening socket nobody accepts from: connects succeed, every reply hangs.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        result = run_cli("health", env={**env, "CRONKIT_REDIS_URL": f"redis://127.0.0.1:{port}/0"}, timeout=30)
    assert result.returncode == 1
    assert result.stdout.startswith("redis down: ")


@pytest.mark.slow
def test_health_with_a_run_log_that_hangs(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    assert run_cli("run", "nightly", env=env).returncode == 0
    # Another process holds the SQLite file exclusively: every reader waits out its busy timeout (60 s).
    holder = sqlite3.connect(home / "cronkit.db", isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE meta SET value = value")
    try:
        result = run_cli("health", env=env, timeout=30)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1
    assert result.stdout == "run log unreachable: no answer within 4 s\n"
