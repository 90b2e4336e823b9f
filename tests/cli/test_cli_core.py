"""`cronkit run`, `list`, `history`, `show` (SPEC 4, 6): exact output, exit codes, errors, help."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clitree import all_commands
from tests.conftest import write_registry
from tests.fixturetypes import Cli, RunCli

REGISTRY = """
@registry.task("0 10 * * *", environments=["*"])
def noop(ctx: TaskContext) -> dict:
    \"\"\"Do nothing, successfully.\"\"\"
    return {}


@registry.task("* * * * *", name="echo-ctx", environments=["*"], timezone="Europe/Paris")
def echo_ctx(ctx: TaskContext) -> dict:
    print("echo ran")
    return {"params": dict(ctx.params), "date": ctx.date.isoformat() if ctx.date else None,
            "dry_run": ctx.dry_run, "slot": ctx.slot.isoformat() if ctx.slot else None,
            "config": dict(ctx.config), "run_id": ctx.run_id}


@registry.task("0 * * * *", environments=["*"])
def boom(ctx: TaskContext) -> dict:
    raise ValueError("bad thing")


@registry.task("0 * * * *", environments=["production"], retries=2, timeout="1h", description="Production only")
def prod_only(ctx: TaskContext) -> dict:
    return {"ran": True}
"""

RUN_KEYS = {"attempts", "dry_run", "duration_ms", "error", "exit_code", "finished_at", "heartbeat_at", "host", "id",
            "params", "pid", "pid_start", "result", "scheduled_for", "started_at", "status", "task", "trigger", "user",
            "cpu_user_ms", "cpu_system_ms", "max_rss_kb"}  # issue 29: what the run's process tree used
SHOW_KEYS = RUN_KEYS | {"attempt_log", "dead_letter", "output", "traceback"}
LIST_KEYS = {"name", "schedule", "resolved_schedule", "schedule_text", "description", "timezone", "environments", "next_run",
             "next_run_local", "enabled", "disabled_reason", "timeout_s", "retries", "singleton",
             "params", "dates", "requires",  # issue 13: a task's parameters and needs
             "source", "command",  # issue 30: where it is defined, the shell command it runs
             "paused", "paused_at", "paused_until", "paused_by", "pause_reason"}  # issue 28
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


@pytest.fixture
def cli(run_cli: RunCli, tmp_path: Path) -> Cli:
    """run_cli with this file's registry."""
    registry = write_registry(tmp_path / "core_registry.py", REGISTRY)

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env={"CRONKIT_TASKS": str(registry), **(env or {})})

    return run


def runs_in(home: Path) -> list[dict[str, Any]]:
    db = home / "cronkit.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]
    conn.close()
    return rows


def one_error_line(stderr: str) -> str:
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert "Traceback" not in stderr
    return stderr.rstrip("\n")


# -- run -------------------------------------------------------------------------------------------

def test_run_success_prints_summary_and_result(cli: Cli, home: Path) -> None:
    proc = cli("run", "echo-ctx", "--param", "a=1", "--param", "b=x=y", "--date", "2026-11-20", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    summary, _, result = proc.stdout.partition("\n")
    assert re.fullmatch(r"echo-ctx succeeded in \d+(ms|\.\ds) \(run 1\)", summary)
    assert json.loads(result) == {"params": {"a": "1", "b": "x=y"}, "date": "2026-11-20", "dry_run": True,
                                  "slot": None, "config": {}, "run_id": 1}
    assert result == json.dumps(json.loads(result), sort_keys=True, indent=2) + "\n"
    [run] = runs_in(home)
    assert (run["status"], run["trigger"], run["exit_code"], run["attempts"]) == ("succeeded", "manual", 0, 1)
    assert json.loads(run["params"]) == {"a": "1", "b": "x=y", "date": "2026-11-20"}
    assert run["dry_run"] == 1 and run["output"] == "echo ran\n" and run["scheduled_for"] is None
    assert run["pid"] != os.getpid() and run["host"]


def test_run_success_with_empty_result_prints_only_the_summary(cli: Cli) -> None:
    proc = cli("run", "noop")
    assert proc.returncode == 0
    assert re.fullmatch(r"noop succeeded in \d+(ms|\.\ds) \(run 1\)\n", proc.stdout)


def test_run_records_the_invoking_user(cli: Cli, home: Path) -> None:
    assert cli("run", "noop", env={"LOGNAME": "alice-ops", "USER": "alice-ops"}).returncode == 0
    assert runs_in(home)[0]["user"] == "alice-ops"


def test_run_failure_exits_1_with_one_line_on_stderr(cli: Cli, home: Path) -> None:
    proc = cli("run", "boom")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == "boom failed: ValueError: bad thing (run 1; cronkit show 1; dead letter 1)\n"
    [run] = runs_in(home)
    assert (run["status"], run["exit_code"], run["error"]) == ("failed", 1, "ValueError: bad thing")
    assert run["traceback"].rstrip().endswith("ValueError: bad thing")


def test_run_json(cli: Cli) -> None:
    proc = cli("run", "echo-ctx", "--json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert set(data) == {"run_id", "status", "exit_code", "duration_ms", "result", "error", "dead_letter_id"}
    assert (data["run_id"], data["status"], data["exit_code"]) == (1, "succeeded", 0)
    proc = cli("run", "boom", "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["status"] == "failed"


def test_manual_run_runs_whatever_the_environment(cli: Cli, home: Path) -> None:
    proc = cli("run", "prod-only")  # development: not scheduled here, but a person asked for it
    assert proc.returncode == 0, proc.stderr
    assert runs_in(home)[0]["status"] == "succeeded"


def test_cron_trigger_is_quiet_records_the_slot(cli: Cli, home: Path) -> None:
    env = {"CRONKIT_NOW": "2026-11-28T10:00:20+00:00"}
    proc = cli("run", "noop", "--trigger", "cron", env=env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    [run] = runs_in(home)
    assert (run["trigger"], run["status"]) == ("cron", "succeeded")
    assert run["scheduled_for"] == 1795860000000  # 2026-11-28T10:00:00Z in ms

    proc = cli("run", "noop", "--trigger", "cron", env=env)  # the same slot again: not run twice
    assert (proc.returncode, proc.stdout, proc.stderr) == (75, "", "")
    assert [r["status"] for r in runs_in(home)] == ["succeeded", "skipped"]

    proc = cli("run", "noop", "--trigger", "cron", env={"CRONKIT_NOW": "2026-11-28T10:01:00+00:00"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")  # not due: nothing to do, nothing recorded
    assert len(runs_in(home)) == 2

    proc = cli("run", "prod-only", "--trigger", "cron", env={"CRONKIT_NOW": "2026-11-28T10:00:00+00:00"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (75, "", "")
    last = runs_in(home)[-1]
    assert (last["task"], last["status"], last["error"]) == ("prod-only", "skipped", "not enabled in environment development")


def test_cron_failure_prints_a_short_summary(cli: Cli) -> None:
    proc = cli("run", "boom", "--trigger", "cron", env={"CRONKIT_NOW": "2026-11-28T10:00:00+00:00"})
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == "boom failed: ValueError: bad thing (run 1; cronkit show 1; dead letter 1)\n"


def test_unknown_task_exits_2_with_suggestions_and_records_nothing(cli: Cli, home: Path) -> None:
    proc = cli("run", "nop")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "cronkit: error: unknown task 'nop'; did you mean noop?\n"
    proc = cli("run", "zzzzzz")
    assert (proc.returncode, proc.stderr) == (2, "cronkit: error: unknown task 'zzzzzz'\n")
    assert not (home / "cronkit.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--param", "novalue"), "cronkit: error: --param: expected KEY=VALUE, got 'novalue'"),
        (("--date", "2026-13-01"), "cronkit: error: --date: '2026-13-01' is not a date (YYYY-MM-DD)"),
        (("--trigger", "sometimes"), "cronkit: error: --trigger: must be cron, manual, retry or api, not 'sometimes'"),
    ],
)
def test_run_usage_errors_exit_2(cli: Cli, home: Path, args: tuple[str, ...], message: str) -> None:
    proc = cli("run", "noop", *args)
    assert proc.returncode == 2
    assert one_error_line(proc.stderr) == message
    assert runs_in(home) == []


def test_run_unknown_option_is_a_usage_error(cli: Cli, home: Path) -> None:
    proc = cli("run", "noop", "--frobnicate")
    assert proc.returncode == 2
    assert "--frobnicate" in proc.stderr and "Traceback" not in proc.stderr
    assert runs_in(home) == []


# -- list, history, show ---------------------------------------------------------------------------

def test_list_json_and_table(cli: Cli) -> None:
    proc = cli("list", "--json", env={"CRONKIT_NOW": "2026-11-28T09:30:00+00:00"})
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert list(rows) == ["noop", "echo-ctx", "boom", "prod-only"]
    assert all(set(row) == LIST_KEYS for row in rows.values())
    assert rows["noop"]["next_run"] == "2026-11-28T10:00:00+00:00"
    assert rows["echo-ctx"]["timezone"] == "Europe/Paris"
    assert rows["echo-ctx"]["next_run"] == "2026-11-28T09:31:00+00:00"
    assert rows["echo-ctx"]["next_run_local"] == "2026-11-28T10:31:00+01:00"
    assert rows["prod-only"] | {"schedule_text": None} == {
        "name": "prod-only", "schedule": "0 * * * *", "resolved_schedule": "0 * * * *", "schedule_text": None, "description": "Production only",
        "timezone": "UTC", "environments": ["production"], "next_run": "2026-11-28T10:00:00+00:00",
        "next_run_local": "2026-11-28T10:00:00+00:00", "enabled": False,
        "disabled_reason": "not scheduled in development", "timeout_s": 3600.0, "retries": 2, "singleton": True,
        "params": None, "dates": "any", "requires": [], "source": rows["prod-only"]["source"], "command": None,
        "paused": False, "paused_at": None, "paused_until": None, "paused_by": None, "pause_reason": None}
    assert rows["prod-only"]["source"].endswith(".py")
    assert rows["noop"]["description"] == "Do nothing, successfully."
    table = cli("list", env={"CRONKIT_NOW": "2026-11-28T09:30:00+00:00"})
    assert table.returncode == 0
    assert "4 tasks · environment development" in table.stdout
    assert "2026-11-28 10:31 (09:31Z)" in table.stdout and "not here (not scheduled in development): prod-only" in table.stdout


def test_history_and_show(cli: Cli, home: Path) -> None:
    assert cli("run", "noop").returncode == 0
    assert cli("run", "boom").returncode == 1
    assert cli("run", "echo-ctx", "--param", "k=v").returncode == 0

    proc = cli("history", "--json")
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    assert [(r["id"], r["task"], r["status"]) for r in runs] == [(3, "echo-ctx", "succeeded"), (2, "boom", "failed"),
                                                                  (1, "noop", "succeeded")]
    assert all(set(r) == RUN_KEYS for r in runs)
    assert all(ISO_UTC.match(r["started_at"]) and ISO_UTC.match(r["finished_at"]) for r in runs)
    assert runs[0]["params"] == {"k": "v"} and runs[0]["trigger"] == "manual"

    # the filters themselves are tested in test_runlog.py; here, that the options reach them
    assert [r["id"] for r in json.loads(cli("history", "echo-ctx", "--status", "succeeded", "--since", "1h",
                                            "--limit", "5", "--json").stdout)] == [3]

    table = cli("history")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].strip() == "3 runs, newest first"
    # UTC, marked as such: `Z` (the zero offset) in the narrow table, `+00:00` elsewhere
    assert re.search(r"\n +2 +boom +failed +manual +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(Z|\+00:00) ", table.stdout)
    assert "ValueError: bad thing" in table.stdout

    shown = cli("show", "2", "--json")
    assert shown.returncode == 0
    run = json.loads(shown.stdout)
    assert set(run) == SHOW_KEYS
    assert run["error"] == "ValueError: bad thing" and run["dead_letter"]["resolved_at"] is None
    assert [a["status"] for a in run["attempt_log"]] == ["failed"]
    text = cli("show", "3")
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0] == "run 3  echo-ctx  succeeded"
    assert any(re.fullmatch(r"  started +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(Z|\+00:00)", line) for line in lines)
    assert "  trigger        manual" in lines and "  params         {'k': 'v'}" in lines
    assert "output (last 64 KiB)" in text.stdout and "echo ran" in text.stdout


def test_history_and_show_usage_errors(cli: Cli, home: Path) -> None:
    assert cli("run", "noop").returncode == 0  # a run log to look in (read commands create none)
    proc = cli("show", "99")
    assert (proc.returncode, one_error_line(proc.stderr)) == (2, "cronkit: error: no run with id 99")
    proc = cli("history", "--status", "exploded")
    assert proc.returncode == 2
    assert one_error_line(proc.stderr).startswith("cronkit: error: --status: 'exploded' is not one of running, ")
    proc = cli("history", "--since", "last tuesday")
    assert proc.returncode == 2
    assert one_error_line(proc.stderr).startswith("cronkit: error: --since: 'last tuesday' is neither")


def test_history_on_an_empty_home_names_the_missing_run_log(cli: Cli, home: Path) -> None:
    # Issue 13 changed this: read commands never create a run log (it was `[]`, exit 0).
    for args in (("history", "--json"), ("show", "1"), ("stats",), ("status",), ("dlq", "list"), ("notify", "log")):
        proc = cli(*args)
        assert proc.returncode == 78, (args, proc.stderr)
        assert one_error_line(proc.stderr) == (
            f"cronkit: error: no run log at {home / 'cronkit.db'}: check CRONKIT_DB_URL / CRONKIT_HOME "
            "(cronkit run, install and demo create it)"), args
    assert not (home / "cronkit.db").exists()


# -- errors ----------------------------------------------------------------------------------------

def test_unwritable_home(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    home = blocker / "home"  # mkdir fails with ENOTDIR, for root too
    for args in (("run", "noop"), ("history",)):
        proc = cli(*args, env={"CRONKIT_HOME": str(home)})
        assert proc.returncode == 78, (args, proc.stderr)
        assert proc.stdout == ""
        line = one_error_line(proc.stderr)
        assert line.startswith("cronkit: error: ") and f"{home}/cronkit.db: Not a directory" in line
    assert blocker.read_text() == "not a directory\n"


def test_run_log_that_is_not_a_database(cli: Cli, home: Path) -> None:
    garbage = os.urandom(8192)
    (home / "cronkit.db").write_bytes(garbage)
    for args in (("run", "noop"), ("show", "1")):
        proc = cli(*args)
        assert proc.returncode == 69, (args, proc.stderr)
        assert proc.stdout == ""
        line = one_error_line(proc.stderr)
        assert line.startswith("cronkit: error: run log ") and line.endswith("file is not a database")
    assert (home / "cronkit.db").read_bytes() == garbage
    assert sorted(p.name for p in home.iterdir()) == ["cronkit.db"]  # nothing written next to it
    debug = cli("--debug", "history")
    assert debug.returncode == 69 and "Traceback (most recent call last)" in debug.stderr


def test_registry_that_fails_to_import(run_cli: RunCli, tmp_path: Path, home: Path) -> None:
    registry = write_registry(tmp_path / "broken_registry.py", "from no_such_lib import thing\n")
    proc = run_cli("run", "noop", env={"CRONKIT_TASKS": str(registry)})
    assert proc.returncode == 78
    assert one_error_line(proc.stderr) == (
        f"cronkit: error: registry: {registry} failed to import: ModuleNotFoundError: No module named 'no_such_lib'")
    assert list(home.iterdir()) == []


# -- help ------------------------------------------------------------------------------------------

def test_a_registry_import_error_naming_a_secret_is_redacted(run_cli: RunCli, tmp_path: Path, home: Path) -> None:
    registry = write_registry(tmp_path / "leaky_registry.py", (
        "raise RuntimeError('config missing: password=hunter22; billing key ' + os.environ['BILLING_API_KEY'])\n"
    ))
    env = {"CRONKIT_TASKS": str(registry), "BILLING_API_KEY": "sk-live-7f3a9c"}
    proc = run_cli("run", "noop", "--trigger", "cron", env=env)
    assert proc.returncode == 78
    assert one_error_line(proc.stderr).endswith("RuntimeError: config missing: password=***; billing key ***")
    health = run_cli("health", env=env)
    status = run_cli("status", env=env)
    assert health.returncode == 1 and "RuntimeError: config missing" in health.stdout + health.stderr
    recorded = "".join(p.read_text() for p in home.rglob("*") if p.is_file() and p.suffix == ".json")
    assert "RuntimeError: config missing" in recorded
    for text in (proc.stderr, health.stdout, health.stderr, status.stdout, status.stderr, recorded):
        assert "hunter22" not in text and "sk-live-7f3a9c" not in text


def test_every_command_has_help_with_an_example() -> None:
    from typer.testing import CliRunner

    from cronkit.cli.app import app

    commands = all_commands()
    assert ["run"] in commands and ["history"] in commands and ["show"] in commands and ["list"] in commands
    runner = CliRunner()
    missing = []
    for command in commands:
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        if "Example:" not in result.output:
            missing.append(" ".join(command) or "cronkit")
    assert missing == []


def test_help_through_the_executable(run_cli: RunCli) -> None:
    proc = run_cli("run", "--help")  # not the lean run path: typer's help
    assert proc.returncode == 0
    assert "Usage: cronkit run [OPTIONS] TASK" in proc.stdout
    assert "Example: cronkit run daily-analytics-updates --date 2026-11-20 --dry-run" in proc.stdout
    assert "--param" in proc.stdout and "--dry-run" in proc.stdout and "--trigger" in proc.stdout
    top = run_cli("--help")
    assert top.returncode == 0 and "Example:" in top.stdout
    for name in ("list", "run", "history", "show"):
        assert re.search(rf"│ {name} ", top.stdout), name


def test_usage_errors_are_one_line_with_exit_2(run_cli: RunCli) -> None:
    for args, message in (
        (("frobnicate",), "cronkit: error: No such command 'frobnicate'. (see 'cronkit --help')\n"),
        (("run", "x", "--bogus"), "cronkit: error: No such option: --bogus (see 'cronkit run --help')\n"),
        (("history", "--limit", "0"), None),
    ):
        proc = run_cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stdout == "" and proc.stderr.count("\n") == 1 and proc.stderr.startswith("cronkit: error: ")
        if message is not None:
            assert proc.stderr == message
    bare = run_cli()
    assert bare.returncode == 0 and "Usage: cronkit" in bare.stdout
