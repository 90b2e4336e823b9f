"""install.sh --dev and the Debian packages the suite needs: installed as root, named to a plain user.

install.sh runs with a PATH holding only the shell tools it uses and a stand-in apt-get that
records its arguments; none of the suite's commands is on that PATH, so all are "missing", and
a PYTHON that does not exist stops the script right after that step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need
from tests.paths import REPO

TOOLS = ("bash", "sed", "cat", "id", "mktemp", "rm", "dirname")
EXPECTED = ("python3-venv redis-server redis-tools cron sqlite3 chromium chromium-driver prometheus systemd "
            "faketime")


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A directory anyone can read (a plain user runs the script from it) with install.sh and a PATH."""
    root = Path(tempfile.mkdtemp(prefix="cronkit-install-"))
    try:
        root.chmod(0o755)
        shutil.copy(REPO / "install.sh", root / "install.sh")
        bindir = root / "bin"
        bindir.mkdir()
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found is not None, tool
            (bindir / tool).symlink_to(found)
        (bindir / "apt-get").write_text(f'#!{shutil.which("bash")}\necho "apt-get $*" >> {root}/apt.log\n')
        (bindir / "apt-get").chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root)


def install(root: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(root / "bin"), "PYTHON": str(root / "no-python"), "HOME": str(root)}
    return subprocess.run([*prefix, str(root / "bin" / "bash"), str(root / "install.sh"), "--dev"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_as_root_it_installs_what_is_missing_once_and_says_so(sandbox: Path) -> None:
    if os.geteuid() != 0:
        need("root (install.sh runs apt-get only as root)", "run the tests as root")
    done = install(sandbox)
    assert done.stdout == f"install.sh: installing Debian packages: {EXPECTED}\n"
    assert (sandbox / "apt.log").read_text() == (
        "apt-get update -qq\n"
        f"apt-get install -y -qq --no-install-recommends {EXPECTED}\n")
    # the missing Python then stops it, in one line
    assert done.returncode == 1 and done.stderr.startswith("install.sh: cronkit needs Python 3.11 or newer")


def test_as_a_plain_user_it_prints_the_one_apt_get_line_to_run(sandbox: Path) -> None:
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv is not None  # util-linux, on every Debian
        prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
    done = install(sandbox, *prefix)
    assert not (sandbox / "apt.log").exists()
    said, rest = done.stderr.split("\n", 1)
    assert said == f"install.sh: missing Debian packages; as root, run: apt-get install -y --no-install-recommends {EXPECTED}"
    assert done.returncode == 1 and rest.startswith("install.sh: cronkit needs Python 3.11 or newer")
