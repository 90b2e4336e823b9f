"""Late cron starts (issue 19): within the grace a start serves its slot, past it it is recorded skipped."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cronkit.runner.slots import choose_slot
from tests.conftest import write_registry
from tests.fixturetypes import RunCli

REGISTRY = """
@registry.task("0 10 * * *", environments=["*"], grace="5m")
def daily(ctx: TaskContext) -> dict:
    print("daily ran for", ctx.slot.isoformat())
    return {}


@registry.task("30 2 * * *", environments=["*"], timezone="Europe/Paris")
def paris(ctx: TaskContext) -> dict:
    return {}
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def choose(schedule: str, started: str, held: AbstractSet[datetime] = frozenset(), grace: float = 300,
           zone: str = "UTC") -> tuple[str, int] | None:
    choice = choose_slot(schedule, zone, at(started), grace, lambda slot: slot in held)
    return None if choice is None else (choice.slot.strftime("%H:%M"), choice.late_ms)


def test_a_start_in_its_minute_serves_it() -> None:
    assert choose("0 10 * * *", "2026-11-28T10:00:01") == ("10:00", 1000)
    # Held already: a second start in the minute is the slot's duplicate (the claim records it skipped).
    assert choose("0 10 * * *", "2026-11-28T10:00:01", {at("2026-11-28T10:00")}) == ("10:00", 1000)


def test_a_late_start_serves_the_latest_slot_no_run_holds() -> None:
    assert choose("0 10 * * *", "2026-11-28T10:01:05") == ("10:00", 65_000)
    assert choose("0 10 * * *", "2026-11-28T10:04:59") == ("10:00", 299_000)
    assert choose("0 10 * * *", "2026-11-28T10:01:05", {at("2026-11-28T10:00")}) is None  # an extra firing
    # Past the grace, within the reach: the slot's too-late start (recorded skipped).
    late = choose_slot("0 10 * * *", "UTC", at("2026-11-28T10:20:00"), 300, lambda s: False)
    assert late is not None and late.too_late and "past the task's grace of 300s" in late.note()
    assert choose("0 10 * * *", "2026-11-28T10:35:00") == ("10:00", 2_100_000)
    assert choose("0 10 * * *", "2026-11-28T10:36:00") is None  # beyond grace + 30 min: not this slot's start


def test_a_late_start_serves_only_the_latest_slot() -> None:
    # `*/5`: a start at 10:07:10 (not a slot) serves 10:05 if no run holds it; once 10:05 is held it
    # is no older slot's start (cron starts a job's firings in order), even with 10:00 unserved.
    assert choose("*/5 * * * *", "2026-11-28T10:07:10") == ("10:05", 130_000)
    assert choose("*/5 * * * *", "2026-11-28T10:07:10", {at("2026-11-28T10:05")}) is None
    # A start in a slot's minute never serves an older slot in its place.
    assert choose("* * * * *", "2026-11-28T10:03:21", {at("2026-11-28T10:03")}) == ("10:03", 21_000)


def test_not_a_slot_in_the_task_zone_is_quiet() -> None:
    # A UTC host line `30 0,1 * * *` for 02:30 Paris: in winter 00:30Z is not a slot, nothing is near.
    assert choose("30 2 * * *", "2026-01-10T00:30:01", zone="Europe/Paris") is None
    assert choose("30 2 * * *", "2026-01-10T01:30:01", zone="Europe/Paris") == ("01:30", 1000)


def runs(home: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "cronkit.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]
    conn.close()
    return rows


@pytest.fixture
def cron(run_cli: RunCli, tmp_path: Path) -> Callable[[str, str], subprocess.CompletedProcess[str]]:
    registry = write_registry(tmp_path / "late_registry.py", REGISTRY)

    def run(task: str, now: str) -> subprocess.CompletedProcess[str]:
        return run_cli("run", task, "--trigger", "cron",
                       env={"CRONKIT_TASKS": str(registry), "CRONKIT_NOW": now})

    return run


def test_cron_run_late_within_grace_runs_and_says_how_late(cron: Callable[[str, str], subprocess.CompletedProcess[str]], home: Path) -> None:
    proc = cron("daily", "2026-11-28T10:01:05+00:00")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    [run] = runs(home)
    assert (run["status"], run["scheduled_for"], run["started_at"] - run["scheduled_for"]) == (
        "succeeded", 1795860000000, 65_000)
    with sqlite3.connect(home / "cronkit.db") as conn:
        output = conn.execute("SELECT output FROM runs").fetchone()[0]
    assert "started 65.0s after its slot 2026-11-28T10:00:00+00:00, within the task's grace of 300s" in output
    assert "daily ran for 2026-11-28T10:00:00+00:00" in output
    # Another start in the same reach finds the slot served: an extra firing, quiet and unrecorded.
    proc = cron("daily", "2026-11-28T10:02:00+00:00")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert len(runs(home)) == 1


def test_cron_run_past_grace_is_recorded_skipped_once(cron: Callable[[str, str], subprocess.CompletedProcess[str]], home: Path) -> None:
    proc = cron("daily", "2026-11-28T10:07:30+00:00")
    assert (proc.returncode, proc.stdout) == (75, "")
    [run] = runs(home)
    assert (run["status"], run["scheduled_for"]) == ("skipped", 1795860000000)
    assert run["error"] == ("started 450.0s after its slot 2026-11-28T10:00:00+00:00,"
                            " past the task's grace of 300s")
    proc = cron("daily", "2026-11-28T10:08:30+00:00")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert len(runs(home)) == 1  # never twice for one slot


def test_cron_run_not_a_slot_in_the_task_zone_stays_quiet(cron: Callable[[str, str], subprocess.CompletedProcess[str]], home: Path) -> None:
    proc = cron("paris", "2026-01-10T00:30:01+00:00")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert not (home / "cronkit.db").exists()  # nothing near: the run log is not even opened
