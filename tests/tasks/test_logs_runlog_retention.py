"""daily-log-pruning's run-log retention leaves no connection to the run log open."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronkit import runlog
from cronkit.config.settings import load_settings
from cronkit.context import TaskContext
from cronkit.registry import task_config
from cronkit.tasks import registry
from cronkit.tasks.logs.runlog_retention import prune_run_log
from cronkit.tasks.logs.task import daily_log_pruning
from tests.runlog.outcomes import finish_run


def make_ctx(home: Path, *, dry_run: bool, now: datetime) -> TaskContext:
    task = registry["daily-log-pruning"]
    settings = load_settings(environ={"CRONKIT_HOME": str(home), "CRONKIT_LOG_DIR": str(home / "logs")})
    return TaskContext(task=task.name, settings=settings, config=task_config(task, {}), now=now,
                       dry_run=dry_run)


def descriptors_on(db: str) -> list[str]:
    """Return this process's open descriptors on the SQLite file `db` (and its -wal, -shm)."""
    real = os.path.realpath(db)
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target in (real, real + "-wal", real + "-shm"):
            found.append(target)
    return found


@pytest.mark.parametrize("dry_run", [True, False])
def test_run_log_retention_closes_its_connections(tmp_path: Path, dry_run: bool) -> None:
    from cronkit.runlog.times import to_ms

    now = datetime.now(UTC)
    ctx = make_ctx(tmp_path, dry_run=dry_run, now=now)
    (tmp_path / "logs").mkdir()
    store = runlog.open(ctx.settings.db_url, create=True)
    started = to_ms(now - timedelta(days=100))
    run_id = store.start_run(task="hourly-metrics", trigger="cron", started_at=started, user="t")
    finish_run(store, run_id, status="succeeded", finished_at=started + 1000, duration_ms=1000,
                     attempts=1, exit_code=0)
    store.close()
    db = ctx.settings.db_url.removeprefix("sqlite:///")
    assert descriptors_on(db) == []

    assert prune_run_log(ctx) == 1
    assert descriptors_on(db) == []  # the engine was disposed: its pooled connection is closed

    assert daily_log_pruning(ctx)["runlog_runs_pruned"] == (1 if dry_run else 0)
    assert descriptors_on(db) == []
