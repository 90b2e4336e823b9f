"""Issue 13: a user's own registry under cron, start failures, read commands that create nothing."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.fixturetypes import RunCli

APP = '''from cronkit import Registry, TaskContext

registry = Registry()


@registry.task("*/15 * * * *", environments=("production", "staging"))
def sync_invoices(ctx: TaskContext) -> dict:
    """Pull new invoices from the billing provider."""
    return {"invoices": 3}
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The README's example: myapp/cron.py in a project directory (the tests' working directory)."""
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "cron.py").write_text(APP)
    return tmp_path


@pytest.fixture
def app_env(cronkit_env: dict[str, str], tmp_path: Path, project: Path) -> dict[str, str]:
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    cronkit_env.update({"CRONKIT_TASKS": "myapp.cron", "CRONKIT_ENV": "production",
                        "CRONKIT_CRON_D": str(cron_d)})
    cronkit_env.pop("PYTHONPATH", None)
    return cronkit_env


def cron_command(tmp_path: Path) -> str:
    """Return the command of the task's line in the cron.d file install wrote."""
    lines = [line for line in (tmp_path / "cron.d" / "myapp-cron").read_text().splitlines()
             if line.endswith("--trigger cron")]
    assert len(lines) == 1
    return lines[0].split(" ", 6)[6]


def as_cron(command: str, cwd: Path, now: str = "2026-11-30T03:30:00Z") -> subprocess.CompletedProcess[str]:
    """Run a cron line's command as Debian's cron does: sh -c, cwd $HOME, PATH /usr/bin:/bin, no CRONKIT_*."""
    env = {"HOME": str(cwd), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "CRONKIT_NOW": now}
    return subprocess.run(["/bin/sh", "-c", command], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_readme_registry_found_by_hand_and_by_cron(run_process: RunCli, app_env: dict[str, str], tmp_path: Path, home: Path) -> None:
    listed = run_process("list", "--json", env=app_env)
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["sync-invoices"]

    installed = run_process("--db-url", "sqlite:///relative.db", "install", "--target", "cron.d",
                            "--user", "root", env=app_env)
    assert installed.returncode == 0, installed.stderr
    settings = tomllib.loads((home / "cron" / "myapp-cron.toml").read_text())
    assert settings["registry"] == "myapp.cron"
    assert settings["registry_path"] == str(tmp_path)
    assert settings["db_url"] == f"sqlite:///{tmp_path / 'relative.db'}"

    elsewhere = tmp_path / "cron-home"
    elsewhere.mkdir()
    ran = as_cron(cron_command(tmp_path), elsewhere)
    assert ran.returncode == 0, ran.stderr
    assert not (elsewhere / "relative.db").exists()
    history = run_process("--db-url", f"sqlite:///{tmp_path / 'relative.db'}", "history", "--json", env=app_env)
    runs = json.loads(history.stdout)
    assert [(r["task"], r["trigger"], r["status"]) for r in runs] == [("sync-invoices", "cron", "succeeded")]


def test_installed_module_is_found_without_a_recorded_directory(run_process: RunCli, cronkit_env: dict[str, str], tmp_path: Path, home: Path) -> None:
    """cronkit's own registry comes from the installation: nothing to record."""
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    env = {**cronkit_env, "CRONKIT_ENV": "production", "CRONKIT_CRON_D": str(cron_d), "CRONKIT_TASKS": "cronkit.tasks"}
    done = run_process("install", "--target", "cron.d", "--user", "root", env=env)
    assert done.returncode == 0, done.stderr
    settings = tomllib.loads((home / "cron" / "cronkit-tasks.toml").read_text())
    assert settings["registry"] == "cronkit.tasks"
    assert "registry_path" not in settings


def test_cron_run_that_cannot_start_is_reported_until_one_starts(run_process: RunCli, app_env: dict[str, str], tmp_path: Path, home: Path) -> None:
    assert run_process("install", "--target", "cron.d", "--user", "root", env=app_env).returncode == 0
    command = cron_command(tmp_path)
    elsewhere = tmp_path / "cron-home"
    elsewhere.mkdir()
    app = tmp_path / "myapp" / "cron.py"
    app.write_text("import billing_sdk_missing\n" + APP)

    ran = as_cron(command, elsewhere)
    assert ran.returncode == 78
    assert "Traceback" not in ran.stderr
    record = json.loads((home / "start-failures" / "myapp-cron.json").read_text())
    assert record["task"] == "sync-invoices" and "billing_sdk_missing" in record["error"]

    # health with the broken registry itself: unhealthy (exit 1), the import error and the block's trace
    broken = run_process("health", env=app_env)
    assert broken.returncode == 1 and "Traceback" not in broken.stderr, broken.stderr
    said = broken.stdout.splitlines()
    assert "billing_sdk_missing" in said[0]
    assert any(line.startswith("cron runs of this block are failing to start: sync-invoices at ") for line in said)
    assert json.loads(run_process("health", "--json", env=app_env).stdout)["healthy"] is False

    fine = {**app_env, "CRONKIT_TASKS": "cronkit.tasks"}  # status reads the block's state, whatever loads
    health = run_process("health", env=fine)
    assert health.returncode == 1
    assert any(line.startswith("cron runs of this block are failing to start: sync-invoices at ")
               and "billing_sdk_missing" in line for line in health.stdout.splitlines()), health.stdout
    status = run_process("status", "--json", env=fine)
    assert "billing_sdk_missing" in json.loads(status.stdout)["start_failure"]["error"]
    shown = run_process("status", env=fine)
    assert "cron runs of this block are failing to start" in shown.stdout

    app.write_text(APP)
    assert as_cron(command, elsewhere).returncode == 0
    assert not (home / "start-failures" / "myapp-cron.json").exists()
    assert json.loads(run_process("status", "--json", env=fine).stdout)["start_failure"] is None


def test_cron_run_with_invalid_settings_leaves_a_trace(run_process: RunCli, app_env: dict[str, str], tmp_path: Path, home: Path) -> None:
    assert run_process("install", "--target", "cron.d", "--user", "root", env=app_env).returncode == 0
    config = home / "cron" / "myapp-cron.toml"
    config.write_text(config.read_text() + "timezone = \"Mars/Olympus\"\n")
    ran = as_cron(cron_command(tmp_path), tmp_path)
    assert ran.returncode == 78 and "Traceback" not in ran.stderr
    record = json.loads((home / "start-failures" / "myapp-cron.json").read_text())
    assert "Mars/Olympus" in record["error"] and record["exit_code"] == 78


@pytest.mark.parametrize("args, message", [
    (("hourly-metrics", "--param", "hour=garbage"), "--param hour: 'garbage' is not an hour"),
    (("hourly-metrics", "--param", "hour=2099-01-01T03"), "--param hour: 2099-01-01T03 is in the future"),
    (("daily-session-cleanup", "--param", "user_id=abc"), "--param user_id: 'abc' is not a whole number"),
    (("daily-session-cleanup", "--param", "user_id=0"), "--param user_id: 0 is below 1"),
    (("daily-session-cleanup", "--param", "users=1"), "unknown param 'users' (known: user_id)"),
    (("daily-analytics-updates", "--date", "2099-01-01"), "--date: 2099-01-01 has not ended yet"),
    (("weekly-trend-reports", "--date", "2099-01-01"), "--date: 2099-01-01 is in the future"),
    (("daily-log-pruning", "--date", "2026-01-01"), "daily-log-pruning: takes no --date"),
])
def test_bad_task_arguments_are_usage_errors_and_record_nothing(run_process: RunCli, cronkit_env: dict[str, str], home: Path, args: tuple[str, ...], message: str) -> None:
    done = run_process("run", *args, env={**cronkit_env, "CRONKIT_ENV": "production", "CRONKIT_TASKS": "cronkit.tasks"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("cronkit: error: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (home / "cronkit.db").exists()


def test_list_task_shows_its_parameters(run_cli: RunCli) -> None:
    env = {"CRONKIT_TASKS": "cronkit.tasks"}
    shown = run_cli("list", "daily-session-cleanup", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "user_id=N, 1 or more" in shown.stdout and "--date        not taken" in shown.stdout
    data = json.loads(run_cli("list", "hourly-metrics", "--json", env=env).stdout)
    assert data["params"]["hour"]["kind"] == "hour" and data["dates"] == "past"
    unknown = run_cli("list", "hourly-metric", env=env)
    assert unknown.returncode == 2 and "did you mean hourly-metrics" in unknown.stderr


def test_params_declared_in_a_registry_of_ones_own(run_process: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    from tests.conftest import write_registry

    registry = write_registry(tmp_path / "own.py", (
        "from cronkit import Param\n"
        "@registry.task('0 3 * * *', environments='*', params={'mode': Param('str', choices=('full', 'quick')),"
        " 'limit': Param('int', min=1, max=100)})\n"
        "def export(ctx): return {**ctx.params, 'typed': [ctx.param('limit'), ctx.param('mode'), ctx.param('x', 7)]}\n"))
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry)}
    bad = run_process("run", "export", "--param", "mode=slow", env=env)
    assert bad.returncode == 2 and "one of full, quick" in bad.stderr
    bad = run_process("run", "export", "--param", "limit=101", env=env)
    assert bad.returncode == 2 and "above 100" in bad.stderr
    good = run_process("run", "export", "--param", "mode=quick", "--param", "limit=5", "--json", env=env)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["result"] == {"mode": "quick", "limit": "5", "typed": [5, "quick", 7]}


def test_history_at_80_columns_keeps_what_answers_did_cron_run_it(run_process: RunCli, cronkit_env: dict[str, str], home: Path) -> None:
    env = {**cronkit_env, "COLUMNS": "80", "CRONKIT_NOW": "2026-11-30T03:00:00Z", "CRONKIT_TASKS": "cronkit.tasks"}
    assert run_process("run", "daily-analytics-updates", "--dry-run", env=env).returncode == 0
    table = run_process("history", env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "1 run, newest first"
    assert lines[2].split() == ["id", "task", "status", "trigger", "started", "took", "exit"]
    assert all(len(line) <= 80 and line == line.rstrip() for line in lines)
    assert lines[4].split()[:4] == ["1", "daily-analytics-updates", "succeeded", "manual"]


def test_block_check_line_that_cannot_start_leaves_the_same_trace(run_process: RunCli, app_env: dict[str, str], tmp_path: Path, home: Path) -> None:
    """The block's `cronkit check` line is a cron run of the block too: its start failure is reported."""
    app = tmp_path / "myapp" / "cron.py"
    app.write_text(APP.replace('"*/15 * * * *"', '"0 * * * *"'))  # hourly: catchup=latest, so check lines
    assert run_process("install", "--target", "cron.d", "--user", "root", env=app_env).returncode == 0
    lines = (tmp_path / "cron.d" / "myapp-cron").read_text().splitlines()
    check = next(line for line in lines if line.endswith(" check") and not line.startswith("#")).split(" ", 6)[6]
    elsewhere = tmp_path / "cron-home"
    elsewhere.mkdir()
    app.write_text("import billing_sdk_missing\n" + app.read_text())

    failed = as_cron(check, elsewhere)
    assert failed.returncode == 78 and "Traceback" not in failed.stderr
    record = json.loads((home / "start-failures" / "myapp-cron.json").read_text())
    assert record["task"] == "check" and "billing_sdk_missing" in record["error"]

    app.write_text(app.read_text().removeprefix("import billing_sdk_missing\n"))
    assert as_cron(check, elsewhere).returncode == 0
    assert not (home / "start-failures" / "myapp-cron.json").exists()


WIDE_REGISTRY = '''
@registry.task("0 2 1 * *", environments=["*"])
def monthly_executive_summaries(ctx: TaskContext) -> dict:
    return {}


@registry.task("0 * * * *", environments=["*"])
def daily_session_cleanup(ctx: TaskContext) -> dict:
    raise ValueError("bad thing " * 20)


@registry.task("0 4 * * *", environments=["production"])
def daily_log_pruning(ctx: TaskContext) -> dict:
    return {}
'''


def test_read_screens_fit_80_columns(run_cli: RunCli, tmp_path: Path) -> None:
    """The demo's longest task name (27 characters), a failure with a long error, a dead letter, a
    task not scheduled here: at 80 columns no line of a table screen is wider, none ends in a
    space, and history keeps id (for `cronkit show`), task, status, trigger, started and took."""
    from tests.conftest import write_registry

    env = {"CRONKIT_TASKS": str(write_registry(tmp_path / "wide_tasks.py", WIDE_REGISTRY)), "COLUMNS": "80"}
    assert run_cli("run", "monthly-executive-summaries", env=env).returncode == 0
    assert run_cli("run", "daily-session-cleanup", env=env).returncode == 1
    # (health prints one reason a line, whole, for alerts to read: not a screen to fit)
    for args in (("history",), ("status",), ("stats",), ("list",), ("dlq", "list"), ("dlq", "list", "--all")):
        proc = run_cli(*args, env=env)
        assert proc.returncode == 0 and proc.stdout, (args, proc.stderr)
        for line in proc.stdout.splitlines():
            assert len(line) <= 80 and line == line.rstrip(), (args, line)
        if args == ("history",):
            assert proc.stdout.splitlines()[2].split() == ["id", "task", "status", "trigger", "started", "took"]
        if args == ("status",):
            assert any(line.startswith("services: run_log up") for line in proc.stdout.splitlines())
