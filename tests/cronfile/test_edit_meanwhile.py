"""A person's crontab edit that lands while `install` runs is never overwritten (issue 25).

crontab(1) takes no lock. The stand-in crontab command here (a real process, named by
CRONKIT_CRONTAB_COMMAND) keeps the crontab in a file and plays the person: on its Nth `-l`, or
right after a write, it saves their edit first, as `crontab -e` would. install must then fail
with one line and exit 75, leave the person's edit in place, and keep both versions under the
home's backups, named in the message.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.conftest import write_registry
from tests.fixturetypes import RunCli

REGISTRY = 'registry.add("0 3 * * *", "os:getcwd", name="nightly", environments=["production"])\n'
MINE = "MAILTO=ops@example.com\n0 1 * * * /usr/bin/backup\n"
THEIRS = MINE + "30 4 * * * /usr/bin/their-new-job\n"

STAND_IN = """#!{python}
import os, sys
crontab, state = os.environ["FAKE_CRONTAB"], os.environ["FAKE_CRONTAB"] + ".lists"
args = [a for a in sys.argv[1:] if a != "-u"]

def edit():
    with open(crontab, "w") as fh:
        fh.write(os.environ["FAKE_EDIT"])

if args[-1] == "-l":
    count = int(open(state).read()) + 1 if os.path.exists(state) else 1
    open(state, "w").write(str(count))
    if str(count) == os.environ.get("FAKE_EDIT_ON_LIST"):
        edit()
    if not os.path.exists(crontab):
        sys.stderr.write("no crontab for test\\n")
        sys.exit(1)
    sys.stdout.write(open(crontab).read())
elif args[-1] == "-":
    data = sys.stdin.read()
    with open(crontab, "w") as fh:
        fh.write(data)
    if os.environ.get("FAKE_EDIT_AFTER_WRITE"):
        edit()
elif args[-1] == "-r":
    os.remove(crontab)
"""


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    command = tmp_path / "fake-crontab"
    command.write_text(STAND_IN.format(python=sys.executable))
    command.chmod(0o755)
    (tmp_path / "crontab").write_text(MINE)
    cronkit_env.update({"CRONKIT_TASKS": str(write_registry(tmp_path / "app_tasks.py", REGISTRY)),
                        "CRONKIT_ENV": "production", "CRONKIT_CRONTAB_COMMAND": str(command),
                        "FAKE_CRONTAB": str(tmp_path / "crontab"), "FAKE_EDIT": THEIRS})
    return cronkit_env


FIXED = ("--host-zone", "UTC", "--executable", "/usr/local/bin/cronkit")


def _saved(message: str) -> tuple[str, str | None]:
    found = re.search(r"it is saved in (\S+?\.crontab)", message)
    intended = re.search(r"cronkit's version is in (\S+?\.crontab)", message)
    assert found, message
    return Path(found.group(1)).read_text(), Path(intended.group(1)).read_text() if intended else None


@pytest.mark.parametrize("when", ["between the reads", "right after the write"])
def test_an_edit_meanwhile_fails_install_and_loses_nothing(run_process: RunCli, env: dict[str, str], tmp_path: Path,
                                                           home: Path, when: str) -> None:
    # `-l` number 1 is install's first read, number 2 its read just before writing.
    env.update({"FAKE_EDIT_ON_LIST": "2"} if when == "between the reads" else {"FAKE_EDIT_AFTER_WRITE": "1"})
    done = run_process("install", *FIXED, env=env)
    assert done.returncode == 75, done.stderr
    assert done.stderr.startswith("cronkit: error: your crontab changed ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert (tmp_path / "crontab").read_text() == THEIRS  # their edit stands
    theirs, ours = _saved(done.stderr)
    assert theirs == THEIRS
    assert ours is not None and ours.startswith(MINE) and "# BEGIN cronkit:app_tasks" in ours
    assert str(home / "backups") in done.stderr
    # Run again, with nobody editing: the block joins their version.
    env.pop("FAKE_EDIT_ON_LIST", None), env.pop("FAKE_EDIT_AFTER_WRITE", None)
    again = run_process("install", *FIXED, env=env)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "crontab").read_text().startswith(THEIRS + "# BEGIN cronkit:app_tasks\n")


def test_an_edit_meanwhile_fails_uninstall_too(run_process: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    assert run_process("install", *FIXED, env=env).returncode == 0
    installed = (tmp_path / "crontab").read_text()
    Path(env["FAKE_CRONTAB"] + ".lists").unlink()
    env.update({"FAKE_EDIT_ON_LIST": "2", "FAKE_EDIT": installed + "# a note they added\n"})
    done = run_process("uninstall", env=env)
    assert done.returncode == 75, done.stderr
    assert (tmp_path / "crontab").read_text() == installed + "# a note they added\n"
    theirs, ours = _saved(done.stderr)
    assert theirs.endswith("# a note they added\n") and ours == MINE


def test_no_edit_meanwhile_installs_as_before(run_process: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    done = run_process("install", *FIXED, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "crontab").read_text().startswith(MINE + "# BEGIN cronkit:app_tasks\n")
