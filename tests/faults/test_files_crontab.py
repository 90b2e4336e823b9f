"""Faults of install into a shared crontab: concurrent homes, foreign bytes (real `crontab`)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cronkit.cronfile.io import Location
from cronkit.cronfile.sharedlock import crontab_lock, lock_path
from cronkit.cronfile.state import InstallBusy
from tests.conftest import CRONKIT, write_registry
from tests.test_install import FIXED, crontab_l, throwaway_user

__all__ = ["throwaway_user"]  # the fixture, imported for its use here

# Each process renders a different minute, so every install really writes the crontab.
REGISTRY = """
registry.add(os.environ["CKT_MINUTE"] + " 3 * * *", "os:getcwd", name="nightly",
             environments=["production"])
"""
FOREIGN = "MAILTO=ops@example.com\n0 1 * * * /usr/bin/true # theirs\n"


def project_env(cronkit_env: dict[str, str], tmp_path: Path, name: str) -> dict[str, str]:
    home = tmp_path / f"home-{name}"
    home.mkdir()
    registry = write_registry(tmp_path / f"{name}_tasks.py", REGISTRY)
    return {**cronkit_env, "CRONKIT_HOME": str(home), "CRONKIT_TASKS": str(registry),
            "CRONKIT_ENV": "production", "CRONKIT_CRON_D": str(tmp_path / "cron.d")}


def install_all(envs: list[dict[str, str]], args: list[str], tmp_path: Path) -> list[tuple[int, str]]:
    procs = [subprocess.Popen([CRONKIT, "install", *args, *FIXED], cwd=tmp_path,
                              env={**env, "CKT_MINUTE": str(i)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, env in enumerate(envs)]
    return [(p.wait(120), p.communicate()[1]) for p in procs]


def test_files_two_homes_installing_into_one_user_crontab_keep_both_blocks(
    cronkit_env: dict[str, str], tmp_path: Path, throwaway_user: str
) -> None:
    """Scenario: two projects (two CRONKIT_HOMEs) run `cronkit install --user U` at the same
    time, 3 processes each, 4 rounds, into a crontab with foreign lines (real `crontab`).
    Promise: every install exits 0 and after each round the crontab holds the foreign lines
    and exactly one block of each project."""
    user = throwaway_user
    subprocess.run(["crontab", "-u", user, "-"], input=FOREIGN, text=True, check=True)
    alpha = project_env(cronkit_env, tmp_path, "alpha")
    beta = project_env(cronkit_env, tmp_path, "beta")
    for _ in range(4):
        done = install_all([alpha, beta] * 3, ["--user", user], tmp_path)
        assert all(rc == 0 for rc, _ in done), done
        text = crontab_l(user) or ""
        assert text.startswith(FOREIGN)
        assert text.count("# BEGIN cronkit:alpha_tasks\n") == 1, text
        assert text.count("# BEGIN cronkit:beta_tasks\n") == 1, text
        assert text.count("# END cronkit:") == 2


def test_files_two_homes_installing_into_one_cron_d_directory_concurrently(
    cronkit_env: dict[str, str], tmp_path: Path
) -> None:
    """Scenario: two homes install their cron.d files into one directory at the same time.
    Promise: both files are complete, and no lock file is left in the directory."""
    (tmp_path / "cron.d").mkdir()
    alpha = project_env(cronkit_env, tmp_path, "alpha")
    beta = project_env(cronkit_env, tmp_path, "beta")
    done = install_all([alpha, beta] * 2, ["--target", "cron.d"], tmp_path)
    assert all(rc == 0 for rc, _ in done), done
    assert sorted(os.listdir(tmp_path / "cron.d")) == ["alpha_tasks", "beta_tasks"]
    for name in ("alpha_tasks", "beta_tasks"):
        assert (tmp_path / "cron.d" / name).read_text().endswith(f"# END cronkit:{name}\n")


def test_files_crontab_lock_is_shared_and_refuses_a_squatted_file(throwaway_user: str) -> None:
    """Scenario: the per-user crontab lock is held by one installer while another asks; and a
    lock file made by a third user sits in its place.
    Promise: the second waits and gives up with InstallBusy (exit 75); a squatted lock file is
    refused with a one-line error naming it, never used."""
    user = throwaway_user
    where = Location("user", user=user)
    with crontab_lock(where, 1, InstallBusy) as path:
        assert path == lock_path(user)
        st = path.stat()
        assert st.st_mode & 0o777 == 0o600 and st.st_uid == int(
            subprocess.run(["id", "-u", user], capture_output=True, text=True).stdout)
        pid = os.fork()
        if pid == 0:
            try:
                with crontab_lock(where, 0.3, InstallBusy):
                    os._exit(1)
            except InstallBusy:
                os._exit(75)
            os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 75
    path.unlink()
    squatter = Location("user", user=f"{user}x")  # a user whose lock a stranger (nobody) made
    squat = lock_path(f"{user}x")
    squat.touch(mode=0o600)
    try:
        os.chown(squat, 65534, 65534)
        with pytest.raises(Exception, match="crontab lock") as err:
            with crontab_lock(squatter, 0.3, InstallBusy):
                pass
        assert str(squat) in str(err.value) and "\n" not in str(err.value)
    finally:
        squat.unlink()
