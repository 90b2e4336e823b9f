"""Run totals (issue 24): exact after every way a run ends, pruning, journal replay and the migration.

The totals are compared with the runs themselves (a GROUP BY over `runs`), on SQLite and PostgreSQL.
The work the metrics' reads do is counted in SQLite virtual-machine steps (a progress handler), not
timed: it must not grow with the log, even behind a run still `running` since long ago.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cronkit import runlog
from cronkit.config.settings import load_settings
from cronkit.notify import figures
from cronkit.registry import Registry
from cronkit.runlog import SCHEMA_VERSION, totals
from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.journal import apply_journal, op, record_outcome, write_journal
from cronkit.runlog.reader import prune
from cronkit.runlog.schema import MIGRATIONS, _add_run_totals, upgrade
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore
from tests.paths import DATA
from tests.runlog.outcomes import finish_run

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OLD_LOG = DATA / "runlog-schema7.db"  # written by cronkit at schema 7 (see below)
DEAD_PID = 4_194_303  # above the default pid_max: no such process


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runlog.db'}"
    return str(request.getfixturevalue("pg_url"))


def expected(store: RunStore) -> dict[str, tuple[Any, ...]]:
    """Recount the totals from the runs: what run_totals must hold when nothing was pruned."""
    executed = "status IN ('succeeded', 'failed', 'timed_out', 'interrupted') AND duration_ms IS NOT NULL"
    sums = ", ".join(f"SUM(CASE WHEN {executed} AND duration_ms <= {int(b * 1000)} THEN 1 ELSE 0 END)"
                     for b in totals.BUCKETS)
    rows = store.sql(
        "SELECT task, " + ", ".join(f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)" for s in totals.FINAL_STATUSES)
        + f", SUM(CASE WHEN {executed} THEN 1 ELSE 0 END), SUM(CASE WHEN {executed} THEN duration_ms ELSE 0 END), "
        + sums + " FROM runs WHERE status <> 'running' GROUP BY task", {})
    return {str(r[0]): tuple(int(v) for v in r[1:]) for r in rows}


def stored(store: RunStore) -> dict[str, tuple[Any, ...]]:
    return {name: (*(t.runs[s] for s in totals.FINAL_STATUSES), t.duration_count, t.duration_sum_ms, *t.buckets)
            for name, t in totals.read_all(store.sql).items()}


def start(store: RunStore, task: str, at: datetime, pid: int | None = None) -> int:
    return store.start_run(task=task, trigger="cron", started_at=to_ms(at), user="ops", pid=pid)


def finish(store: RunStore, run_id: int, status: str, duration_ms: int) -> None:
    finish_run(store, run_id, status=status, finished_at=to_ms(T0) + duration_ms, duration_ms=duration_ms,
                     attempts=1, exit_code=0 if status == "succeeded" else 1)


def test_totals_follow_every_way_a_run_ends(db_url: str) -> None:
    store = runlog.open(db_url, create=True)
    for i, (status, ms) in enumerate([("succeeded", 50), ("succeeded", 4000), ("failed", 700_000),
                                      ("timed_out", 9_000_000), ("interrupted", 1000), ("skipped", 0)]):
        finish(store, start(store, "alpha", T0 + timedelta(minutes=i)), status, ms)
    finish(store, start(store, "beta", T0), "succeeded", 100)
    start(store, "beta", T0 + timedelta(minutes=1))  # still running: counted nowhere yet
    lost = start(store, "beta", T0 + timedelta(minutes=2), pid=DEAD_PID)
    assert store.mark_lost(task="beta") == [lost]
    assert store.mark_lost(task="beta") == []  # marked once, counted once
    first = int(store.sql("SELECT MIN(id) FROM runs", {})[0][0])
    finish(store, first, "failed", 10)  # a run already ended does not end again, nor count again
    assert stored(store) == expected(store)
    alpha = totals.read(store.sql, "alpha")
    assert alpha.runs == {"succeeded": 2, "failed": 1, "timed_out": 1, "interrupted": 1, "skipped": 1, "lost": 0}
    # Cumulative buckets: 0.05 s is in every bucket, 4 s from le=5 on, 700 s from le=1800 on, 2.5 h in none.
    assert dict(zip(totals.BUCKETS, alpha.buckets, strict=True))[1.0] == 2
    assert dict(zip(totals.BUCKETS, alpha.buckets, strict=True))[1800.0] == 4
    assert alpha.buckets[-1] == 4 and alpha.duration_count == 5
    assert alpha.last_duration_ms == 1000  # the latest run that executed the task (not the skipped one)
    assert totals.read(store.sql, "never-ran").runs == dict.fromkeys(totals.FINAL_STATUSES, 0)
    store.close()


def test_pruning_keeps_the_totals_and_they_never_go_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runlog.db'}"
    store = runlog.open(url, create=True)
    for day in range(10):
        finish(store, start(store, "alpha", T0 - timedelta(days=100 - day)), "succeeded", 2000)
    finish(store, start(store, "alpha", T0), "failed", 3000)
    before = stored(store)
    settings = load_settings(options={"db_url": url, "home": str(tmp_path / "home")}, environ={})
    log = runlog.open(settings.db_url, settle=settings)
    assert prune(log, T0 - timedelta(days=30)) == 10
    assert stored(store) == before  # "ever" counters: pruning deletes runs, not what was counted
    assert expected(store)["alpha"][0] == 0  # the runs themselves are gone
    finish(store, start(store, "alpha", T0 + timedelta(minutes=1)), "succeeded", 100)
    after = totals.read(store.sql, "alpha")
    assert after.runs["succeeded"] == 11 and after.runs["failed"] == 1 and after.duration_count == 12
    log.close()
    store.close()


def test_an_outcome_replayed_from_the_journal_is_counted_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runlog.db'}"
    home = tmp_path / "home"
    store = runlog.open(url, create=True)
    run_id = start(store, "alpha", T0)
    ops = [op("finish", id=run_id, status="failed", finished_at=to_ms(T0) + 500, duration_ms=500, attempts=1,
              exit_code=1, error="boom", traceback=None, result=None, output=None),
           op("attempt", run_id=run_id, number=1, started_at=to_ms(T0), finished_at=to_ms(T0) + 500,
              status="failed", error="boom")]
    path = write_journal(home / "journal", url, ops)
    assert apply_journal(store, home, url) == 1 and not path.exists()
    write_journal(home / "journal", url, ops)  # the same outcome again (a late write, a second pass)
    assert apply_journal(store, home, url) == 1
    assert record_outcome(store, ops, 1000) is None
    assert totals.read(store.sql, "alpha").runs["failed"] == 1
    assert stored(store) == expected(store)
    store.close()


def test_a_lost_run_concluded_later_stays_counted_as_lost(tmp_path: Path) -> None:
    """Its outcome waited in the journal while another command marked it lost: counters cannot go down."""
    store = runlog.open(f"sqlite:///{tmp_path / 'runlog.db'}", create=True)
    run_id = start(store, "alpha", T0, pid=DEAD_PID)
    store.mark_lost(task="alpha")
    record_outcome(store, [op("finish", id=run_id, status="succeeded", finished_at=to_ms(T0) + 100,
                              duration_ms=100, attempts=1, exit_code=0, error=None, traceback=None, result=None,
                              output=None)], 1000)
    alpha = totals.read(store.sql, "alpha")
    assert (alpha.runs["lost"], alpha.runs["succeeded"], alpha.duration_count) == (1, 1, 1)
    store.close()


def test_the_migration_fills_the_totals_of_a_schema_7_log(tmp_path: Path) -> None:
    """tests/data/runlog-schema7.db was written by cronkit at schema 7 (main at 69ffac2; it meets two migrations):
    5 `ok` succeeded, 3 `boom` failed, 1 `slow` timed out, and one `ok` row still `running`."""
    path = tmp_path / "runlog.db"
    shutil.copy(OLD_LOG, path)
    path.chmod(0o600)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    conn.close()
    store = runlog.open(f"sqlite:///{path}", create=True)
    assert store.sql("SELECT value FROM meta WHERE key = 'schema_version'", {})[0][0] == str(SCHEMA_VERSION)
    assert stored(store) == expected(store)
    runs = {name: t.runs for name, t in totals.read_all(store.sql).items()}
    assert (runs["ok"]["succeeded"], runs["boom"]["failed"], runs["slow"]["timed_out"]) == (5, 3, 1)
    last = store.sql("SELECT duration_ms FROM runs WHERE task = 'slow'", {})[0][0]
    assert totals.read(store.sql, "slow").last_duration_ms == last
    finish(store, start(store, "ok", T0), "succeeded", 10)
    assert totals.read(store.sql, "ok").runs["succeeded"] == 6
    store.close()


def test_the_migration_fills_the_totals_on_postgresql(pg_url: str) -> None:
    engine = create_engine_for(pg_url)
    before = MIGRATIONS.index(_add_run_totals)  # the schema version before run_totals
    with engine.begin() as conn:
        for migrate in MIGRATIONS[:before]:
            migrate(conn)
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"), {"v": str(before)})
        conn.execute(text(
            "INSERT INTO runs (task, status, \"trigger\", started_at, finished_at, duration_ms, attempts, host, pid,"
            " dry_run) SELECT 't' || (i % 3), CASE WHEN i % 4 = 0 THEN 'failed' ELSE 'succeeded' END, 'cron',"
            " i, i + 10, (i * 97) % 5000, 1, 'h', 1, false FROM generate_series(1, 500) AS i"))
    assert upgrade(engine, migrate=True) == before  # `cronkit migrate`: PostgreSQL migrates when asked
    engine.dispose()
    store = runlog.open(pg_url, create=True)
    assert stored(store) == expected(store) and len(stored(store)) == 3
    store.close()


def test_a_missed_slot_is_counted_once_by_any_number_of_judges(tmp_path: Path) -> None:
    store = runlog.open(f"sqlite:///{tmp_path / 'runlog.db'}", create=True)
    slots = [to_ms(T0 + timedelta(minutes=i)) for i in range(10)]
    assert totals.advance_missed(store.sql, "alpha", slots[2:4], slots[5]) == 2
    assert totals.advance_missed(store.sql, "alpha", slots[2:4], slots[5]) == 0  # judged already
    assert totals.advance_missed(store.sql, "alpha", [*slots[2:4], slots[7]], slots[9]) == 1
    assert totals.read(store.sql, "alpha").missed_slots == 3
    finish(store, start(store, "alpha", T0), "succeeded", 10)  # a run's end keeps the missed count
    assert totals.read(store.sql, "alpha").missed_slots == 3
    store.close()


def counted(conn: sqlite3.Connection) -> tuple[Any, list[int]]:
    """Return an Execute on `conn` and the list its SQLite VM steps are counted in."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(tick, 10)

    def execute(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        return conn.execute(sql, dict(params)).fetchall()

    return execute, steps


@pytest.mark.parametrize("older_running", [False, True])
def test_the_metrics_reads_do_not_grow_with_the_log(tmp_path: Path, older_running: bool) -> None:
    """Issue 33's scrape: one stale `running` row, then many newer runs; the reads stay the same size."""
    registry = Registry()
    registry.task("* * * * *", name="alpha", environments=["*"])(lambda ctx: None)
    task = registry["alpha"]
    work = []
    for size in (1_000, 20_000):
        path = tmp_path / f"log-{size}.db"
        store = runlog.open(f"sqlite:///{path}", create=True)
        if older_running:
            start(store, "alpha", T0 - timedelta(days=30), pid=1)
        for i in range(5):
            finish(store, start(store, "alpha", T0 + timedelta(minutes=i)), "succeeded", 100)
        store.close()
        with sqlite3.connect(path) as conn:
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
                " INSERT INTO runs (task, status, \"trigger\", started_at, finished_at, duration_ms, attempts, host,"
                " pid, dry_run) SELECT CASE WHEN i % 2 THEN 'alpha' ELSE 'beta' END, 'succeeded', 'cron', i, i, 5, 1,"
                " 'h', 1, 0 FROM n", (size,))
        conn.close()
        conn = sqlite3.connect(path)
        execute, steps = counted(conn)
        found = figures.task_figures(execute, task, "UTC", T0, next_run=None, missed=None)
        figures.running_by_task(execute)
        figures.latest_by_task(execute, ["alpha", "beta"])
        work.append(steps[0])
        conn.close()
        assert found.running == (1 if older_running else 0)
        assert (found.running_since is not None) == older_running
    assert work[1] <= work[0] * 1.2 + 50, work
