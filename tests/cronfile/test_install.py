"""install / uninstall: the pure splice (property-tested), cron.d files, the real `crontab` command."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronkit.config.settings import load_settings
from cronkit.cronfile.block import CrontabParseError, extract, find_block, splice
from cronkit.cronfile.state import InstallBusy, install_lock, read_install_state
from tests.conftest import need, write_registry
from tests.crontabs import FIXED, crontab_l, throwaway_user
from tests.fixturetypes import RunCli

__all__ = ["throwaway_user"]  # the fixture, imported for its use here

ID = "app.tasks"
BEGIN, END = f"# BEGIN cronkit:{ID}", f"# END cronkit:{ID}"


def block(*lines: str, block_id: str = ID) -> str:
    return "\n".join([f"# BEGIN cronkit:{block_id}", *lines, f"# END cronkit:{block_id}"]) + "\n"


BLOCK_A = block("0 3 * * * /usr/bin/cronkit --config /h/c.toml run a --trigger cron")
BLOCK_B = block("0 4 * * * /usr/bin/cronkit --config '/h/50%/c.toml' run a --trigger cron",
                "*/5 * * * * /usr/bin/cronkit --config /h/c.toml run b --trigger cron")

# --- the pure splice, over generated foreign crontabs -----------------------------------------

foreign_line = st.one_of(
    st.just(""),
    st.just("   "),
    st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), max_size=40)
    .map(lambda t: "#" + t),
    st.from_regex(r"[A-Z_]{1,8}=[a-z@.%\\ ]{0,12}", fullmatch=True),
    st.from_regex(r"(\*|[0-5]?[0-9]) (\*|1?[0-9]) \* \* \* [a-z /%\\-]{1,20}", fullmatch=True),
    st.sampled_from([
        "MAILTO=ops@example.com", "SHELL=/bin/bash", "CRON_TZ=Europe/Paris",
        "0 1 * * * date +\\%Y-\\%m-\\%d > /tmp/d", "5 * * * * echo 100% done",
        "# BEGIN cronkit:other.tasks", "# END cronkit:other.tasks",
        f"# BEGIN cronkit:{ID}.extra", f"# END cronkit:{ID}x", f" {BEGIN}", f"{END} ",
        "# BEGIN ANSIBLE MANAGED BLOCK", "# END ANSIBLE MANAGED BLOCK", "#Ansible: backup",
        "@reboot /usr/local/bin/start", "\t# tabbed comment", "x\r", "a\x0cb", "ünïcode ✓",
    ]),
    st.text(max_size=30).filter(lambda t: "\n" not in t),
)


@st.composite
def foreign_crontabs(draw: st.DrawFn) -> str:
    lines = draw(st.lists(foreign_line, max_size=12))
    text = "\n".join(lines)
    if lines:
        if draw(st.booleans()):
            text += "\n"
    return text


@st.composite
def other_blocks(draw: st.DrawFn) -> str:
    """A foreign crontab that holds another cronkit installation's complete block."""
    before, after = draw(foreign_crontabs()), draw(foreign_crontabs())
    sep = "" if before == "" or before.endswith("\n") else "\n"
    return before + sep + block("0 1 * * * /x run y", block_id="other") + after


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.one_of(foreign_crontabs(), other_blocks()))
def test_splice_keeps_every_foreign_byte(foreign: str) -> None:
    installed = splice(foreign, ID, BLOCK_A)
    assert extract(installed, ID) == BLOCK_A
    again = splice(installed, ID, BLOCK_A)
    assert again == installed  # reinstall: byte-identical
    changed = splice(installed, ID, BLOCK_B)
    assert extract(changed, ID) == BLOCK_B
    assert changed.replace(BLOCK_B, "", 1) == installed.replace(BLOCK_A, "", 1)
    assert splice(changed, ID, None) == foreign  # uninstall after a change
    assert splice(installed, ID, None) == foreign  # install -> uninstall restores exactly
    assert splice(foreign, ID, None) == foreign  # uninstall without a block changes nothing
    if foreign.endswith("\n") or foreign == "":
        assert installed == foreign + BLOCK_A  # appended: MAILTO and friends above apply to it


def test_splice_keeps_an_unterminated_last_line_last() -> None:
    foreign = "MAILTO=a@b\n0 1 * * * x %y\\%z"
    installed = splice(foreign, ID, BLOCK_A)
    assert installed == "MAILTO=a@b\n" + BLOCK_A + "0 1 * * * x %y\\%z"
    assert splice(installed, ID, None) == foreign


def test_splice_replaces_the_block_in_place() -> None:
    text = "A=1\n" + BLOCK_A + "# after\n"
    assert splice(text, ID, BLOCK_B) == "A=1\n" + BLOCK_B + "# after\n"


@pytest.mark.parametrize("text", [
    BEGIN + "\n",
    END + "\n",
    BLOCK_A + BLOCK_A,
    END + "\n" + BEGIN + "\n",
    BLOCK_A + BEGIN + "\n",
])
def test_markers_that_do_not_pair_up_are_an_error(text: str) -> None:
    with pytest.raises(CrontabParseError) as err:
        find_block("# mine\n" + text, ID)
    assert err.value.exit_code == 78
    with pytest.raises(CrontabParseError):
        splice(text, ID, BLOCK_A)


# --- cron.d files through the CLI --------------------------------------------------------------

REGISTRY = """
registry.add("0 3 * * *", "os:getcwd", name="nightly", environments=["production", "staging"])
registry.add("30 2 * * 1-5", "os:getcwd", name="weekdays", timezone="Europe/Paris", environments=["production"])
"""


@pytest.fixture
def cron_d(tmp_path: Path) -> Path:
    path = tmp_path / "cron.d"
    path.mkdir()
    return path


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path, cron_d: Path) -> dict[str, str]:
    registry = write_registry(tmp_path / "app_tasks.py", REGISTRY)
    cronkit_env.update({"CRONKIT_TASKS": str(registry), "CRONKIT_CRON_D": str(cron_d),
                        "CRONKIT_ENV": "production"})
    return cronkit_env


def test_cron_d_install_reinstall_change_uninstall(run_cli: RunCli, env: dict[str, str], cron_d: Path, home: Path) -> None:
    target = cron_d / "app_tasks"
    foreign = "MAILTO=ops@example.com\n# 50% of the time\n0 1 * * * root date +\\%s\n"
    target.write_text(foreign)

    done = run_cli("install", "--target", "cron.d", "--user", "app", *FIXED, env=env)
    assert done.returncode == 0, done.stderr
    text = target.read_text()
    config = home / "cron" / "app_tasks.toml"
    assert text == foreign + (
        "# BEGIN cronkit:app_tasks\n"
        "# Managed by cronkit: environment production, host zone UTC. Change the registry and run "
        "`cronkit install`; edits here are overwritten.\n"
        f"0 3 * * * app /usr/local/bin/cronkit --config {config} run nightly --trigger cron\n"
        "# weekdays: 30 2 * * 1-5 in Europe/Paris; `cronkit run` keeps only its slots\n"
        f"30 0,1 * * 1-5 app /usr/local/bin/cronkit --config {config} run weekdays --trigger cron\n"
        "# cronkit check: catch up slots missed while the host was down (the tasks' catchup policy)\n"
        f"*/5 * * * * app /usr/local/bin/cronkit --config {config} check\n"
        f"@reboot app /usr/local/bin/cronkit --config {config} check --boot\n"
        "# END cronkit:app_tasks\n"
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in cron_d.iterdir()] == ["app_tasks"]  # no temp file left behind
    assert done.stdout.splitlines()[0] == (
        f"added nightly: 0 3 * * * app /usr/local/bin/cronkit --config {config} run nightly --trigger cron"
    )
    assert "3 added, 0 changed, 0 removed, 0 unchanged" in done.stdout.splitlines()[-1]
    assert f"added cronkit check: */5 * * * * app /usr/local/bin/cronkit --config {config} check" in done.stdout
    assert f"wrote the settings the cron runs read to {config}\n" in done.stdout
    backups = list((home / "backups").iterdir())
    assert len(backups) == 1 and backups[0].read_text() == foreign
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

    again = run_cli("install", "--target", "cron.d", "--user", "app", *FIXED, env=env)
    assert again.returncode == 0
    assert again.stdout == "block app_tasks in %s is up to date: 0 added, 0 changed, 0 removed, 3 unchanged\n" % target
    assert target.read_text() == text
    assert len(list((home / "backups").iterdir())) == 1

    staging = run_cli("--env", "staging", "install", "--target", "cron.d", "--user", "app", *FIXED, env=env)
    assert staging.returncode == 0, staging.stderr
    assert "removed weekdays: 30 0,1 * * 1-5 app" in staging.stdout
    assert "0 added, 0 changed, 1 removed, 2 unchanged" in staging.stdout
    assert target.read_text().startswith(foreign)

    gone = run_cli("uninstall", "--target", "cron.d", env=env)
    assert gone.returncode == 0, gone.stderr
    assert target.read_text() == foreign
    assert read_install_state(load_settings(environ={"CRONKIT_HOME": str(home)})) is None
    assert not config.exists()
    nothing = run_cli("uninstall", "--target", "cron.d", env=env)
    assert nothing.stdout == f"no block app_tasks in {target}; nothing to do\n"


def test_reinstall_names_the_check_lines_it_adds(run_cli: RunCli, env: dict[str, str], cron_d: Path, home: Path) -> None:
    """A block installed by a release without `cronkit check` lines: the reinstall says it adds them."""
    assert run_cli("install", "--target", "cron.d", "--user", "app", *FIXED, env=env).returncode == 0
    target = cron_d / "app_tasks"
    config = home / "cron" / "app_tasks.toml"
    old = [line for line in target.read_text().splitlines(keepends=True)
           if " check" not in line and not line.startswith("# cronkit check")]
    target.write_text("".join(old))

    drifted = run_cli("status", env=env)
    assert "the block's `cronkit check` line (missing): run cronkit install" in drifted.stdout
    assert f"  expected:  */5 * * * * app /usr/local/bin/cronkit --config {config} check" in drifted.stdout

    again = run_cli("install", "--target", "cron.d", "--user", "app", *FIXED, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[:2] == [
        f"added cronkit check: */5 * * * * app /usr/local/bin/cronkit --config {config} check",
        f"added cronkit check: @reboot app /usr/local/bin/cronkit --config {config} check --boot",
    ]
    assert "1 added, 0 changed, 0 removed, 2 unchanged" in again.stdout.splitlines()[-1]


def test_another_projects_block_of_the_same_name_is_left_alone(run_cli: RunCli, env: dict[str, str], cron_d: Path, tmp_path: Path) -> None:
    """Two projects whose registries are both called app_tasks.py: the second does not take the
    first one's block (its lines read the first home's run settings), it is told to pick an id."""
    assert run_cli("install", "--target", "cron.d", *FIXED, env=env).returncode == 0
    block = (cron_d / "app_tasks").read_text()
    other = tmp_path / "other"
    other.mkdir()
    registry = write_registry(other / "app_tasks.py", "registry.add('0 5 * * *', 'os:getcwd', name='solo', environments='*')\n")
    second = {**env, "CRONKIT_HOME": str(other / "home"), "CRONKIT_TASKS": str(registry)}
    refused = run_cli("install", "--target", "cron.d", *FIXED, env=second)
    assert refused.returncode == 78
    assert refused.stderr.startswith(f"cronkit: error: block app_tasks in {cron_d / 'app_tasks'} belongs to another"
                                     " project: its lines read ")
    assert "give this one a block of its own (--id NAME)" in refused.stderr
    assert (cron_d / "app_tasks").read_text() == block
    mine = run_cli("install", "--target", "cron.d", "--id", "other-tasks", *FIXED, env=second)
    assert mine.returncode == 0, mine.stderr
    assert (cron_d / "app_tasks").read_text() == block


def test_auto_sync_keeps_the_check_lines_while_nothing_is_scheduled(run_cli: RunCli, env: dict[str, str], cron_d: Path) -> None:
    """The check lines are what syncs the block back once tasks are scheduled again."""
    synced = {**env, "CRONKIT_AUTO_SYNC": "true"}
    assert run_cli("install", "--target", "cron.d", *FIXED, env=synced).returncode == 0
    emptied = run_cli("--env", "development", "install", "--target", "cron.d", *FIXED, env=synced)
    assert emptied.returncode == 0, emptied.stderr
    text = (cron_d / "app_tasks").read_text()
    assert "# No task is scheduled in environment development." in text
    assert " check\n" in text and " check --boot\n" in text


def test_cron_d_file_of_only_the_block_is_removed_on_uninstall(run_cli: RunCli, env: dict[str, str], cron_d: Path) -> None:
    assert run_cli("install", "--target", "cron.d", "--id", "my-app", *FIXED, env=env).returncode == 0
    target = cron_d / "my-app"
    assert target.read_text().startswith("# BEGIN cronkit:my-app\n")
    assert target.read_text().endswith("# END cronkit:my-app\n")
    assert f" {pwd.getpwuid(os.geteuid()).pw_name} /usr/local/bin/cronkit " in target.read_text()
    assert run_cli("uninstall", "--target", "cron.d", "--id", "my-app", env=env).returncode == 0
    assert list(cron_d.iterdir()) == []


def test_dry_run_prints_a_diff_and_writes_nothing(run_cli: RunCli, env: dict[str, str], cron_d: Path, home: Path) -> None:
    target = cron_d / "app_tasks"
    target.write_text("# keep\n")
    done = run_cli("install", "--target", "cron.d", "--user", "app", "--dry-run", *FIXED, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"--- {target} (now)\n+++ {target} (after)\n@@ -1 +1,10 @@\n # keep\n+# BEGIN cronkit:app_tasks\n")
    assert "would be added nightly: 0 3 * * * app" in done.stderr
    assert target.read_text() == "# keep\n"
    assert list(home.iterdir()) == []


def test_environment_that_schedules_nothing(run_cli: RunCli, env: dict[str, str], cron_d: Path) -> None:
    done = run_cli("--env", "development", "install", "--target", "cron.d", *FIXED, env=env)
    assert done.returncode == 0
    assert done.stdout == f"environment development schedules no task; nothing written to {cron_d / 'app_tasks'}\n"
    assert list(cron_d.iterdir()) == []
    assert run_cli("install", "--target", "cron.d", *FIXED, env=env).returncode == 0
    emptied = run_cli("--env", "development", "install", "--target", "cron.d", *FIXED, env=env)
    assert emptied.returncode == 0
    assert "environment development schedules no task; emptying block app_tasks" in emptied.stdout
    assert "0 added, 0 changed, 3 removed, 0 unchanged" in emptied.stdout
    assert "# No task is scheduled in environment development.\n# END cronkit:app_tasks\n" in (
        cron_d / "app_tasks").read_text()


def test_unparseable_crontab_is_left_untouched(run_cli: RunCli, env: dict[str, str], cron_d: Path) -> None:
    target = cron_d / "app_tasks"
    broken = "# BEGIN cronkit:app_tasks\n0 1 * * * root true\n"
    target.write_text(broken)
    done = run_cli("install", "--target", "cron.d", *FIXED, env=env)
    assert done.returncode == 78
    assert done.stderr.startswith("cronkit: error: crontab holds 1 '# BEGIN cronkit:app_tasks' and 0 ")
    assert len(done.stderr.splitlines()) == 1
    assert target.read_text() == broken
    assert run_cli("uninstall", "--target", "cron.d", env=env).returncode == 78
    assert target.read_text() == broken


def test_usage_errors(run_cli: RunCli, env: dict[str, str]) -> None:
    bad = run_cli("install", "--target", "system", env=env)
    assert (bad.returncode, bad.stderr) == (2, "cronkit: error: --target: must be user, cron.d, kubernetes or systemd, not 'system'\n")
    bad_id = run_cli("render", "--id", "a b", env=env)
    assert bad_id.returncode == 2 and len(bad_id.stderr.splitlines()) == 1
    relative = run_cli("render", "--executable", "bin/cronkit", env=env)
    assert relative.returncode == 2 and "must be an absolute path" in relative.stderr
    for command in ("install", "uninstall", "render"):
        helped = run_cli(command, "--help", env=env)
        assert helped.returncode == 0 and "Example: cronkit" in helped.stdout


def test_missing_crontab_command_exits_69(run_cli: RunCli, env: dict[str, str]) -> None:
    done = run_cli("install", *FIXED, env={**env, "CRONKIT_CRONTAB_COMMAND": "/nonexistent/crontab"})
    assert done.returncode == 69
    assert done.stderr == "cronkit: error: crontab command not found: /nonexistent/crontab (install cron)\n"


def test_install_state_keeps_the_first_install_time_of_an_unchanged_line(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    first = {**env, "CRONKIT_NOW": "2026-01-01T00:00:00Z"}
    assert run_cli("install", "--target", "cron.d", *FIXED, env=first).returncode == 0
    later = {**env, "CRONKIT_NOW": "2026-02-01T00:00:00Z"}
    assert run_cli("install", "--target", "cron.d", "--host-zone", "Asia/Kolkata",
                   "--executable", "/usr/local/bin/cronkit", env=later).returncode == 0
    settings = load_settings(environ={"CRONKIT_HOME": str(home)})
    state = read_install_state(settings)
    assert state is not None
    assert state["block_id"] == "app_tasks" and state["target"] == "cron.d"
    assert state["host_zone"] == "Asia/Kolkata"
    # nightly (UTC) moved to another host line; weekdays (Paris) too: both are new lines.
    assert state["tasks"]["nightly"]["installed_at"] == "2026-02-01T00:00:00+00:00"
    third = {**env, "CRONKIT_NOW": "2026-03-01T00:00:00Z"}
    assert run_cli("install", "--target", "cron.d", "--host-zone", "Asia/Kolkata",
                   "--executable", "/usr/local/bin/cronkit", env=third).returncode == 0
    state = read_install_state(settings)
    assert state is not None
    assert {t["installed_at"] for t in state["tasks"].values()} == {"2026-02-01T00:00:00+00:00"}
    assert state["lines"] == [line for t in state["tasks"].values() for line in t["lines"]]
    assert extract(Path(state["path"]).read_text(), state["block_id"]) == state["block"]  # the recorded cron.d path
    assert json.loads((home / "install-state.json").read_text()) == state


def test_install_lock_is_exclusive(home: Path) -> None:
    settings = load_settings(environ={"CRONKIT_HOME": str(home)})
    with install_lock(settings):
        pid = os.fork()
        if pid == 0:
            try:
                with install_lock(settings, wait=0.2):
                    os._exit(1)
            except InstallBusy as exc:
                os._exit(75 if exc.exit_code == 75 else 2)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 75


def test_run_settings_file_holds_what_cron_runs_need(run_cli: RunCli, env: dict[str, str], home: Path, tmp_path: Path) -> None:
    import tomllib

    config = tmp_path / "cronkit.toml"
    config.write_text('redis_url = "redis://:hunter2@127.0.0.1:6390/0"\n[tasks.nightly]\n')
    secret_env = {**env, "CRONKIT_SECRET_KEY": "k" * 44, "CRONKIT_CONFIG": str(config),
                  "CRONKIT_APP_DB_URL": "postgresql://app:s3cret@db/app"}
    done = run_cli("install", "--target", "cron.d", *FIXED, env=secret_env)
    assert done.returncode == 0, done.stderr
    crontab = (Path(env["CRONKIT_CRON_D"]) / "app_tasks").read_text()
    for secret in ("hunter2", "s3cret", "k" * 44):
        assert secret not in crontab
    written = home / "cron" / "app_tasks.toml"
    data = tomllib.loads(written.read_text())
    assert data == {
        "home": str(home), "environment": "production", "registry": env["CRONKIT_TASKS"],
        "app_db_url": "postgresql://app:s3cret@db/app", "redis_url": "redis://:hunter2@127.0.0.1:6390/0",
        "secret_key": "k" * 44, "tasks": {"nightly": {}},
    }
    # A bare environment (as cron gives) with only --config reads the same settings.
    bare = load_settings(environ={"HOME": "/nonexistent"}, config_path=str(written))
    assert (bare.home, bare.environment, bare.secret_key) == (home, "production", "k" * 44)


# --- the user target, with the real crontab command for a throwaway user ---------------------


def test_user_crontab_install_and_uninstall(run_cli: RunCli, env: dict[str, str], throwaway_user: str) -> None:
    user = throwaway_user
    foreign = "MAILTO=ops@example.com\n# backup 100%\n\n0 1 1 1 * date +\\%s > /dev/null\n"
    subprocess.run(["crontab", "-u", user, "-"], input=foreign, text=True, check=True)
    args = ("--user", user, *FIXED)
    done = run_cli("install", *args, env=env)
    assert done.returncode == 0, done.stderr
    installed = crontab_l(user)
    assert installed is not None and installed.startswith(foreign)
    lines = installed[len(foreign):].splitlines()
    assert lines[0] == "# BEGIN cronkit:app_tasks" and lines[-1] == "# END cronkit:app_tasks"
    assert lines[2].startswith("0 3 * * * /usr/local/bin/cronkit --config ")  # no user field
    assert f"in the crontab of {user}: 3 added" in done.stdout

    assert run_cli("install", *args, env=env).stdout.startswith("block app_tasks in the crontab of")
    assert crontab_l(user) == installed
    dry = run_cli("--env", "staging", "install", "--dry-run", *args, env=env)
    assert dry.stdout.startswith(f"--- the crontab of {user} (now)\n")
    assert crontab_l(user) == installed

    assert run_cli("uninstall", "--user", user, env=env).returncode == 0
    assert crontab_l(user) == foreign


def test_user_crontab_created_and_removed(run_cli: RunCli, env: dict[str, str], throwaway_user: str) -> None:
    user = throwaway_user
    assert crontab_l(user) is None
    assert run_cli("install", "--user", user, *FIXED, env=env).returncode == 0
    assert (crontab_l(user) or "").startswith("# BEGIN cronkit:app_tasks\n")
    assert run_cli("uninstall", "--user", user, env=env).returncode == 0
    assert crontab_l(user) is None  # as before: no crontab at all


def test_crontab_refusing_the_text_leaves_it_untouched(run_cli: RunCli, env: dict[str, str], throwaway_user: str) -> None:
    user = throwaway_user
    # A crontab the crontab command would not accept (written behind its back, as a hand edit
    # of the spool file would): installing must fail cleanly and change nothing.
    spool = Path("/var/spool/cron/crontabs") / user
    if not spool.parent.is_dir():
        need("Debian's crontab spool directory /var/spool/cron/crontabs", "apt-get install cron")
    spool.write_text("this is not a cron line\n")
    os.chown(spool, pwd.getpwnam(user).pw_uid, 0)
    os.chmod(spool, 0o600)
    before = crontab_l(user)
    done = run_cli("install", "--user", user, *FIXED, env=env)
    assert done.returncode == 69
    assert done.stderr.startswith("cronkit: error: crontab - failed (exit 1): ")
    assert crontab_l(user) == before


def test_unknown_user_exits_69(run_cli: RunCli, env: dict[str, str]) -> None:
    if shutil.which("crontab") is None:
        need("the crontab command", "apt-get install cron")
    if os.geteuid() != 0:
        need("root (crontab -u another user)", "run the tests as root")
    done = run_cli("install", "--user", "nosuchuser-ckt", *FIXED, env=env)
    assert done.returncode == 69
    assert done.stderr.startswith("cronkit: error: crontab -l failed")


def test_cron_d_lines_for_another_user_get_a_home_they_can_use(run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    import tempfile

    if os.geteuid() != 0:
        need("root (installing cron.d lines that run as another user)", "run the tests as root")
    nobody = pwd.getpwnam("nobody")
    args = ("install", "--target", "cron.d", "--user", "nobody", *FIXED)
    # A new home below pytest's private directory: the lines could not reach it, so nothing is written.
    blocked = run_cli(*args, "--dry-run", env={**env, "CRONKIT_HOME": str(tmp_path / "new-home")})
    assert blocked.returncode == 78
    assert blocked.stderr.startswith("cronkit: error: cron.d lines run as nobody, who cannot reach ")
    shared = Path(tempfile.mkdtemp(dir="/tmp"))
    shared.chmod(0o755)
    try:
        roots = shared / "root-home"
        roots.mkdir()
        refused = run_cli(*args, env={**env, "CRONKIT_HOME": str(roots)})
        assert (refused.returncode, refused.stderr) == (78, (
            f"cronkit: error: cron.d lines run as nobody, but {roots} belongs to root:"
            f" `chown nobody {roots}` or choose a home nobody owns (--home)\n"))
        assert list(roots.iterdir()) == [] and not (env["CRONKIT_CRON_D"] and list(Path(env["CRONKIT_CRON_D"]).iterdir()))
        home = shared / "app-home"
        done = run_cli(*args, env={**env, "CRONKIT_HOME": str(home)})
        assert done.returncode == 0, done.stderr
        config = home / "cron" / "app_tasks.toml"
        for path in (home, config.parent, config, home / "cronkit.db"):
            assert path.stat().st_uid == nobody.pw_uid, path
        assert stat.S_IMODE(config.stat().st_mode) == 0o600  # still private: it may hold secrets
    finally:
        shutil.rmtree(shared)
