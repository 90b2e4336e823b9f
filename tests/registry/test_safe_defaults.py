"""Safe by default (issue 26): a mistyped environment never empties a block, no registry is an error,
a task function that cannot take the context fails at import, global options go anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cronkit.registry.loader import NO_REGISTRY
from tests.conftest import write_registry
from tests.fixturetypes import RunCli

REGISTRY = """
registry.add("0 3 * * *", "os:getcwd", name="nightly", environments=["production", "staging"])
registry.add("30 2 * * 1-5", "os:getcwd", name="weekdays", environments=["production"])
"""
FIXED = ("--host-zone", "UTC", "--executable", "/usr/local/bin/cronkit")
UNKNOWN = ("environment 'prod' ({where}) is not one this registry knows: development, production, staging;"
           " list it in the `environments` setting, or pass --allow-empty to render an empty block on purpose")


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    registry = write_registry(tmp_path / "app_tasks.py", REGISTRY)
    cronkit_env.update({"CRONKIT_TASKS": str(registry), "CRONKIT_CRON_D": str(cron_d)})
    return cronkit_env


def test_an_unknown_environment_never_empties_the_block(run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    cron_file = tmp_path / "cron.d" / "app_tasks"
    args = ("install", "--target", "cron.d", "--user", "app", *FIXED)
    done = run_cli("--env", "production", *args, env=env)
    assert done.returncode == 0, done.stderr
    installed = cron_file.read_text()
    assert "run nightly" in installed and "run weekdays" in installed

    for where, line in (("--env", ("--env", "prod", *args)), ("--env", ("--env", "prod", "render")),
                        ("--env", ("render", "--target", "systemd", "--env", "prod"))):
        refused = run_cli(*line, env=env)
        assert (refused.returncode, refused.stdout, refused.stderr) == (
            78, "", f"cronkit: error: {UNKNOWN.format(where=where)}\n"), line
    by_variable = run_cli(*args, env={**env, "CRONKIT_ENV": "prod"})
    assert (by_variable.returncode, by_variable.stderr) == (
        78, f"cronkit: error: {UNKNOWN.format(where='CRONKIT_ENV')}\n")
    assert cron_file.read_text() == installed  # nothing written

    # Listed in the `environments` setting (variable or file): known, an empty block is rendered.
    for extra, config in (({"CRONKIT_ENVIRONMENTS": "qa, prod"}, None), ({}, 'environments = ["prod"]\n')):
        if config is not None:
            (tmp_path / "cronkit.toml").write_text(config)
        shown = run_cli("--env", "prod", "render", "--target", "cron.d", *FIXED, env={**env, **extra})
        assert shown.returncode == 0, shown.stderr
        assert "# No task is scheduled in environment prod." in shown.stdout
    (tmp_path / "cronkit.toml").write_text("environments = [1]\n")
    bad = run_cli("render", env=env)
    assert (bad.returncode, bad.stderr) == (78, "cronkit: error: environments: must be a list of environment names\n")
    (tmp_path / "cronkit.toml").unlink()

    # The default environment is known (nothing is scheduled there, and install says so).
    quiet = run_cli("--env", "development", "render", env=env)
    assert quiet.returncode == 0, quiet.stderr

    # Emptying the block on purpose takes --allow-empty.
    emptied = run_cli("--env", "prod", *args, "--allow-empty", env=env)
    assert emptied.returncode == 0, emptied.stderr
    assert emptied.stdout.splitlines()[0] == "environment prod schedules no task; emptying block app_tasks"
    assert "run nightly" not in cron_file.read_text() if cron_file.exists() else True


def test_status_and_health_refuse_an_unknown_environment(run_cli: RunCli, env: dict[str, str]) -> None:
    """Every verdict about a mistyped environment would be wrong (drift, nothing scheduled): refused."""
    told = ("cronkit: error: environment 'prod' (--env) is not one this registry knows: development, production,"
            " staging; list it in the `environments` setting\n")
    for command in ("status", "health"):
        refused = run_cli("--env", "prod", command, env=env)
        assert (refused.returncode, refused.stdout, refused.stderr) == (78, "", told), command
    assert "environment" not in run_cli("--env", "staging", "status", env=env).stderr  # known: no refusal


def test_a_task_running_everywhere_makes_every_environment_known(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "anywhere.py", 'registry.add("0 3 * * *", "os:getcwd", name="a", environments="*")\n')
    done = run_cli("--env", "whatever", "render", env={**cronkit_env, "CRONKIT_TASKS": str(registry)})
    assert done.returncode == 0, done.stderr
    assert " run a --trigger cron" in done.stdout


@pytest.mark.parametrize("args", [
    ("list",), ("render",), ("install", "--dry-run"), ("uninstall",), ("due", "--at", "2026-12-01T03:00"),
    ("health",), ("stats",), ("check",), ("run", "hourly-metrics"), ("list", "--json"), ("status",),
])
def test_no_registry_configured_is_an_error_naming_cronkit_tasks(run_cli: RunCli, args: tuple[str, ...], home: Path) -> None:
    done = run_cli(*args)
    assert (done.returncode, done.stdout, done.stderr) == (78, "", f"cronkit: error: {NO_REGISTRY}\n")
    assert "CRONKIT_TASKS" in NO_REGISTRY
    assert not (home / "platform.db").exists()


def test_the_registry_setting_from_the_file_or_an_option_is_enough(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "mine.py", 'registry.add("0 3 * * *", "os:getcwd", name="mine")\n')
    (tmp_path / "cronkit.toml").write_text(f'registry = "{registry}"\n')
    by_file = run_cli("list", "--json")
    assert by_file.returncode == 0, by_file.stderr
    assert [row["name"] for row in json.loads(by_file.stdout)] == ["mine"]
    (tmp_path / "cronkit.toml").unlink()
    by_option = run_cli("list", "--json", "--tasks", str(registry))
    assert by_option.returncode == 0, by_option.stderr


def test_a_task_function_that_cannot_take_the_context_fails_at_import(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "noctx.py", '@registry.task("0 3 * * *")\ndef no_ctx():\n    return {}\n')
    done = run_cli("list", env={**cronkit_env, "CRONKIT_TASKS": str(registry)})
    assert (done.returncode, done.stdout, done.stderr) == (
        78, "", "cronkit: error: task no-ctx: no_ctx() cannot take the context:"
                " declare it as def no_ctx(ctx: TaskContext)\n")


def test_global_options_after_the_command(run_cli: RunCli, env: dict[str, str]) -> None:
    before = run_cli("--env", "production", "render", *FIXED, env=env)
    assert before.returncode == 0, before.stderr
    tasks = env["CRONKIT_TASKS"]
    no_tasks = {k: v for k, v in env.items() if k != "CRONKIT_TASKS"}
    for line in (("render", "--tasks", tasks, "--env", "production", *FIXED),
                 ("render", *FIXED, f"--tasks={tasks}", "--env=production"),
                 ("--env", "staging", "render", "--env", "production", "--tasks", tasks, *FIXED)):
        after = run_cli(*line, env=no_tasks)
        assert (after.returncode, after.stdout, after.stderr) == (0, before.stdout, before.stderr), line
    # In a group's command too: parsed, then answered (there is no run log yet: exit 78, not 2).
    group = run_cli("dlq", "list", "--home", "/nonexistent/home", "--json", env=no_tasks)
    assert (group.returncode, group.stderr) == (
        78, "cronkit: error: no run log at /nonexistent/home/cronkit.db: check CRONKIT_DB_URL / CRONKIT_HOME"
            " (cronkit run, install and demo create it)\n")
    missing = run_cli("render", "--tasks", env=no_tasks)
    assert (missing.returncode, missing.stderr) == (
        2, "cronkit: error: --tasks: needs a value (cronkit --tasks VALUE COMMAND ...)\n")
    unknown = run_cli("render", "--bogus", env=env)
    assert unknown.returncode == 2 and unknown.stderr.startswith("cronkit: error: No such option: --bogus")


def test_config_dev_null_is_an_empty_config_and_a_directory_is_named(run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    empty = run_cli("--config", "/dev/null", "list", "--json", env=env)
    assert empty.returncode == 0, empty.stderr
    assert [row["name"] for row in json.loads(empty.stdout)] == ["nightly", "weekdays"]
    directory = run_cli("--config", str(tmp_path), "list", env=env)
    assert (directory.returncode, directory.stderr) == (
        78, f"cronkit: error: config: {tmp_path} is a directory, not a TOML file\n")
    absent = run_cli("--config", str(tmp_path / "nope.toml"), "list", env=env)
    assert (absent.returncode, absent.stderr) == (78, f"cronkit: error: config: file not found: {tmp_path / 'nope.toml'}\n")


def test_uneven_steps_are_told_in_list_and_warned_at_install(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "steps.py", (
        'registry.add("*/45 * * * *", "os:getcwd", name="often")\n'
        'registry.add("0 */5 * * *", "os:getcwd", name="fivehourly")\n'
        'registry.add("*/15 * * * *", "os:getcwd", name="quarterly")\n'))
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry), "CRONKIT_CRON_D": str(cron_d)}
    listed = run_cli("list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {row["name"]: row["schedule_text"] for row in json.loads(listed.stdout)} == {
        "often": "At 0 and 45 minutes past the hour",
        "fivehourly": "At 00:00, 05:00, 10:00, 15:00 and 20:00",
        "quarterly": "Every 15 minutes",
    }
    table = run_cli("list", env=env)
    assert "At 0 and 45 minutes past the hour" in table.stdout
    done = run_cli("--env", "production", "install", "--target", "cron.d", "--user", "app", *FIXED, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "cronkit: warning: task often: schedule '*/45 * * * *' steps unevenly (minute '*/45');"
        " cron fires it: At 0 and 45 minutes past the hour\n"
        "cronkit: warning: task fivehourly: schedule '0 */5 * * *' steps unevenly (hour '*/5');"
        " cron fires it: At 00:00, 05:00, 10:00, 15:00 and 20:00\n")
