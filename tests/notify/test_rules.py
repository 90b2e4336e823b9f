"""The failure rules against a real run log, with the clock given: N in a row, repeat_after, recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cronkit import runlog
from cronkit.config.notify import TaskNotify, notifier
from cronkit.notify import outbox
from cronkit.notify.rules import RunFacts, events_for
from cronkit.runlog.writer import RunStore
from tests.runlog.outcomes import finish_run

HOUR = 3_600_000


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    url = f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = runlog.open(url, create=True)
    yield store
    store.close()


def finish(store: RunStore, status: str, at: int, duration_ms: int = 1000) -> int:
    run_id = store.start_run(task="t", trigger="cron", started_at=at, user=None)
    finish_run(store, run_id, status=status, finished_at=at + duration_ms, duration_ms=duration_ms, attempts=1,
                     exit_code=0 if status == "succeeded" else 1)
    return run_id


def play(store: RunStore, table: dict[str, Any], statuses: list[str], limits: TaskNotify | None = None) -> list[str]:
    """Record runs an hour apart; queue what the rules say as the hook does; return 'event@index'."""
    hook = notifier("hook", {"kind": "webhook", "url": "http://127.0.0.1:9/h", **table})
    said = []
    for index, status in enumerate(statuses):
        at = index * HOUR
        run_id = finish(store, status, at)
        facts = RunFacts(store, "t", run_id, status, 1000)
        for event in events_for(hook, facts, limits, now=at):
            outbox.enqueue(store, "hook", {"task": "t", "event": event, "run_id": run_id}, at=at)
            said.append(f"{event}@{index}")
    return said


def test_failure_after_n_in_a_row_then_recovery(store: RunStore) -> None:
    table = {"on": ["failure", "recovery"], "failures_before_alert": 2}
    said = play(store, table, ["failed", "succeeded", "failed", "timed_out", "failed", "succeeded", "succeeded"])
    assert said == ["failure@3", "recovery@5"]


def test_skipped_runs_neither_count_nor_break_a_streak(store: RunStore) -> None:
    said = play(store, {"on": ["failure"], "failures_before_alert": 2}, ["failed", "skipped", "lost"])
    assert said == ["failure@2"]


def test_repeat_after(store: RunStore) -> None:
    said = play(store, {"on": ["failure", "recovery"], "repeat_after": "2h"},
                ["failed", "failed", "failed", "failed", "succeeded", "failed"])
    assert said == ["failure@0", "failure@2", "recovery@4", "failure@5"]


def test_no_repeat_without_repeat_after(store: RunStore) -> None:
    assert play(store, {"on": ["failure"]}, ["failed"] * 5) == ["failure@0"]


def test_durations(store: RunStore) -> None:
    limits = TaskNotify(max_duration=0.5, min_duration=2.0)
    assert play(store, {"on": ["too_long", "too_fast"]}, ["succeeded"], limits) == ["too_long@0", "too_fast@0"]
