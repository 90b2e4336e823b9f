"""Run log (SPEC 7): schema, upgrades, SQLite settings and file modes, queries, pruning; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from cronkit import __version__
from cronkit.config.settings import Settings, load_settings
from cronkit.errors import ServiceUnavailable
from cronkit.runlog import SCHEMA_VERSION
from cronkit.runlog import open as open_runlog
from cronkit.runlog import schema as runlog
from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.reader import HistoryFilter, count_prunable, history, prune, run_record
from cronkit.runlog.schema import upgrade
from cronkit.runlog.times import parse_since, to_ms
from cronkit.runlog.writer import RunStore
from tests.conftest import write_registry
from tests.fixturetypes import RunCli
from tests.runlog.outcomes import dead_letter, finish_run, record_attempt, resolve_dead_letter

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# Every field of SPEC 6's run record, as `history --json` names it.
RUN_RECORD_KEYS = {"id", "task", "status", "trigger", "scheduled_for", "started_at", "finished_at", "duration_ms",
                   "attempts", "exit_code", "host", "pid", "user", "error", "result"}


# -- databases -------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'runlog.db'}"
    return str(request.getfixturevalue("pg_url"))


def settings_for(url: str, tmp_path: Path) -> Settings:
    return load_settings(options={"db_url": url, "home": str(tmp_path / "home")}, environ={})


def seed(store: RunStore, task: str, status: str, started: datetime, **finish: Any) -> int:
    run_id = store.start_run(task=task, trigger="cron", started_at=to_ms(started), user="ops",
                             scheduled_for=to_ms(started.replace(second=0)), params={"k": "v"})
    if status != "running":
        finish_run(store, run_id, status=status, finished_at=to_ms(started) + 1500, duration_ms=1500,
                         attempts=1, exit_code=0 if status == "succeeded" else 1,
                         error=None if status == "succeeded" else f"{task} broke", result={"rows": 3}, **finish)
    return run_id


# -- schema ----------------------------------------------------------------------------------------

def test_schema_is_created_with_every_field_and_index(db_url: str) -> None:
    store = open_runlog(db_url, create=True)
    store.close()
    engine = create_engine_for(db_url)
    with engine.connect() as conn:
        insp = inspect(conn)
        assert {"runs", "attempts", "slots", "dead_letters", "meta"} <= set(insp.get_table_names())
        columns = {c["name"] for c in insp.get_columns("runs")}
        assert RUN_RECORD_KEYS | {"output", "traceback", "params", "dry_run", "heartbeat_at"} <= columns
        indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("runs")}
        assert indexes["ix_runs_task_id"] == ["task", "id"]
        assert indexes["ix_runs_status_id"] == ["status", "id"]
        version = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
        assert version == str(SCHEMA_VERSION)
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION
    engine.dispose()


def test_sqlite_wal_busy_timeout_and_private_files(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "cronkit.db"
    old = os.umask(0o022)
    try:
        store = open_runlog(f"sqlite:///{path}", create=True)
        run_id = store.start_run(task="t", trigger="manual", started_at=to_ms(T0), user=None)
        with sqlite3.connect(path) as conn:  # WAL files exist while a connection is open
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            conn.execute("SELECT count(*) FROM runs").fetchone()
            for name in ("cronkit.db", "cronkit.db-wal", "cronkit.db-shm", "cronkit.db.lock"):
                mode = stat.S_IMODE(os.stat(path.parent / name).st_mode)
                assert mode == 0o600, f"{name} has mode {oct(mode)}"
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        engine = create_engine_for(f"sqlite:///{path}")
        with engine.connect() as pooled:
            assert pooled.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000
            assert pooled.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        engine.dispose()

        # A writer holding the database for a while delays the run path's write; it does not fail it.
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("UPDATE runs SET user = 'blocker' WHERE id = ?", (run_id,))
        releasing = threading.Event()

        def release_lock() -> None:
            releasing.set()  # before the COMMIT: no write can get in before this is set
            blocker.execute("COMMIT")

        release = threading.Timer(1.0, release_lock)
        release.start()
        second = store.start_run(task="t", trigger="manual", started_at=to_ms(T0), user=None)
        assert releasing.is_set()  # it waited for the lock instead of failing (no timing margin)
        release.join()
        blocker.close()
        assert second == run_id + 1
        store.close()
    finally:
        os.umask(old)


def test_a_heartbeat_gives_up_on_a_busy_run_log_where_other_writes_wait(db_url: str) -> None:
    # The runner beats from its supervision loop: a heartbeat that waited as long as other writes
    # (a minute) would hold up the task's timeout and its Redis lease renewal meanwhile.
    store = open_runlog(db_url, create=True)
    run_id = store.start_run(task="t", trigger="manual", started_at=to_ms(T0), user=None)
    if db_url.startswith("sqlite"):
        blocker: Any = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None,
                                       check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("UPDATE runs SET user = 'blocker' WHERE id = ?", (run_id,))
    else:
        import psycopg

        blocker = psycopg.connect(db_url)  # a transaction that holds the run's row
        blocker.execute("UPDATE runs SET \"user\" = 'blocker' WHERE id = %s", (run_id,))
    outcome: list[BaseException | None] = []

    def beat() -> None:
        try:
            store.heartbeat(run_id, to_ms(T0) + 1000)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    beater = threading.Thread(target=beat)
    beater.start()
    beater.join(20)  # far below the minute other writes wait
    assert not beater.is_alive(), "the heartbeat waited for the busy run log"
    assert isinstance(outcome[0], ServiceUnavailable)
    blocker.execute("COMMIT") if db_url.startswith("sqlite") else blocker.commit()
    blocker.close()
    store.heartbeat(run_id, to_ms(T0) + 2000)  # once the run log is free again, it beats
    engine = create_engine_for(db_url)
    with engine.connect() as conn:
        row = conn.execute(text('SELECT heartbeat_at, "user" FROM runs WHERE id = :id'), {"id": run_id}).one()
    engine.dispose()
    assert tuple(row) == (to_ms(T0) + 2000, "blocker")
    # ...and other writes still wait for the lock instead of failing (see the test above).
    store.close()


def test_version_zero_database_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a database from before the schema was versioned
        conn.execute("CREATE TABLE legacy (x INTEGER)")
        conn.execute("INSERT INTO legacy VALUES (1)")
        conn.execute("CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)")
    conn.close()
    store = open_runlog(f"sqlite:///{path}", create=True)
    assert store.start_run(task="t", trigger="manual", started_at=to_ms(T0), user=None) == 1
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT x FROM legacy").fetchall() == [(1,)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_upgrade_applies_each_new_migration_once(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine_for(db_url)
    assert upgrade(engine) == 0
    assert upgrade(engine) == SCHEMA_VERSION
    calls: list[int] = []

    def add_index(conn: Any) -> None:
        calls.append(1)
        conn.execute(text("CREATE INDEX ix_runs_host ON runs (host)"))

    monkeypatch.setattr(runlog, "MIGRATIONS", [*runlog.MIGRATIONS, add_index])
    monkeypatch.setattr(runlog, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    assert upgrade(engine, migrate=True) == SCHEMA_VERSION  # PostgreSQL migrates on `cronkit migrate` only
    assert upgrade(engine, migrate=True) == SCHEMA_VERSION + 1
    assert calls == [1]
    with engine.connect() as conn:
        assert "ix_runs_host" in {i["name"] for i in inspect(conn).get_indexes("runs")}
        assert conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar() == str(SCHEMA_VERSION + 1)
    engine.dispose()


def set_version(url: str, version: int) -> None:
    engine = create_engine_for(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version)})
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA user_version = {version}")
    engine.dispose()


def test_newer_schema_is_refused_clearly(db_url: str, tmp_path: Path) -> None:
    set_version(db_url, SCHEMA_VERSION + 5)
    message = (f"run log schema version {SCHEMA_VERSION + 5} is newer than this cronkit {__version__} (schema"
               f" {SCHEMA_VERSION}): it needs a newer cronkit; upgrade cronkit, or restore the copy kept before"
               " the upgrade (CHANGELOG.md, Upgrading)")
    with pytest.raises(ServiceUnavailable, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_runlog(db_url, create=True)
    with pytest.raises(ServiceUnavailable, match="is newer than this cronkit"):
        open_runlog(db_url, settle=settings_for(db_url, tmp_path))


# -- queries ---------------------------------------------------------------------------------------

def test_history_filters_newest_first(db_url: str, tmp_path: Path) -> None:
    store = open_runlog(db_url, create=True)
    ids = {
        "a1": seed(store, "alpha", "succeeded", T0),
        "b1": seed(store, "beta", "failed", T0 + timedelta(hours=1)),
        "a2": seed(store, "alpha", "failed", T0 + timedelta(hours=2)),
        "a3": seed(store, "alpha", "succeeded", T0 + timedelta(hours=3)),
    }
    store.close()
    log = open_runlog(db_url, settle=settings_for(db_url, tmp_path))

    def ids_of(**kw: Any) -> list[int]:
        return [r["id"] for r in history(log, HistoryFilter(**kw))]

    assert ids_of() == [ids["a3"], ids["a2"], ids["b1"], ids["a1"]]
    assert ids_of(task="alpha") == [ids["a3"], ids["a2"], ids["a1"]]
    assert ids_of(status="failed") == [ids["a2"], ids["b1"]]
    assert ids_of(task="alpha", status="failed") == [ids["a2"]]
    assert ids_of(since=T0 + timedelta(hours=1)) == [ids["a3"], ids["a2"], ids["b1"]]
    assert ids_of(limit=2) == [ids["a3"], ids["a2"]]
    assert ids_of(task="gamma") == []
    record = history(log, HistoryFilter(limit=1))[0]
    assert RUN_RECORD_KEYS <= set(record) and "output" not in record
    assert record["started_at"] == "2026-11-01T15:00:00+00:00"
    assert record["finished_at"] == "2026-11-01T15:00:01+00:00"
    assert record["scheduled_for"] == "2026-11-01T15:00:00+00:00"
    assert record["result"] == {"rows": 3} and record["params"] == {"k": "v"} and record["dry_run"] is False
    assert (record["task"], record["status"], record["trigger"], record["user"]) == ("alpha", "succeeded", "cron", "ops")
    log.close()


def test_show_returns_attempts_and_dead_letter(db_url: str, tmp_path: Path) -> None:
    store = open_runlog(db_url, create=True)
    run_id = seed(store, "alpha", "failed", T0, traceback="Traceback...\nValueError: x", output="line 1\nline 2\n")
    record_attempt(store, run_id, 1, started_at=to_ms(T0), finished_at=to_ms(T0) + 100, status="failed", error="e1")
    record_attempt(store, run_id, 2, started_at=to_ms(T0) + 200, finished_at=to_ms(T0) + 300, status="failed", error="e2")
    letter = dead_letter(store, run_id=run_id, task="alpha", params={"k": "v"}, scheduled_for=None, error="e2",
                               traceback=None, attempts=2, created_at=to_ms(T0) + 400)
    store.close()
    log = open_runlog(db_url, settle=settings_for(db_url, tmp_path))
    run = run_record(log, run_id)
    assert run is not None
    assert [(a["number"], a["status"], a["error"]) for a in run["attempt_log"]] == [(1, "failed", "e1"), (2, "failed", "e2")]
    assert run["attempt_log"][1]["started_at"] == "2026-11-01T12:00:00+00:00"
    assert run["dead_letter"] == {"id": letter, "resolved_at": None}
    assert run["output"] == "line 1\nline 2\n" and run["traceback"].endswith("ValueError: x")
    assert run_record(log, run_id + 100) is None
    log.close()


def test_claim_slot_once(db_url: str) -> None:
    store = open_runlog(db_url, create=True)
    first = seed(store, "alpha", "running", T0)
    second = seed(store, "alpha", "running", T0)
    assert store.claim_slot("alpha", to_ms(T0), first) is None
    assert store.claim_slot("alpha", to_ms(T0), second) == first
    assert store.claim_slot("beta", to_ms(T0), second) is None
    store.close()


def test_prune_keeps_recent_running_and_open_dead_letters(db_url: str, tmp_path: Path) -> None:
    store = open_runlog(db_url, create=True)
    old = T0 - timedelta(days=100)
    done = seed(store, "alpha", "succeeded", old)
    record_attempt(store, done, 1, started_at=to_ms(old), finished_at=to_ms(old) + 1, status="succeeded", error=None)
    store.claim_slot("alpha", to_ms(old), done)
    open_letter = seed(store, "alpha", "failed", old)
    dead_letter(store, run_id=open_letter, task="alpha", params=None, scheduled_for=None, error="x",
                      traceback=None, attempts=1, created_at=to_ms(old))
    resolved = seed(store, "alpha", "failed", old)
    letter = dead_letter(store, run_id=resolved, task="alpha", params=None, scheduled_for=None, error="x",
                               traceback=None, attempts=1, created_at=to_ms(old))
    resolve_dead_letter(store, letter, done, to_ms(old) + 10)
    running = store.start_run(task="alpha", trigger="manual", started_at=to_ms(old), user=None)  # this process: alive
    recent = seed(store, "alpha", "succeeded", T0)
    store.close()
    log = open_runlog(db_url, settle=settings_for(db_url, tmp_path))
    cutoff = T0 - timedelta(days=90)
    assert count_prunable(log, cutoff) == 2
    assert prune(log, cutoff) == 2
    assert count_prunable(log, cutoff) == 0
    assert sorted(r["id"] for r in history(log, HistoryFilter())) == sorted([open_letter, running, recent])
    with log.sqlalchemy_engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attempts")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM slots")).scalar() == 0
        assert conn.execute(text("SELECT run_id FROM dead_letters")).scalars().all() == [open_letter]
    log.close()


def test_open_marks_dead_running_runs_lost(db_url: str, tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store = open_runlog(db_url, create=True)
    dead = store.start_run(task="alpha", trigger="cron", started_at=to_ms(T0), user=None, pid=gone.pid)
    alive = store.start_run(task="alpha", trigger="cron", started_at=to_ms(T0), user=None)
    store.close()
    log = open_runlog(db_url, settle=settings_for(db_url, tmp_path))
    statuses = {r["id"]: (r["status"], r["error"]) for r in history(log, HistoryFilter())}
    assert statuses[dead] == ("lost", "the run's process died without recording an outcome")
    assert statuses[alive] == ("running", None)
    log.close()


def test_parse_since() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_since("2026-11-20", now) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_since("2026-11-20T03:00+01:00", now) == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    with pytest.raises(Exception, match="--since"):
        parse_since("last tuesday", now)


# -- through the CLI, on either database ------------------------------------------------------------

def test_cli_run_and_history_json(db_url: str, run_cli: RunCli, tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "rl_registry.py", (
        "@registry.task('@hourly', environments=['*'])\n"
        "def count(ctx: TaskContext) -> dict:\n"
        "    print('counting')\n"
        "    return {'counted': int(ctx.params.get('n', '0'))}\n"
    ))
    env = {"CRONKIT_TASKS": str(registry), "CRONKIT_DB_URL": db_url}
    for n in ("1", "2"):
        proc = run_cli("run", "count", "--param", f"n={n}", env=env)
        assert proc.returncode == 0, proc.stderr
    proc = run_cli("history", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    assert [(r["task"], r["status"], r["result"], r["params"]) for r in runs] == [
        ("count", "succeeded", {"counted": 2}, {"n": "2"}), ("count", "succeeded", {"counted": 1}, {"n": "1"})]
    assert runs[0]["id"] > runs[1]["id"]
    proc = run_cli("show", str(runs[0]["id"]), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["output"] == "counting\n" and shown["attempt_log"][0]["status"] == "succeeded"


def test_cli_refuses_a_newer_schema(db_url: str, run_cli: RunCli, tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "rl_registry.py", "registry.add('@hourly', 'os:getcwd', name='t', environments='*')\n")
    set_version(db_url, SCHEMA_VERSION + 1)
    env = {"CRONKIT_TASKS": str(registry), "CRONKIT_DB_URL": db_url}
    for args in (("run", "t"), ("history",)):
        proc = run_cli(*args, env=env)
        assert proc.returncode == 69
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert f"run log schema version {SCHEMA_VERSION + 1} is newer than this cronkit" in proc.stderr
    engine = create_engine_for(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar() == 0
    engine.dispose()


def test_a_home_whose_path_holds_percent_and_dollar_signs(tmp_path: Path) -> None:
    # SQLAlchemy's URL text percent-encodes them; the schema lock must use the file's real path.
    home = tmp_path / "state %i $X"
    settings = load_settings(environ={"CRONKIT_HOME": str(home)})
    log = open_runlog(settings.db_url, create=True, settle=settings)
    try:
        assert history(log, HistoryFilter()) == []
    finally:
        log.close()
    assert {"cronkit.db", "cronkit.db.lock"} <= {p.name for p in home.iterdir()}
