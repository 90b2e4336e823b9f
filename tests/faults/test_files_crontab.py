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
from tests.crontabs import FIXED, crontab_l, throwaway_user

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


@pytest.mark.slow
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


# --- foreign bytes: kept exactly, or refused ---------------------------------------------------

HOSTILE = (b"MAILTO=ops@example.com\n"
           b"# caf\xe9 in latin-1, a lone \xff, a C1 \xc2\x85 and a control \x01\n"
           b"0 1 * * * printf 'a\rb' > /tmp/x # a raw carriage return\n"
           b"0 2 * * * tr -d '\\r' < /tmp/in > /tmp/out # a literal backslash-r\n"
           b"# a backspace \x08 here\n"
           b"0 3 * * * /usr/bin/true # \xe9t\xe9\n")


def spool_body(user: str) -> bytes:
    """The crontab's real bytes: the spool file without the header cron's crontab writes."""
    raw = (Path("/var/spool/cron/crontabs") / user).read_bytes()
    while raw.startswith(b"# DO NOT EDIT") or raw.startswith(b"# ("):
        raw = raw.split(b"\n", 1)[1]
    return raw


def test_files_foreign_crontab_bytes_survive_install_and_uninstall(
    cronkit_env: dict[str, str], tmp_path: Path, throwaway_user: str
) -> None:
    """Scenario: a user crontab holding a raw CR, a backspace, a literal `\\r`, bytes that are not
    UTF-8; `cronkit install`, `install --dry-run`, `uninstall`
    as root through the real `crontab` command (whose -l escapes CR and backspace).
    Promise: no traceback; every foreign byte is kept exactly (read from the spool file) and
    uninstall restores the original bytes."""
    user = throwaway_user
    subprocess.run(["crontab", "-u", user, "-"], input=HOSTILE, check=True)
    assert spool_body(user) == HOSTILE
    env = {**project_env(cronkit_env, tmp_path, "alpha"), "CKT_MINUTE": "7"}

    def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([CRONKIT, *args], env=env, cwd=tmp_path, capture_output=True, timeout=120)

    dry = cli("install", "--user", user, "--dry-run", *FIXED)
    assert dry.returncode == 0 and b"Traceback" not in dry.stderr, dry.stderr
    assert b"+# BEGIN cronkit:alpha_tasks\n" in dry.stdout and spool_body(user) == HOSTILE
    assert b"true # \xe9t\xe9\n" in dry.stdout  # the diff shows foreign bytes as they are
    done = cli("install", "--user", user, *FIXED)
    assert done.returncode == 0, done.stderr
    after = spool_body(user)
    assert after.startswith(HOSTILE + b"# BEGIN cronkit:alpha_tasks\n")
    assert after.endswith(b"# END cronkit:alpha_tasks\n")
    again = cli("install", "--user", user, *FIXED)  # idempotent: nothing rewritten
    assert again.returncode == 0 and spool_body(user) == after
    removed = cli("uninstall", "--user", user)
    assert removed.returncode == 0, removed.stderr
    assert spool_body(user) == HOSTILE


def test_files_escaped_listing_without_the_spool_is_refused(
    throwaway_user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario: `crontab -l` shows `\\r` and the spool file cannot be read (a user installing
    into their own crontab). Promise: install refuses with a one-line configuration error
    (78) instead of writing a literal backslash-r back; the crontab is untouched."""
    from cronkit.cronfile import io

    user = throwaway_user
    subprocess.run(["crontab", "-u", user, "-"], input=b"0 1 * * * printf 'a\rb'\n", check=True)
    monkeypatch.setattr(io, "SPOOL_DIRS", ("/nonexistent-spool",))
    where = Location("user", user=user)
    assert io.read_crontab(where) == "0 1 * * * printf 'a\\rb'\n"  # reading for a look is fine
    with pytest.raises(io.CrontabAmbiguous) as err:
        io.read_crontab(where, exact=True)
    assert err.value.exit_code == 78 and "\n" not in str(err.value)
    assert spool_body(user) == b"0 1 * * * printf 'a\rb'\n"
