"""`stats` against hand-computed figures, and the query plans of the read commands on runs."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from cronkit import runlog
from cronkit.config.settings import Settings, load_settings
from cronkit.health.missed import Window, count_missed
from cronkit.health.report import status
from cronkit.health.stats import percentile, stats
from cronkit.registry import Registry
from cronkit.runlog.enginelink import execute_on
from cronkit.runlog.link import SqliteLink
from cronkit.runlog.times import to_ms
from cronkit.runlog.writer import RunStore
from tests.fixturetypes import RunCli
from tests.runlog.outcomes import dead_letter, finish_run, resolve_dead_letter

UTC = UTC


class RunFilters(TypedDict, total=False):
    """The filters of /api/v1/runs a test passes to runs_page."""

    task: str
    status: str
    trigger: str

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def registry() -> Registry:
    reg = Registry()
    for name in ("alpha", "beta", "gamma"):
        reg.add("0 * * * *", "mod:func", name=name)
    return reg


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings({"home": str(home)}, environ={})


@pytest.fixture
def store(settings: Settings) -> Iterator[RunStore]:
    opened = runlog.open(settings.db_url, create=True)
    yield opened
    opened.close()


def record(store: RunStore, task: str, started: datetime, status_: str, duration_ms: int) -> int:
    run_id = store.start_run(task=task, trigger="cron", started_at=to_ms(started), user="cron")
    finish_run(store, run_id, status=status_, finished_at=to_ms(started) + duration_ms, duration_ms=duration_ms,
                     attempts=1, exit_code=0)
    return run_id


def test_percentile_is_nearest_rank() -> None:
    values = [15, 20, 35, 40, 50]
    # rank = ceil(p/100 * n): p50 -> ceil(2.5) = 3rd, p95 -> ceil(4.75) = 5th, p20 -> ceil(1.0) = 1st.
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 20)) == (35, 50, 15)
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7


def test_stats_against_hand_computed_figures(settings: Settings, store: RunStore) -> None:
    durations = list(range(10, 210, 10))  # 10, 20, ..., 200 ms: 20 runs that executed
    statuses = {30: "failed", 150: "failed", 200: "timed_out"}
    order = durations[:]
    random.Random(7).shuffle(order)
    old_failure = record(store, "beta", NOW - timedelta(days=20), "failed", 900)
    record(store, "alpha", NOW - timedelta(days=10), "succeeded", 5000)  # outside the window
    for i, ms in enumerate(order):
        record(store, "alpha", NOW - timedelta(hours=100 - i), statuses.get(ms, "succeeded"), ms)
    record(store, "alpha", NOW - timedelta(hours=1), "skipped", 0)
    letter = dead_letter(store, run_id=old_failure, task="beta", params=None, scheduled_for=None, error="x",
                               traceback=None, attempts=1, created_at=to_ms(NOW - timedelta(days=20)))
    resolved = dead_letter(store, run_id=old_failure, task="beta", params=None, scheduled_for=None, error="y",
                                 traceback=None, attempts=1, created_at=to_ms(NOW - timedelta(days=20)))
    resolve_dead_letter(store, resolved, old_failure, to_ms(NOW))
    assert letter != resolved

    rows = {row["task"]: row for row in stats(settings, 7, NOW, registry())}
    assert list(rows) == ["alpha", "beta", "gamma"]
    alpha = rows["alpha"]
    # Sorted durations 10..200: p50 is the 10th (100 ms), p95 the ceil(0.95 * 20) = 19th (190 ms).
    assert {k: alpha[k] for k in ("runs", "successes", "failures", "skipped", "success_rate", "p50_ms", "p95_ms",
                                  "open_dead_letters")} == {
        "runs": 21, "successes": 17, "failures": 3, "skipped": 1, "success_rate": 0.85,
        "p50_ms": 100, "p95_ms": 190, "open_dead_letters": 0,
    }
    last_ok = max(i for i, ms in enumerate(order) if ms not in statuses)
    last_bad = max(i for i, ms in enumerate(order) if ms in statuses)
    assert alpha["last_success"] == (NOW - timedelta(hours=100 - last_ok)).isoformat()
    assert alpha["last_failure"] == (NOW - timedelta(hours=100 - last_bad)).isoformat()
    beta = rows["beta"]
    assert (beta["runs"], beta["success_rate"], beta["p50_ms"]) == (0, None, None)
    assert beta["last_failure"] == (NOW - timedelta(days=20)).isoformat() and beta["last_failure_status"] == "failed"
    assert beta["open_dead_letters"] == 1
    assert rows["gamma"]["last_success"] is None and rows["gamma"]["runs"] == 0


def test_stats_cli_json(run_cli: RunCli, home: Path, tmp_path: Path) -> None:
    from tests.conftest import write_registry

    reg = write_registry(tmp_path / "statsreg.py", '@registry.task("0 * * * *", name="alpha", environments=["*"])\n'
                                                   'def alpha(ctx): return {}\n')
    env = {"CRONKIT_TASKS": str(reg), "CRONKIT_NOW": NOW.isoformat()}
    assert run_cli("run", "alpha", env=env).returncode == 0
    result = run_cli("stats", "--days", "1", "--json", env=env)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["task"], row["runs"], row["successes"], row["success_rate"]) == ("alpha", 1, 1, 1.0)
    assert row["last_success"] == NOW.isoformat()
    table = run_cli("stats", env=env)
    assert "alpha" in table.stdout and "100.0%" in table.stdout


# --- query plans -----------------------------------------------------------------------------


def fill(store: RunStore, tasks: int = 5, per_task: int = 400) -> None:
    start = NOW - timedelta(days=30)
    for t in range(tasks):
        for i in range(per_task):
            slot = start + timedelta(hours=i)
            run_id = store.start_run(task=f"task-{t}", trigger="cron", scheduled_for=to_ms(slot),
                                     started_at=to_ms(slot), user="cron")
            finish_run(store, run_id, status="succeeded" if i % 7 else "failed", finished_at=to_ms(slot) + 5,
                             duration_ms=5, attempts=1, exit_code=0)


def capture(func: Any) -> list[tuple[str, Any]]:
    """Run func() and return every SQL statement it ran, with its parameters: through SQLAlchemy, or
    through the sqlite3 connection of a SQLite run log (runlog.link.SqliteLink)."""
    seen: list[tuple[str, Any]] = []

    def listener(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    plain = SqliteLink.execute

    def execute(self: SqliteLink, sql: str, params: Any) -> Any:
        seen.append((sql, dict(params)))
        return plain(self, sql, params)

    event.listen(Engine, "before_cursor_execute", listener)
    SqliteLink.execute = execute  # type: ignore[method-assign]
    try:
        func()
    finally:
        SqliteLink.execute = plain  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", listener)
    return seen


def plans(settings: Settings, statements: list[tuple[str, Any]]) -> list[tuple[str, list[str]]]:
    """Return (statement, EXPLAIN QUERY PLAN details) of each SELECT that reads the runs table."""
    import sqlite3

    conn = sqlite3.connect(str(settings.home / "cronkit.db"))
    out = []
    for statement, params in statements:
        text = " ".join(statement.split())
        if not text.upper().startswith("SELECT") or " runs" not in text:
            continue
        rows = conn.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
        out.append((text, [row[-1] for row in rows]))
    conn.close()
    return out


def assert_indexed(found: list[tuple[str, list[str]]]) -> None:
    assert found
    for text, details in found:
        for detail in details:
            newest_first = "ORDER BY runs.id DESC LIMIT" in text and " WHERE " not in text
            # Reading newest-first by primary key with a LIMIT stops after LIMIT rows: not a full scan.
            if detail.startswith("SCAN runs") and not (newest_first and detail == "SCAN runs"):
                pytest.fail(f"full scan of runs: {detail}\n{text}")
            if "runs" in text and "TEMP B-TREE FOR ORDER BY" in detail and "LIMIT" in text:
                pytest.fail(f"sorts all matching runs before its LIMIT: {detail}\n{text}")


def test_read_queries_use_indexes(settings: Settings, store: RunStore) -> None:
    from cronkit.runlog.reader import HistoryFilter, history

    fill(store)
    log = runlog.open(settings.db_url, settle=settings)

    def histories() -> None:
        history(log, HistoryFilter(limit=50))
        history(log, HistoryFilter(task="task-3", limit=50))
        history(log, HistoryFilter(status="failed", limit=50))

    def api_pages() -> None:  # GET /api/v1/runs?task=|status=|trigger=
        from cronkit.runlog.reader import runs_page

        pages: list[RunFilters] = [{}, {"task": "task-3"}, {"status": "failed"}, {"trigger": "catchup"}]
        for filters in pages:
            runs_page(log.sqlalchemy_engine(), limit=50, **filters)

    def missed() -> None:
        slots = tuple(NOW - timedelta(hours=h) for h in range(48, 0, -1))
        with log.sqlalchemy_engine().connect() as conn:
            count_missed(execute_on(conn), Window("task-2", slots, slots[0], False))

    reg = Registry()
    for t in range(5):
        reg.add("0 * * * *", "mod:func", name=f"task-{t}")
    found = plans(settings, capture(histories) + capture(api_pages) + capture(missed)
                  + capture(lambda: stats(settings, 7, NOW, reg))
                  + capture(lambda: status(settings, reg, NOW)))
    assert_indexed(found)
    used = " ".join(d for _, details in found for d in details)
    for index in ("ix_runs_task_id", "ix_runs_status_id", "ix_runs_task_scheduled_for", "ix_runs_task_status_id",
                  "ix_runs_started_at", "ix_runs_trigger_id"):
        assert index in used, (index, found)
