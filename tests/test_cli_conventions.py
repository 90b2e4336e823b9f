"""Issue 13 item 7: conventional help placeholders, --json on every command that changes or renders
something, `run --json` error text, `history NOSUCHTASK` is a usage error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import write_registry

REGISTRY = """
@registry.task("0 * * * *", environments=["*"])
def boom(ctx: TaskContext) -> dict:
    raise ValueError("bad thing")


@registry.task("0 10 * * *", environments=["*"])
def noop(ctx: TaskContext) -> dict:
    return {}
"""
OUTCOME_KEYS = {"block_id", "location", "dry_run", "changed", "wrote", "backup", "run_config",
                "run_config_written", "changes", "diff", "warnings"}


@pytest.fixture
def cli(run_cli, tmp_path: Path):  # type: ignore[no-untyped-def]
    registry = write_registry(tmp_path / "conv_registry.py", REGISTRY)
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()

    def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return run_cli(*args, env={"CRONKIT_TASKS": str(registry), "CRONKIT_CRON_D": str(cron_d), **(env or {})})

    return run


@pytest.mark.parametrize("command", [("history",), ("run",), ("install",), ("status",), ("dlq", "list"),
                                     ("secrets", "add"), ("render",), ("stats",)])
def test_help_shows_conventional_placeholders(cli, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    proc = cli(*command, "--help", env={"COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert not re.search(r"<(bool|str|int|float|int range|path)>", proc.stdout), proc.stdout
    flag = re.search(r"│ --json\s+(\S+)", proc.stdout)
    if flag:  # a flag takes no value: its help text follows directly
        assert flag.group(1) == "Print", proc.stdout


def test_history_limit_placeholder(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("history", "--help", env={"COLUMNS": "120"}).stdout
    assert re.search(r"--limit\s+LIMIT", out) and re.search(r"\[TASK\]", out)


def test_run_json_of_a_failed_run_has_the_error(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "boom", "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["status"] == "failed" and "ValueError: bad thing" in report["error"]
    assert report["dead_letter_id"] == 1
    ok = json.loads(cli("run", "noop", "--json").stdout)
    assert ok["status"] == "succeeded" and ok["error"] is None


def test_history_of_an_unknown_task_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("run", "noop").returncode == 0
    proc = cli("history", "nop")
    assert proc.returncode == 2
    assert proc.stderr == "cronkit: error: unknown task 'nop'; did you mean noop?\n"
    assert cli("history", "noop").returncode == 0


def test_install_uninstall_render_json(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rendered = cli("render", "--target", "cron.d", "--json")
    assert rendered.returncode == 0, rendered.stderr
    doc = json.loads(rendered.stdout)
    assert set(doc) == {"target", "block_id", "text"} and "run boom" in doc["text"]

    dry = cli("install", "--target", "cron.d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert set(plan) == OUTCOME_KEYS and plan["dry_run"] and not plan["wrote"] and plan["diff"]
    assert sorted((c["task"], c["kind"]) for c in plan["changes"]) == [("boom", "added"), ("noop", "added")]
    done = json.loads(cli("install", "--target", "cron.d", "--json").stdout)
    assert done["wrote"] and done["diff"] is None
    assert json.loads(cli("install", "--target", "cron.d", "--json").stdout)["changed"] is False

    checked = cli("render", "--target", "cron.d", "--json", "--check", done["location"])
    assert checked.returncode == 0 and json.loads(checked.stdout)["differs"] is False

    removed = cli("uninstall", "--target", "cron.d", "--json")
    assert removed.returncode == 0, removed.stderr
    gone = json.loads(removed.stdout)
    assert set(gone) == OUTCOME_KEYS and gone["wrote"]
    assert sorted(c["kind"] for c in gone["changes"]) == ["removed", "removed"]
