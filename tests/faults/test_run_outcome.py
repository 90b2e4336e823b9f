"""The end of a run survives a run log that does not take it (issue 12: an outcome is never lost)."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.faults._run_proxy import Proxy
from tests.faults._run_tasks import cli, journal_files, make_env, start, wait_path
from tests.runhelpers import runs, runs_at

HOLD_LOCK = """
import os, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.02)
conn.execute("COMMIT")
"""


def _history(env: dict[str, str]) -> list[dict[str, Any]]:
    result = cli(env, "history", "--json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_sqlite_locked_past_the_bound_journals_the_outcome_and_the_next_command_applies_it_once(
        cronkit_env: dict[str, str], tmp_path: Path, home: Path) -> None:
    """Scenario: another process holds the SQLite run log's write lock while a run ends, past the retry bound.
    Promise: the run exits with its own outcome, the outcome waits in a private fsynced journal under
    CRONKIT_HOME, and the next command (history) applies it exactly once."""
    env = make_env(cronkit_env, tmp_path, CRONKIT_FINISH_RETRY="1")
    ready, release, locked, unlock = (tmp_path / n for n in ("ready", "release", "locked", "unlock"))
    proc = start(env, "run", "gate", "--param", f"ready={ready}", "--param", f"release={release}", "--json")
    wait_path(ready, proc=proc)
    db = home / "cronkit.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), str(locked), str(unlock)])
    try:
        wait_path(locked)
        release.touch()
        out, err = proc.communicate(timeout=60)
    finally:
        unlock.touch()
        holder.wait(30)
    assert proc.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    [entry] = journal_files(home)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    assert "hunter2" not in entry.read_text()
    assert runs(db)[0]["status"] == "running"  # the run log did not take it

    first = _history(env)
    assert [r["status"] for r in first] == ["succeeded"]
    assert first[0]["result"] == {"answer": 42, "note": "nul \x00 inside"}
    assert journal_files(home) == []
    second = _history(env)
    assert second == first
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 1


@pytest.fixture
def pg_proxy(pg_url: str) -> Any:
    proxy = Proxy(("127.0.0.1", 5432))
    yield proxy, proxy.url(pg_url)
    proxy.close()


def test_postgresql_unreachable_for_a_moment_at_the_end_is_retried(
        cronkit_env: dict[str, str], tmp_path: Path, home: Path, pg_proxy: Any) -> None:
    """Scenario: PostgreSQL drops and refuses connections for about two seconds as a run ends.
    Promise: the end of the run is retried with backoff and recorded in the run log; nothing is journaled."""
    proxy, url = pg_proxy
    env = make_env(cronkit_env, tmp_path, CRONKIT_DB_URL=url, CRONKIT_FINISH_RETRY="30")
    ready, release = tmp_path / "ready", tmp_path / "release"
    proc = start(env, "run", "gate", "--param", f"ready={ready}", "--param", f"release={release}", "--json")
    wait_path(ready, proc=proc)
    proxy.set("drop")
    release.touch()
    import threading

    threading.Timer(2.0, proxy.set, args=("pass",)).start()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert journal_files(home) == []
    [run] = runs_at(url)
    assert run["status"] == "succeeded" and json.loads(run["result"])["answer"] == 42


@pytest.mark.slow
def test_postgresql_down_past_the_bound_journals_and_nul_bytes_are_stored_sanitised(
        cronkit_env: dict[str, str], tmp_path: Path, home: Path, pg_proxy: Any) -> None:
    """Scenario: a run that failed (NUL bytes in its output and error) ends while PostgreSQL refuses connections past the bound.
    Promise: its outcome and dead letter are journaled, then applied once by the next command, with the NUL bytes made storable."""
    proxy, url = pg_proxy
    env = make_env(cronkit_env, tmp_path, CRONKIT_DB_URL=url, CRONKIT_FINISH_RETRY="1")
    ready, release = tmp_path / "ready", tmp_path / "release"
    proc = start(env, "run", "gate", "--param", "fail=1", "--param", f"ready={ready}",
                 "--param", f"release={release}")
    wait_path(ready, proc=proc)
    proxy.set("drop")
    release.touch()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "kept in" in err and len(journal_files(home)) == 1
    proxy.set("pass")

    first = _history(env)
    assert [r["status"] for r in first] == ["failed"]
    assert journal_files(home) == []
    _history(env)
    letters = json.loads(cli(env, "dlq", "list", "--json").stdout)
    assert len(letters) == 1 and "\\x00" in letters[0]["error"]
    [run] = runs_at(url)
    assert "\\x00" in run["output"] and "\x00" not in run["output"]
    assert "hunter2" not in run["output"]
