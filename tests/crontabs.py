"""Install into real crontabs: a throwaway system user, its `crontab -l`, the options that fix a render."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import need

# The host zone and executable every install of these tests renders with: the same text on any host.
FIXED = ("--host-zone", "UTC", "--executable", "/usr/local/bin/cronkit")


@pytest.fixture
def throwaway_user() -> Iterator[str]:
    """A system user created for this test, its crontab and account removed afterwards."""
    if shutil.which("crontab") is None:
        need("the crontab command", "apt-get install cron")
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        need("root (crontab -u) and useradd", "run the tests as root on a host with useradd")
    name = f"ckt{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["crontab", "-u", name, "-r"], capture_output=True)
        subprocess.run(["userdel", name], capture_output=True)


def crontab_l(user: str) -> str | None:
    done = subprocess.run(["crontab", "-u", user, "-l"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None
