"""render: the block's exact text, parse-back, limits, timezones, the checked-in crontab.d files."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronkit.config.settings import Settings, load_settings
from cronkit.cronfile.render import RenderInputs, cron_d_name, render, run_settings_toml
from cronkit.errors import ConfigError, UsageError
from cronkit.registry import Registry
from cronkit.registry.loader import load_registry
from cronkit.schedule import fires_at, slots_between
from tests.conftest import write_registry
from tests.fixturetypes import RunCli
from tests.paths import REPO

UTC = UTC


def make_settings(tmp_path: Path, environment: str = "production", **env: str) -> Settings:
    return load_settings({"environment": environment}, environ={"CRONKIT_HOME": str(tmp_path / "home"), **env})


def inputs(user: str | None = None, **overrides: str) -> RenderInputs:
    values = {"block_id": "app", "host_zone": "UTC", "executable": "/opt/app/bin/cronkit",
              "run_config": "/var/lib/app/cron/app.toml"}
    values.update(overrides)
    return RenderInputs(user=user, **values)


def registry() -> Registry:
    reg = Registry(id="app")
    reg.add("0 3 * * *", "os:getcwd", name="nightly")
    reg.add("*/15 * * * *", "os:getcwd", name="often", environments=["production", "staging"])
    reg.add("0 9 * * 1", "os:getcwd", name="monday", environments=["staging"])
    reg.add("0-59/20 1 * * *", "os:getcwd", name="stepped")
    return reg


def test_user_block_is_exact(tmp_path: Path) -> None:
    text = render(registry(), make_settings(tmp_path), inputs()).text
    assert text == (
        "# BEGIN cronkit:app\n"
        "# Managed by cronkit: environment production, host zone UTC. Change the registry and run "
        "`cronkit install`; edits here are overwritten.\n"
        "0 3 * * * /opt/app/bin/cronkit --config /var/lib/app/cron/app.toml run nightly --trigger cron\n"
        "*/15 * * * * /opt/app/bin/cronkit --config /var/lib/app/cron/app.toml run often --trigger cron\n"
        # python-crontab would write `*/20`: Debian treats a leading '*' differently across DST.
        "0-59/20 1 * * * /opt/app/bin/cronkit --config /var/lib/app/cron/app.toml run stepped --trigger cron\n"
        # nightly catches up missed slots (catchup=latest, the default for a daily task): check lines.
        "# cronkit check: catch up slots missed while the host was down (the tasks' catchup policy)\n"
        "*/5 * * * * /opt/app/bin/cronkit --config /var/lib/app/cron/app.toml check\n"
        "@reboot /opt/app/bin/cronkit --config /var/lib/app/cron/app.toml check --boot\n"
        "# END cronkit:app\n"
    )


def test_check_lines_only_when_a_task_catches_up(tmp_path: Path) -> None:
    reg = Registry(id="app")
    reg.add("*/15 * * * *", "os:getcwd", name="often")  # below an hour: catchup=skip
    reg.add("0 3 * * *", "os:getcwd", name="nightly", catchup="skip")
    text = render(reg, make_settings(tmp_path), inputs()).text
    assert " check" not in text and "@reboot" not in text
    reg.add("H H * * *", "os:getcwd", name="spread", catchup="all")
    rendered = render(reg, make_settings(tmp_path), inputs(target="cron.d", user="app"))
    assert "@reboot app /opt/app/bin/cronkit --config /var/lib/app/cron/app.toml check --boot\n" in rendered.text
    assert "*/5 * * * * app /opt/app/bin/cronkit --config /var/lib/app/cron/app.toml check\n" in rendered.text
    spread = reg["spread"].resolved_schedule
    assert f"# spread: H H * * * spread to {spread}\n{spread} app " in rendered.text
    assert rendered == render(reg, make_settings(tmp_path), inputs(target="cron.d", user="app"))


def test_cron_d_lines_carry_the_user_field(tmp_path: Path) -> None:
    rendered = render(registry(), make_settings(tmp_path, "staging"), inputs(target="cron.d", user="app"))
    assert rendered.lines == {
        "often": ["*/15 * * * * app /opt/app/bin/cronkit --config /var/lib/app/cron/app.toml run often --trigger cron"],
        "monday": ["0 9 * * 1 app /opt/app/bin/cronkit --config /var/lib/app/cron/app.toml run monday --trigger cron"],
    }
    with pytest.raises(UsageError):
        inputs(target="cron.d")  # a cron.d line needs its user


def test_rendering_is_deterministic_and_skips_disabled_tasks(tmp_path: Path) -> None:
    config = tmp_path / "cronkit.toml"
    config.write_text("[tasks.nightly]\nenabled = false\n")
    settings_ = load_settings({"environment": "production"}, environ={"CRONKIT_HOME": str(tmp_path)},
                              config_path=str(config))
    first = render(registry(), settings_, inputs())
    assert first == render(registry(), settings_, inputs())
    assert [t.name for t in first.tasks] == ["often", "stepped"]


def test_percent_and_spaces_survive_cron_and_the_shell(tmp_path: Path) -> None:
    import crontab as python_crontab

    rendered = render(registry(), make_settings(tmp_path), inputs(run_config="/srv/app 100%/cron.toml"))
    line = rendered.lines["nightly"][0]
    assert line == "0 3 * * * /opt/app/bin/cronkit --config '/srv/app 100\\%/cron.toml' run nightly --trigger cron"
    job = next(iter(python_crontab.CronTab(tab=line)))
    assert job.command == "/opt/app/bin/cronkit --config '/srv/app 100%/cron.toml' run nightly --trigger cron"
    with pytest.raises(UsageError):
        inputs(run_config="/srv/a\\b.toml")  # a backslash would change how cron reads '%'


@pytest.mark.parametrize("user", [None, "app"])
@pytest.mark.parametrize("command", ["/opt/cronkit run a", "/x --config '/srv/100%/c.toml' run b", " /y 50%%  ",
                                     "/z 'a\\%b' run c"])
def test_a_line_is_what_python_crontab_renders(command: str, user: str | None) -> None:
    """The line cronkit writes is python-crontab's own rendering of it (which cronkit no longer imports)."""
    import crontab as python_crontab

    from cronkit.cronfile.render import _cron_line

    tab = python_crontab.CronTab(tab="", user=False if user else None)
    job = tab.new(command=command, user=user)
    job.setall("* * * * *")
    assert _cron_line("* * * * *", command, user) == str(job.render())
    assert _cron_line("0-59/20 3 * * *", command, user).startswith("0-59/20 3 * * * ")  # kept as given


def test_lines_stay_within_crons_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="over cron's limit"):
        render(registry(), make_settings(tmp_path), inputs(executable="/" + "x" * 990))


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(
    minute=st.sampled_from(["0", "*/5", "0-59/20", "15,45", "7"]),
    hour=st.sampled_from(["*", "3", "1-5", "*/6", "22,23"]),
    dow=st.sampled_from(["*", "1-5", "0", "sun", "6"]),
    zone=st.sampled_from(["UTC", "Europe/Paris", "Asia/Kolkata"]),
    target=st.sampled_from(["user", "cron.d"]),
)
def test_render_parses_back(minute: str, hour: str, dow: str, zone: str, target: str) -> None:
    """python-crontab reads every rendered line back: same command, same user, a valid schedule."""
    import crontab as python_crontab

    reg = Registry(id="prop")
    reg.add(f"{minute} {hour} * * {dow}", "os:getcwd", name="t", timezone=zone)
    settings_ = load_settings({"environment": "production"}, environ={"CRONKIT_HOME": "/tmp/ck-prop"})
    rendered = render(reg, settings_, inputs(target=target, user="app" if target == "cron.d" else None,
                                             host_zone="America/New_York"))
    tab = python_crontab.CronTab(tab=rendered.text, user=False if target == "cron.d" else None)
    jobs = [job for job in tab if job.is_enabled() and " check" not in job.command]
    assert len(jobs) == len(rendered.tasks[0].lines) >= 1
    for job in jobs:
        assert job.is_valid()
        assert job.command == "/opt/app/bin/cronkit --config /var/lib/app/cron/app.toml run t --trigger cron"
        assert job.user == ("app" if target == "cron.d" else None)


def test_block_id_names_the_cron_d_file() -> None:
    assert cron_d_name("cronkit.tasks") == "cronkit-tasks"
    assert cron_d_name("my_app:tasks") == "my_app-tasks"


# --- timezones: a Paris task on a New York host --------------------------------------------


def test_paris_task_on_new_york_host_fires_at_a_superset_and_the_slot_check_makes_it_exact(tmp_path: Path) -> None:
    reg = Registry(id="tz")
    reg.add("30 2 * * *", "os:getcwd", name="paris", timezone="Europe/Paris")
    rendered = render(reg, make_settings(tmp_path), inputs(host_zone="America/New_York"))
    schedules = [" ".join(line.split()[:5]) for line in rendered.lines["paris"]]
    assert rendered.text.count("# paris: 30 2 * * * in Europe/Paris") == 1

    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    wanted = list(slots_between("30 2 * * *", "Europe/Paris", start, end))
    assert len(wanted) == 365
    # Superset: every slot of the task is a minute at which some host line fires.
    for slot in wanted:
        assert any(fires_at(expr, "America/New_York", slot) for expr in schedules), slot
    # Exact after the slot check: of the minutes cron starts a run, the accepted ones are the slots.
    fired = sorted({t for expr in schedules for t in slots_between(expr, "America/New_York", start, end)})
    accepted = [t for t in fired if fires_at("30 2 * * *", "Europe/Paris", t)]
    assert accepted == wanted
    assert len(fired) > len(wanted)  # the host line does fire at minutes run has to drop


def test_cron_triggered_run_checks_its_slot(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path, home: Path) -> None:
    reg = write_registry(tmp_path / "tz_tasks.py", (
        '@registry.task("30 2 * * *", name="paris", timezone="Europe/Paris", environments=["*"])\n'
        'def paris(ctx):\n'
        '    return {"ok": 1}\n'
    ))
    env = {**cronkit_env, "CRONKIT_TASKS": str(reg)}
    # On a New York host the line is `30 20,21 * * *`: in July 21:30 EDT (01:30 UTC) is 03:30 in
    # Paris, a minute cron starts the run at but not the task's slot.
    not_due = run_cli("run", "paris", "--trigger", "cron", env={**env, "CRONKIT_NOW": "2026-07-01T01:30:00Z"})
    assert (not_due.returncode, not_due.stdout, not_due.stderr) == (0, "", "")
    assert not (home / "cronkit.db").exists()  # not its slot: nothing recorded, no run log opened

    due_at = {**env, "CRONKIT_NOW": "2026-07-01T00:30:05Z"}  # 02:30:05 CEST
    first = run_cli("run", "paris", "--trigger", "cron", env=due_at)
    assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
    again = run_cli("run", "paris", "--trigger", "cron", env=due_at)
    assert again.returncode == 75 and again.stdout == ""
    runs = _runs(home)
    slot = int(datetime(2026, 7, 1, 0, 30, tzinfo=UTC).timestamp() * 1000)
    assert runs == [("succeeded", "cron", slot), ("skipped", "cron", slot)]


def _runs(home: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(home / "cronkit.db") as db:
        return list(db.execute("SELECT status, trigger, scheduled_for FROM runs ORDER BY id"))


# --- the run settings file ------------------------------------------------------------------


def test_run_settings_file_round_trips(tmp_path: Path) -> None:
    import tomllib

    config = tmp_path / "cronkit.toml"
    config.write_text('log_dir = "logs"\n[tasks.nightly]\nenabled = true\n')
    settings_ = load_settings(
        {"environment": "production"},
        environ={"CRONKIT_HOME": str(tmp_path / "h"), "CRONKIT_DB_URL": 'sqlite:////tmp/a "b".db',
                 "CRONKIT_TASKS": "cronkit.tasks"},
        config_path=str(config),
    )
    text = run_settings_toml(settings_, registry(), "app")
    data = tomllib.loads(text)
    assert data == {"home": str(tmp_path / "h"), "environment": "production", "registry": "cronkit.tasks",
                    "db_url": 'sqlite:////tmp/a "b".db', "log_dir": str(tmp_path / "logs"),
                    "tasks": {"nightly": {"enabled": True}}}
    written = tmp_path / "run.toml"
    written.write_text(text)
    again = load_settings(environ={}, config_path=str(written))
    assert (again.home, again.db_url, again.log_dir, again.task_config) == (
        settings_.home, settings_.db_url, settings_.log_dir, settings_.task_config)


# --- the checked-in crontab.d files ---------------------------------------------------------

# Fixed inputs of crontab.d/<environment> (README, "Installing into cron").
CRONTAB_D_ARGS = ("render", "--target", "cron.d", "--user", "cronkit", "--host-zone", "UTC",
                  "--executable", "/usr/local/bin/cronkit", "--run-config", "/etc/cronkit/cronkit.toml")


def test_crontab_d_files_match_the_registry(run_cli: RunCli, cronkit_env: dict[str, str]) -> None:
    builtin = load_registry("cronkit.tasks")
    environments = sorted({env for task in builtin for env in task.environments})
    present = sorted(path.name for path in (REPO / "crontab.d").iterdir())
    assert present == ["production", "staging"]
    for environment in environments:
        path = REPO / "crontab.d" / environment
        schedules_something = any(task.runs_in(environment) for task in builtin)
        assert path.exists() == schedules_something, environment
        if not schedules_something:
            continue
        done = run_cli("--env", environment, "--tasks", "cronkit.tasks", *CRONTAB_D_ARGS, "--check", str(path),
                       env=cronkit_env)
        regenerate = f"cronkit --env {environment} {' '.join(CRONTAB_D_ARGS)} > crontab.d/{environment}"
        assert done.returncode == 0, f"crontab.d/{environment} drifted from the registry; regenerate it:\n" \
            f"  {regenerate}\n{done.stdout}{done.stderr}"


def test_render_check_reports_a_diff(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    stale = tmp_path / "stale"
    stale.write_text((REPO / "crontab.d" / "production").read_text().replace("0 5 * * *", "0 6 * * *"))
    done = run_cli("--env", "production", "--tasks", "cronkit.tasks", *CRONTAB_D_ARGS, "--check", str(stale),
                   env=cronkit_env)
    assert done.returncode == 1
    assert "-0 6 * * * cronkit /usr/local/bin/cronkit" in done.stdout
    assert "+0 5 * * * cronkit /usr/local/bin/cronkit" in done.stdout
    assert done.stderr == f"cronkit: error: {stale} differs from the rendered cron.d block\n"
    shown = run_cli("--env", "production", "--tasks", "cronkit.tasks", *CRONTAB_D_ARGS, env=cronkit_env)
    assert shown.returncode == 0
    assert shown.stdout == (REPO / "crontab.d" / "production").read_text()


def test_check_schedule_setting_and_its_drift(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """`check_schedule` sets the periodic check line; health names that line when it drifts."""
    reg = write_registry(tmp_path / "reg.py", '@registry.task("0 * * * *", environments=["*"], catchup="latest")\n'
                                               "def hourly(ctx):\n    return {}\n")
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    env = {**cronkit_env, "CRONKIT_TASKS": str(reg), "CRONKIT_CRON_D": str(cron_d)}
    done = run_cli("install", "--target", "cron.d", "--user", "root", env={**env, "CRONKIT_CHECK_SCHEDULE": "* * * * *"})
    assert done.returncode == 0, done.stderr
    text = (cron_d / "reg").read_text()
    assert "\n* * * * * root " in text and "check\n@reboot root " in text
    assert run_cli("health", env={**env, "CRONKIT_CHECK_SCHEDULE": "* * * * *"}).returncode == 0
    drifted = run_cli("health", env=env)  # the default, */5, renders another line than the one installed
    assert drifted.returncode == 1
    assert ("crontab: the block's `cronkit check` line renders differently now than when installed: "
            "run cronkit install") in drifted.stdout.splitlines()
