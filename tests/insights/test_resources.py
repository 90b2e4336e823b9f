"""What each attempt's process tree used (SPEC 16): recorded by real runs, shown by show, stats
and --json; the schema step that adds the columns; an outcome journaled before it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, inspect

from cronkit import runlog
from cronkit.runlog import schema
from cronkit.runlog.journal import apply_journal, op, write_journal
from tests.fixturetypes import RunCli

from ..conftest import write_registry

REGISTRY = """
@registry.task("0 3 * * *", name="crunch", environments=["*"], retries=1, backoff="0s")
def crunch(ctx):
    # A child process that holds 120 MiB written (resident) and burns CPU: the attempt's tree.
    subprocess.run([sys.executable, "-c", "b = b'x' * (120 << 20); sum(range(3_000_000))"], check=True)
    if ctx.attempt == 1:
        raise TransientError("first attempt fails")
    return {}
"""


def test_a_run_records_what_its_process_tree_used(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path,
                                                  home: Path) -> None:
    env = {**cronkit_env, "CRONKIT_TASKS": str(write_registry(tmp_path / "crunch_registry.py", REGISTRY))}
    done = run_cli("run", "crunch", env=env)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(home / "cronkit.db") as db:
        attempts = db.execute("SELECT number, cpu_user_ms, cpu_system_ms, max_rss_kb FROM attempts ORDER BY number").fetchall()
        run = db.execute("SELECT cpu_user_ms, cpu_system_ms, max_rss_kb FROM runs").fetchone()
    assert [a[0] for a in attempts] == [1, 2]
    for _, user, system, rss in attempts:
        assert rss > 120 * 1024 and user + system > 0  # the grandchild's 120 MiB, counted through wait4
    assert run == (attempts[0][1] + attempts[1][1], attempts[0][2] + attempts[1][2], max(attempts[0][3], attempts[1][3]))
    shown = run_cli("show", "1", env=env)
    assert "resources      cpu " in shown.stdout and "peak RSS 1" in shown.stdout  # 12x.y MiB
    as_json = json.loads(run_cli("show", "1", "--json", env=env).stdout)
    assert as_json["max_rss_kb"] == run[2] and as_json["attempt_log"][1]["max_rss_kb"] == attempts[1][3]
    stats = json.loads(run_cli("stats", "--json", env=env).stdout)[0]
    assert stats["rss_p50_kb"] == run[2] and stats["cpu_p95_ms"] == run[0] + run[1]


def test_version_11_adds_the_columns_to_a_version_10_log(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE runs (id INTEGER PRIMARY KEY, task TEXT)")
        conn.exec_driver_sql("CREATE TABLE attempts (run_id INTEGER, number INTEGER)")
        schema.MIGRATIONS[10](conn)
        schema.MIGRATIONS[10](conn)  # a second pass finds them there
        for table in ("runs", "attempts"):
            names = {c["name"] for c in inspect(conn).get_columns(table)}
            assert set(schema.RESOURCE_COLUMNS) <= names
    engine.dispose()


def test_an_outcome_journaled_before_version_8_still_applies(tmp_path: Path, home: Path) -> None:
    url = f"sqlite:///{home / 'cronkit.db'}"
    store = runlog.open(url, create=True)
    run_id = store.start_run(task="t", trigger="manual", started_at=1000, user="me")
    finish = op("finish", id=run_id, status="succeeded", finished_at=2000, duration_ms=1000, attempts=1,
                exit_code=0, error=None, traceback=None, result=None, output="")
    attempt = op("attempt", run_id=run_id, number=1, started_at=1000, finished_at=2000, status="succeeded",
                 error=None)
    write_journal(home / "journal", url, [finish, attempt])  # no resource keys, as an older runner wrote it
    assert apply_journal(store, home, url) == 1
    rows = store.sql("SELECT status, max_rss_kb FROM runs WHERE id = :id", {"id": run_id})
    assert [tuple(r) for r in rows] == [("succeeded", None)]
    store.close()
