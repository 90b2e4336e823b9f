"""Faults of the run log file: damaged pages inside an SQLite run log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import write_registry
from tests.fixturetypes import RunCli

REGISTRY = """
@registry.task("* * * * *", name="chatty", environments=["*"], timeout="30s")
def chatty(ctx):
    print("x" * 3000)
    return {"n": 1}
"""


@pytest.fixture
def damaged_runlog(run_cli: RunCli, home: Path, tmp_path: Path) -> dict[str, str]:
    """A run log of 6 real runs whose `runs` table pages (not the header page) are overwritten."""
    env = {"CRONKIT_TASKS": str(write_registry(tmp_path / "chatty_tasks.py", REGISTRY))}
    for _ in range(6):
        assert run_cli("run", "chatty", env=env).returncode == 0
    db = home / "cronkit.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        try:
            pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'runs'")]
        except sqlite3.OperationalError:  # no dbstat: the pages after the schema's
            count = conn.execute("PRAGMA page_count").fetchone()[0]
            pages = list(range(17, count + 1))
    assert pages and 1 not in pages
    with db.open("r+b") as fh:
        for page in pages:
            fh.seek((page - 1) * size)
            fh.write(b"\xa5" * size)
    return env


@pytest.mark.parametrize("command", [("history",), ("stats",), ("show", "2"), ("history", "--json")])
def test_files_corrupt_runlog_pages_give_one_line(run_cli: RunCli, damaged_runlog: dict[str, str], home: Path,
                                                  command: tuple[str, ...]) -> None:
    """Scenario: pages of the SQLite run log's `runs` table are damaged (the header is intact);
    the operator runs history, stats and show.
    Promise: one line naming the file (no traceback), exit 69 like a damaged header: the
    settings are right, the service (the run log) is not usable."""
    done = run_cli(*command, env=damaged_runlog)
    assert done.returncode == 69, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(home / "cronkit.db") in done.stderr and "malformed" in done.stderr
