"""`cronkit uninstall --target systemd|kubernetes`: only the files cronkit wrote for the registry go
(found by the mark on their first line), every other file stays; and each command's `--target`
error names exactly the targets that command accepts. No test touches the host's systemd: units
go into --unit-dir, and the systemctl calls are checked with a recording systemctl on PATH."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cronkit.targets.files import MANIFEST, install_units, uninstall_units
from tests.conftest import write_registry
from tests.fixturetypes import RunCli


@pytest.fixture
def cronkit_env(cronkit_env: dict[str, str]) -> dict[str, str]:
    """These tests use the built-in registry, named explicitly (no registry configured is an error)."""
    cronkit_env["CRONKIT_TASKS"] = "cronkit.tasks"
    return cronkit_env

EXECUTABLE = "/usr/local/bin/cronkit"
FOREIGN_TIMER = "[Timer]\nOnCalendar=daily\n"


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    return write_registry(tmp_path / "jobs.py", (
        "registry.add('0 3 * * *', 'os:getcwd', name='nightly')\n"
        "registry.add('0 4 * * *', 'os:getcwd', name='later')\n"
    ))


def listing(directory: Path) -> dict[str, str]:
    """Return {name: text} of the directory's files, a link as `-> target` (dangling or not)."""
    return {p.name: f"-> {os.readlink(p)}" if p.is_symlink() else p.read_text()
            for p in sorted(directory.iterdir()) if p.is_file() or p.is_symlink()}


def test_uninstall_systemd_removes_only_the_units_cronkit_wrote(run_cli: RunCli, cronkit_env: dict[str, str],
                                                                tmp_path: Path, jobs: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    (units / "backup.timer").write_text(FOREIGN_TIMER)
    mine = ("--env", "production", "--tasks", str(jobs))
    assert run_cli(*mine, "install", "--target", "systemd", "--unit-dir", str(units), "--executable", EXECUTABLE,
                   env=cronkit_env).returncode == 0
    # Another registry installed into the same directory, with a prefix of its own.
    other = write_registry(tmp_path / "other.py", "registry.add('0 5 * * *', 'os:getcwd', name='nightly')\n")
    other_config = tmp_path / "other.toml"
    other_config.write_text('[systemd]\nunit_prefix = "other-"\n')
    done = run_cli("--config", str(other_config), "--env", "production", "--tasks", str(other), "install",
                   "--target", "systemd", "--unit-dir", str(units), "--executable", EXECUTABLE, env=cronkit_env)
    assert done.returncode == 0, done.stderr
    # A unit install wrote and someone replaced since, and a link to a unit of ours: not cronkit's files.
    (units / "cronkit-later.service").write_text("[Service]\nExecStart=/bin/true\n")
    (units / "linked.timer").symlink_to(units / "cronkit-nightly.timer")
    before = listing(units)

    dry = run_cli(*mine, "uninstall", "--target", "systemd", "--unit-dir", str(units), "--dry-run", env=cronkit_env)
    assert (dry.returncode, dry.stderr) == (0, "")
    assert dry.stdout == (f"would remove {units}/cronkit-later.timer\nwould remove {units}/cronkit-nightly.service\n"
                          f"would remove {units}/cronkit-nightly.timer\n"
                          f"kept {units}/cronkit-later.service: listed as cronkit's, but it no longer starts with "
                          f"cronkit's mark\ndry run: {units}: 3 removed, 1 kept\n")
    assert listing(units) == before

    done = run_cli(*mine, "uninstall", "--target", "systemd", "--unit-dir", str(units), env=cronkit_env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"removed {units}/cronkit-later.timer\n")
    assert done.stdout.endswith(f"{units}: 3 removed, 1 kept\nsystemd is not running here (PID 1 is "
                                f"{Path('/proc/1/comm').read_text().strip()}): units removed, no timer stopped\n")
    left = listing(units)
    assert sorted(left) == [MANIFEST, "backup.timer", "cronkit-later.service", "linked.timer", "other-nightly.service",
                            "other-nightly.timer"]
    assert left["backup.timer"] == FOREIGN_TIMER
    assert {name: before[name] for name in left if name != MANIFEST} == {n: t for n, t in left.items() if n != MANIFEST}
    assert list(json.loads(left[MANIFEST])) == ["other"]

    again = run_cli(*mine, "uninstall", "--target", "systemd", "--unit-dir", str(units), env=cronkit_env)
    assert (again.returncode, again.stdout) == (0, f"no file of registry jobs in {units}; nothing to do\n")

    # The other installation goes by its id alone, with its registry gone; the manifest goes with it.
    other.unlink()
    gone = run_cli("--env", "production", "--tasks", str(other), "uninstall", "--target", "systemd",
                   "--unit-dir", str(units), env=cronkit_env)
    assert gone.returncode == 78 and "other.py" in gone.stderr
    by_id = run_cli("uninstall", "--target", "systemd", "--id", "other", "--unit-dir", str(units), env=cronkit_env)
    assert by_id.returncode == 0, by_id.stderr
    assert sorted(listing(units)) == ["backup.timer", "cronkit-later.service", "linked.timer"]


def test_uninstall_systemd_finds_rendered_units_by_their_mark(run_cli: RunCli, cronkit_env: dict[str, str],
                                                              tmp_path: Path) -> None:
    """Units written by `render --output` (no manifest) or installed as user units go too."""
    units = tmp_path / "rendered"
    env = {**cronkit_env, "CRONKIT_ENV": "staging"}
    assert run_cli("render", "--target", "systemd", "--executable", EXECUTABLE, "--output", str(units),
                   env=env).returncode == 0
    assert len(listing(units)) == 6
    done = run_cli("uninstall", "--target", "systemd", "--unit-dir", str(units), env=env)
    assert done.returncode == 0, done.stderr
    assert "6 removed, 0 kept" in done.stdout and listing(units) == {}

    assert run_cli("install", "--target", "systemd", "--user", "--executable", EXECUTABLE, env=env).returncode == 0
    user_dir = tmp_path / ".config" / "systemd" / "user"
    assert len(listing(user_dir)) == 7
    done = run_cli("uninstall", "--target", "systemd", "--user", env=env)
    assert done.returncode == 0, done.stderr
    assert f"{user_dir}: 6 removed, 0 kept\n" in done.stdout and listing(user_dir) == {}


def recording_systemctl(tmp_path: Path, watched: Path) -> Path:
    """Put a `systemctl` first on PATH that records its arguments and the unit files present then."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    script = bin_dir / "systemctl"
    script.write_text(f"#!/bin/sh\necho \"$* | $(ls {watched} | grep -v manifest | tr '\\n' ' ')\" >> {log}\n")
    script.chmod(0o755)
    return log


def test_where_systemd_runs_timers_stop_before_their_units_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "comm").write_text("systemd\n")
    units = tmp_path / "units"
    log = recording_systemctl(tmp_path, units)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    mark = "# Rendered by cronkit from registry app, environment production. Edits are overwritten.\n"
    files = {"cronkit-a.service": mark, "cronkit-a.timer": mark, "cronkit-b.service": mark, "cronkit-b.timer": mark}
    installed = install_units(units, files, "app", user=True, proc=proc)
    assert installed.systemd_running
    outcome = uninstall_units(units, "app", user=True, proc=proc)
    assert outcome.changes.removed == sorted(files)
    assert outcome.commands == [["systemctl", "--user", "disable", "--now", "cronkit-a.timer", "cronkit-b.timer"],
                                ["systemctl", "--user", "daemon-reload"]]
    every = "cronkit-a.service cronkit-a.timer cronkit-b.service cronkit-b.timer "
    assert log.read_text().splitlines() == [
        f"--user daemon-reload | {every}", f"--user enable --now cronkit-a.timer cronkit-b.timer | {every}",
        f"--user disable --now cronkit-a.timer cronkit-b.timer | {every}", "--user daemon-reload | "]


def test_uninstall_kubernetes_removes_the_files_and_says_what_to_delete(run_cli: RunCli, cronkit_env: dict[str, str],
                                                                        tmp_path: Path) -> None:
    config = tmp_path / "cronkit.toml"
    config.write_text('[kubernetes]\nnamespace = "batch"\n')
    env = {**cronkit_env, "CRONKIT_ENV": "staging", "CRONKIT_CONFIG": str(config)}
    out = tmp_path / "k8s"
    assert run_cli("install", "--target", "kubernetes", "--output", str(out), env=env).returncode == 0
    (out / "mine.yaml").write_text("kind: ConfigMap\n")
    missing = run_cli("uninstall", "--target", "kubernetes", env=env)
    assert (missing.returncode, missing.stderr) == (
        2, "cronkit: error: --target kubernetes: give --output DIR, the directory install wrote the CronJobs into\n")
    done = run_cli("uninstall", "--target", "kubernetes", "--output", str(out), env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.endswith(f"{out}: 3 removed, 0 kept\ndelete them from the cluster with: kubectl delete cronjob "
                                "--namespace batch --ignore-not-found daily-analytics-updates daily-log-pruning "
                                "daily-session-cleanup\n")
    assert listing(out) == {"mine.yaml": "kind: ConfigMap\n"}


@pytest.mark.parametrize("args, message", [
    (("render", "--target", "bogus"),
     "--target: must be user, cron.d, kubernetes, systemd or serve-unit, not 'bogus'"),
    (("install", "--target", "bogus"), "--target: must be user, cron.d, kubernetes or systemd, not 'bogus'"),
    (("uninstall", "--target", "bogus"), "--target: must be user, cron.d, kubernetes or systemd, not 'bogus'"),
    (("uninstall", "--target", "serve-unit"),
     "--target serve-unit: cronkit does not install it; run systemctl disable --now cronkit-serve.service and "
     "delete its unit file"),
    (("uninstall", "--target", "cron.d", "--unit-dir", "/tmp/x"),
     "--output and --unit-dir: only for --target kubernetes or systemd"),
    (("uninstall", "--target", "systemd", "--user", "bob"), "--user: takes no value with --target systemd"),
    (("uninstall", "--target", "systemd", "--json"), "--json: not available for --target systemd"),
    (("uninstall", "--target", "systemd", "--output", "/tmp/x"), "--output: for --target systemd use --unit-dir DIR"),
    (("uninstall", "--target", "kubernetes", "--unit-dir", "/tmp/x"), "--unit-dir and --user: only for --target systemd"),
    (("uninstall", "--target", "user", "--user"), "--user: needs a user name with --target user or cron.d"),
    (("render", "--target", "cron.d", "--output", "/tmp/x"),
     "--output: only for --target kubernetes, systemd or serve-unit"),
    (("install", "--target", "systemd", "--id", "x"), "--id: only for --target user or cron.d (a crontab block)"),
    (("install", "--target", "kubernetes", "--host-zone", "UTC"),
     "--host-zone: only for --target user or cron.d (a crontab block)"),
])
def test_each_command_names_exactly_the_targets_it_takes(run_cli: RunCli, cronkit_env: dict[str, str],
                                                         args: tuple[str, ...], message: str) -> None:
    done = run_cli(*args, env=cronkit_env)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"cronkit: error: {message}\n")


def test_help_lists_the_targets_and_options_each_command_takes(run_cli: RunCli, cronkit_env: dict[str, str]) -> None:
    helps = {command: " ".join(run_cli(command, "--help", env=cronkit_env).stdout.split())
             for command in ("render", "install", "uninstall")}
    assert "serve-unit" in helps["render"]
    assert "serve-unit" not in helps["install"] and "serve-unit" not in helps["uninstall"]
    for option in ("--unit-dir", "--output", "kubernetes", "systemd"):
        assert option in helps["uninstall"]
