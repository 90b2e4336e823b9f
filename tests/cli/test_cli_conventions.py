"""Issue 13 item 7: conventional help placeholders, --json on every command that changes or renders
something, `run --json` error text, `history NOSUCHTASK` is a usage error."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_registry
from tests.fixturetypes import Cli, RunCli

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
def cli(run_cli: RunCli, tmp_path: Path) -> Cli:
    registry = write_registry(tmp_path / "conv_registry.py", REGISTRY)
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env={"CRONKIT_TASKS": str(registry), "CRONKIT_CRON_D": str(cron_d), **(env or {})})

    return run


@pytest.mark.parametrize("command", [("history",), ("run",), ("install",), ("status",), ("dlq", "list"),
                                     ("secrets", "add"), ("render",), ("stats",)])
def test_help_shows_conventional_placeholders(cli: Cli, command: tuple[str, ...]) -> None:
    proc = cli(*command, "--help", env={"COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert not re.search(r"<(bool|str|int|float|int range|path)>", proc.stdout), proc.stdout
    flag = re.search(r"│ --json\s+(\S+)", proc.stdout)
    if flag:  # a flag takes no value: its help text follows directly
        assert flag.group(1) == "Print", proc.stdout


def test_history_limit_placeholder(cli: Cli) -> None:
    out = cli("history", "--help", env={"COLUMNS": "120"}).stdout
    assert re.search(r"--limit\s+LIMIT", out) and re.search(r"\[TASK\]", out)


def test_run_json_of_a_failed_run_has_the_error(cli: Cli) -> None:
    proc = cli("run", "boom", "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["status"] == "failed" and "ValueError: bad thing" in report["error"]
    assert report["dead_letter_id"] == 1
    ok = json.loads(cli("run", "noop", "--json").stdout)
    assert ok["status"] == "succeeded" and ok["error"] is None


def test_history_of_an_unknown_task_is_a_usage_error(cli: Cli) -> None:
    assert cli("run", "noop").returncode == 0
    proc = cli("history", "nop")
    assert proc.returncode == 2
    assert proc.stderr == "cronkit: error: unknown task 'nop'; did you mean noop?\n"
    assert cli("history", "noop").returncode == 0
    # dlq list and notify log filter by task the same way: a name neither registered nor found is a typo.
    for args in (("dlq", "list", "--task", "nop"), ("notify", "log", "--task", "nop")):
        typo = cli(*args)
        assert (typo.returncode, typo.stderr) == (2, "cronkit: error: unknown task 'nop'; did you mean noop?\n"), args
        assert cli(*args[:-1], "noop").returncode == 0, args


def test_install_uninstall_render_json(cli: Cli, tmp_path: Path) -> None:
    rendered = cli("render", "--target", "cron.d", "--json")
    assert rendered.returncode == 0, rendered.stderr
    doc = json.loads(rendered.stdout)
    assert set(doc) == {"target", "block_id", "text"} and "run boom" in doc["text"]

    dry = cli("install", "--target", "cron.d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert set(plan) == OUTCOME_KEYS and plan["dry_run"] and not plan["wrote"] and plan["diff"]
    assert sorted((c["task"], c["kind"]) for c in plan["changes"]) == [
        ("boom", "added"), ("cronkit check", "added"), ("noop", "added")]
    done = json.loads(cli("install", "--target", "cron.d", "--json").stdout)
    assert done["wrote"] and done["diff"] is None
    assert json.loads(cli("install", "--target", "cron.d", "--json").stdout)["changed"] is False

    checked = cli("render", "--target", "cron.d", "--json", "--check", done["location"])
    assert checked.returncode == 0 and json.loads(checked.stdout)["differs"] is False

    removed = cli("uninstall", "--target", "cron.d", "--json")
    assert removed.returncode == 0, removed.stderr
    gone = json.loads(removed.stdout)
    assert set(gone) == OUTCOME_KEYS and gone["wrote"]
    assert sorted(c["kind"] for c in gone["changes"]) == ["removed", "removed", "removed"]


@pytest.mark.slow
def test_history_answers_without_typer_or_sqlalchemy(cli: Cli, run_process: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """`history` on a SQLite log answers without typer or SQLAlchemy; an unknown task is a usage error."""
    import subprocess
    import sys

    registry = str(tmp_path / "conv_registry.py")
    for task in ("noop", "boom", "noop"):
        cli("run", task)
    env = {"CRONKIT_TASKS": registry, "COLUMNS": "80"}
    for extra in ((), ("--json",), ("noop", "--limit", "1"), ("--status", "failed", "--json"), ("--since", "3650d")):
        done = run_process("history", *extra, env=env)
        assert done.returncode == 0 and done.stdout, done.stderr
    one = run_process("history", "noop", "--limit", "1", "--json", env=env)
    assert [run["id"] for run in json.loads(one.stdout)] == [3]
    failed = run_process("history", "--status", "failed", "--json", env=env)
    assert [run["task"] for run in json.loads(failed.stdout)] == ["boom"]
    unknown = run_process("history", "nop", env=env)
    assert (unknown.returncode, unknown.stderr) == (2, "cronkit: error: unknown task 'nop'; did you mean noop?\n")

    probe = ("import atexit, sys\n"
             "atexit.register(lambda: print(sorted(m for m in ('typer', 'sqlalchemy', 'pydantic') if m in sys.modules),"
             " file=sys.stderr))\n"
             "from cronkit.main import main\nmain(['history', '--json'])\n")
    done = subprocess.run([sys.executable, "-c", probe], env={**cronkit_env, **env}, capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0 and done.stderr == "[]\n", done.stderr


def test_list_status_health_stats_answer_without_typer(cli: Cli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """`list`, `status`, `health` and `stats` answer (output, exit code) without typer, and without
    SQLAlchemy on a SQLite run log (read through sqlite3)."""
    import subprocess
    import sys
    from datetime import UTC, datetime, timedelta

    from tests.conftest import run_in_process

    for task in ("noop", "boom", "noop"):
        cli("run", task)
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    env = {**cronkit_env, "CRONKIT_TASKS": str(tmp_path / "conv_registry.py"), "COLUMNS": "80", "CRONKIT_NOW": later}

    codes = {"health": 1, "nop": 2}
    for args in (("list",), ("list", "noop"), ("list", "--json"), ("list", "nop"), ("status",), ("status", "--json"),
                 ("health",), ("--debug", "health", "--json"), ("stats",), ("stats", "--days", "0.5", "--json"),
                 ("status",)):
        done = run_in_process(args, env, tmp_path)
        code = next((codes[word] for word in args if word in codes), 0)
        assert done.returncode == code and (done.stdout or code == 2), (args, done.stderr)
    assert "last health check" in done.stdout and "boom" in done.stdout

    probe = ("import atexit, sys\n"
             "atexit.register(lambda: print(sorted(m for m in ('typer', 'sqlalchemy', 'pydantic') if m in sys.modules),"
             " file=sys.stderr))\n"
             "from cronkit.main import main\nmain(sys.argv[1:])\n")
    for command in ("list", "status", "health", "stats"):
        done = subprocess.run([sys.executable, "-c", probe, command, "--json"], env=env, capture_output=True,
                              text=True, cwd=tmp_path, timeout=60)
        assert done.returncode == (1 if command == "health" else 0) and done.stderr == "[]\n", (command, done.stderr)
