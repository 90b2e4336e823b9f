"""runlog.open, the one way into the run log: one RunStore for SQLite (sqlite3) and PostgreSQL (SQLAlchemy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cronkit import runlog
from cronkit.config.settings import load_settings
from cronkit.errors import ConfigError
from cronkit.runlog.journal import op, write_journal
from cronkit.runlog.reader import run_record
from cronkit.runlog.writer import RunStore
from tests.runlog.outcomes import finish_run

T0 = 1_790_000_000_000


def test_open_refuses_a_missing_sqlite_file_unless_asked_to_create_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'cronkit.db'}"
    with pytest.raises(ConfigError, match="no run log at"):
        runlog.open(url)
    assert not (tmp_path / "state" / "cronkit.db").exists()
    store = runlog.open(url, create=True)
    try:
        assert isinstance(store, RunStore) and store.engine is None and not store.remote
        run_id = store.start_run(task="alpha", trigger="manual", started_at=T0, user=None)
        finish_run(store, run_id, status="succeeded", finished_at=T0 + 10, duration_ms=10, attempts=1, exit_code=0)
        record = run_record(store, run_id)
        assert record is not None and record["status"] == "succeeded" and record["duration_ms"] == 10
    finally:
        store.close()
    assert (tmp_path / "state" / "cronkit.db").stat().st_mode & 0o777 == 0o600


def test_open_of_a_sqlite_run_log_imports_no_sqlalchemy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cronkit.db'}"
    runlog.open(url, create=True).close()  # the schema, created once (that one takes SQLAlchemy)
    probe = ("import sys\nfrom cronkit import runlog\n"
             f"store = runlog.open({url!r})\nstore.sql('SELECT count(*) FROM runs', {{}})\nstore.close()\n"
             "print('sqlalchemy' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "False\n", "")


def test_settle_applies_the_journal_then_marks_dead_runs_lost(tmp_path: Path) -> None:
    settings = load_settings(options={"home": str(tmp_path / "home")}, environ={})
    store = runlog.open(settings.db_url, create=True)
    journaled = store.start_run(task="alpha", trigger="cron", started_at=T0, user=None)
    dead = store.start_run(task="alpha", trigger="cron", started_at=T0, user=None, pid=2**22 + 1)
    store.close()
    write_journal(settings.home / "journal", settings.db_url, [
        op("finish", id=journaled, status="succeeded", finished_at=T0 + 5, duration_ms=5, attempts=1, exit_code=0,
           error=None, traceback=None, result=None, output=None)])
    settled = runlog.open(settings.db_url, settle=settings)
    try:
        statuses = {run_id: run_record(settled, run_id)["status"] for run_id in (journaled, dead)}  # type: ignore[index]
    finally:
        settled.close()
    assert statuses == {journaled: "succeeded", dead: "lost"}
    assert not list((settings.home / "journal").iterdir())


def test_open_of_postgresql_is_the_same_store_on_an_engine(pg_url: str) -> None:
    store = runlog.open(pg_url)
    try:
        assert isinstance(store, RunStore) and store.remote and store.engine is store.sqlalchemy_engine()
        run_id = store.start_run(task="alpha", trigger="manual", started_at=T0, user=None)
        finish_run(store, run_id, status="failed", finished_at=T0 + 20, duration_ms=20, attempts=1, exit_code=1,
                   error="boom")
        record = run_record(store, run_id)
        assert record is not None and (record["status"], record["error"]) == ("failed", "boom")
    finally:
        store.close()
