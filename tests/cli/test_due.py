"""cronkit due: which tasks fire at a minute or in a window, in the task's zone and UTC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_registry
from tests.fixturetypes import RunCli

REGISTRY = """
registry.add("0 3 * * *", "os:getcwd", name="paris-cleanup", timezone="Europe/Paris", environments=["*"])
registry.add("0 * * * *", "os:getcwd", name="hourly", environments=["*"])
registry.add("30 1 * * *", "os:getcwd", name="prod-only", environments=["production"])
"""


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    registry = write_registry(tmp_path / "due_tasks.py", REGISTRY)
    return {**cronkit_env, "CRONKIT_TASKS": str(registry)}


def due_json(run_cli: RunCli, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    done = run_cli("due", *args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_a_minute_across_the_spring_forward(run_cli: RunCli, env: dict[str, str]) -> None:
    # 2026-03-29: Paris springs forward at 02:00 CET -> 03:00 CEST; 03:00 CEST is 01:00 UTC.
    rows = due_json(run_cli, env, "--at", "2026-03-29T01:00")
    assert rows == [
        {"task": "hourly", "schedule": "0 * * * *", "timezone": "UTC", "slot": "2026-03-29T01:00:00+00:00",
         "slot_local": "2026-03-29T01:00:00+00:00", "enabled": True},
        {"task": "paris-cleanup", "schedule": "0 3 * * *", "timezone": "Europe/Paris",
         "slot": "2026-03-29T01:00:00+00:00", "slot_local": "2026-03-29T03:00:00+02:00", "enabled": True},
    ]
    # The same wall time with an offset, and a time inside the minute, name the same minute.
    assert due_json(run_cli, env, "--at", "2026-03-29T03:00:42+02:00") == rows
    # The day before, 03:00 in Paris was CET: 02:00 UTC.
    assert [r["task"] for r in due_json(run_cli, env, "--at", "2026-03-28T01:00Z")] == ["hourly"]
    assert [r["task"] for r in due_json(run_cli, env, "--at", "2026-03-28T02:00Z")] == ["hourly", "paris-cleanup"]


def test_a_window_lists_every_slot_in_order(run_cli: RunCli, env: dict[str, str]) -> None:
    rows = due_json(run_cli, env, "--at", "2026-10-24T23:30Z", "--until", "2026-10-25T02:00Z", "--all")
    assert [(r["slot"][11:16], r["task"]) for r in rows] == [
        ("00:00", "hourly"), ("01:00", "hourly"), ("01:30", "prod-only"),
        # 03:00 in Paris on the fall-back day is 02:00 UTC (CET again).
        ("02:00", "hourly"), ("02:00", "paris-cleanup"),
    ]
    assert [r["enabled"] for r in rows] == [True, True, False, True, True]  # --all: prod-only too
    assert [r["task"] for r in due_json(run_cli, env, "--at", "2026-10-25T01:30Z")] == []


def test_table_and_empty_output(run_cli: RunCli, env: dict[str, str]) -> None:
    done = run_cli("due", "--at", "2026-03-29T01:00", env=env)
    assert done.returncode == 0
    assert "paris-cleanup │ 2026-03-29 03:00+02:00 Europe/Paris │ 2026-03-29 01:00" in done.stdout
    none = run_cli("due", "--at", "2026-03-29T01:17", env=env)
    assert (none.returncode, none.stdout) == (0, "no task scheduled in development fires at 2026-03-29 01:17+00:00\n")


def test_expect_is_a_ci_check(run_cli: RunCli, env: dict[str, str]) -> None:
    ok = run_cli("due", "--at", "2026-03-29T01:00Z", "--expect", "paris-cleanup", "--json", env=env)
    assert ok.returncode == 0
    late = run_cli("due", "--at", "2026-03-29T02:00Z", "--expect", "paris-cleanup", "--expect", "hourly",
                   "--json", env=env)
    assert late.returncode == 1
    assert late.stderr == "cronkit: error: not due at 2026-03-29 02:00+00:00: paris-cleanup\n"
    # prod-only is registered but not scheduled in development: it is not due here.
    here = run_cli("due", "--at", "2026-03-29T01:30Z", "--expect", "prod-only", "--json", env=env)
    assert here.returncode == 1
    prod = run_cli("--env", "production", "due", "--at", "2026-03-29T01:30Z", "--expect", "prod-only",
                   "--json", env=env)
    assert prod.returncode == 0


def test_usage_errors(run_cli: RunCli, env: dict[str, str]) -> None:
    bad = run_cli("due", "--at", "tomorrow", env=env)
    assert (bad.returncode, bad.stderr) == (
        2, "cronkit: error: --at: 'tomorrow' is not an ISO time such as 2026-03-29T03:00+02:00\n")
    backwards = run_cli("due", "--at", "2026-03-29T02:00", "--until", "2026-03-29T01:00", env=env)
    assert (backwards.returncode, backwards.stderr) == (2, "cronkit: error: --until: must not be before --at\n")
    unknown = run_cli("due", "--at", "2026-03-29T02:00", "--expect", "nope", env=env)
    assert unknown.returncode == 2 and unknown.stderr.startswith("cronkit: error: unknown task 'nope'")
    helped = run_cli("due", "--help", env=env)
    assert helped.returncode == 0 and "Example: cronkit --env production due --at" in helped.stdout


def test_explain_refuses_the_options_of_a_minute_or_window(run_cli: RunCli, env: dict[str, str]) -> None:
    why = "not with --explain, which looks back from now (--since T sets how far)"
    for extra in (["--at", "2026-11-30T08:00Z"], ["--until", "2026-11-30T09:00Z"], ["--expect", "hourly"], ["--all"]):
        done = run_cli("due", "--explain", "hourly", *extra, env=env)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", f"cronkit: error: {extra[0]}: {why}\n")
    several = run_cli("due", "--explain", "hourly", "--at", "2026-11-30T08:00Z", "--until", "2026-11-30T09:00Z",
                      "--all", env=env)
    assert (several.returncode, several.stderr) == (2, f"cronkit: error: --at, --until and --all: {why}\n")
    since = run_cli("due", "--at", "2026-11-30T08:00Z", "--since", "3d", env=env)
    assert (since.returncode, since.stdout, since.stderr) == (2, "", "cronkit: error: --since: only with --explain TASK\n")
