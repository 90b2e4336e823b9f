"""The real-cron scenarios and what they share: the cron daemon, a user's project directory, and
reading what cron ran from a run log.

cron reads /etc/cron.d when it wakes at a minute boundary, then runs what is due in that minute.
A scenario schedules its tasks for one minute only, the next boundary its install beats by LEAD
seconds, waits for that boundary, then at most WAIT_SECONDS for the runs to be recorded.
tests/e2e/test_real_cron.py runs every scenario of this package side by side, so that they wait
for the same minute, in one test (one worker), while the rest of the suite has the other workers.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CRONKIT, IN_CI, need

CRON_D = Path("/etc/cron.d")
PIDFILE = Path("/run/crond.pid")
# Seconds an install must beat its minute boundary by: a test whose installs ran into the last 2 s
# before it installs again for the next minute, so a short lead is safe, and the longer it is, the
# likelier a test waits a whole extra minute (LEAD in 60).
LEAD = 5
WAIT_SECONDS = 60
# Who uses the cron daemon the tests started: {"daemon": pid or null, "users": [pid, ...]},
# changed only under the lock, so the last test out stops it, whichever worker that is.
SHARED = Path("/tmp/cronkit-tests-cron.json")
SHARED_LOCK = Path("/tmp/cronkit-tests-cron.lock")


def cron_running() -> bool:
    """Return whether a cron daemon runs (its pidfile names a live `cron` process)."""
    for pidfile in (PIDFILE, Path("/var/run/crond.pid")):
        try:
            pid = int(pidfile.read_text().split()[0])
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError, IndexError):
            continue
        if comm == "cron":
            return True
    return False



def need_cron_as_root() -> None:
    """Fail in CI, skip elsewhere, without the cron daemon or root (the tests write /etc/cron.d)."""
    if shutil.which("cron") is None:
        need("the cron daemon", "apt-get install cron")
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the cron end-to-end test needs root (it writes /etc/cron.d) in CI", pytrace=False)
        pytest.skip("needs root: it writes a file into /etc/cron.d")


@contextmanager
def cron_daemon() -> Iterator[None]:
    """Have a cron daemon run meanwhile: the machine's, or one started here and stopped by the last
    process using it (the state is kept under a file lock: two test sessions may share a machine)."""
    with _shared() as state:
        if not cron_running():
            daemon = subprocess.Popen(["cron", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
            time.sleep(1)
            assert daemon.poll() is None, "cron -f exited at once"
            state["daemon"] = daemon.pid
        state["users"] = [*_alive(state.get("users", [])), os.getpid()]
    try:
        yield
    finally:
        with _shared() as state:
            users = _alive(state.get("users", []))
            if os.getpid() in users:
                users.remove(os.getpid())
            state["users"] = users
            if not users and state.get("daemon"):
                _stop(state["daemon"])
                state["daemon"] = None


@contextmanager
def _shared() -> Iterator[dict[str, Any]]:
    with SHARED_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = json.loads(SHARED.read_text()) if SHARED.exists() else {}
        except ValueError:
            state = {}
        yield state
        SHARED.write_text(json.dumps(state))


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def _stop(pid: int) -> None:
    """Stop the cron daemon the tests started, and remove the pidfile it leaves behind.

    Only a live `cron`: a pid recorded by a session that died may since name another process."""
    if _comm(pid) != "cron":
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _comm(pid) == "cron" and _state(pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        if int(PIDFILE.read_text().split()[0]) == pid:
            PIDFILE.unlink()
    except (OSError, ValueError, IndexError):
        pass


@dataclass
class Project:
    """A user's project directory with its registry package, its cronkit home and its cron.d file."""

    root: Path
    package: str
    block_id: str
    env: dict[str, str]

    @property
    def module(self) -> Path:
        return self.root / self.package / "cron.py"

    @property
    def home(self) -> Path:
        return Path(self.env["CRONKIT_HOME"])

    def cronkit(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run `cronkit ARGS` from the project directory, as its user types it."""
        return subprocess.run([CRONKIT, *args], env={**self.env, **extra}, cwd=self.root, capture_output=True,
                              text=True, timeout=120)


def project(tmp_path: Path, cronkit_env: dict[str, str], name: str, package: str) -> Project:
    root = tmp_path / name
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    env = {k: v for k, v in cronkit_env.items() if k not in ("PYTHONPATH", "CRONKIT_CRON_D")}
    env.update({"CRONKIT_HOME": str(root / "state"), "CRONKIT_TASKS": f"{package}.cron",
                # the periodic `cronkit check` line every minute, so the test sees it fire
                "CRONKIT_CHECK_SCHEDULE": "* * * * *"})
    return Project(root, package, f"cronkit-e2e-{uuid.uuid4().hex[:10]}", env)


def host_zone() -> str:
    """Return the zone cron runs in, from /etc/localtime (as cronkit's install finds it), else UTC."""
    target = str(Path("/etc/localtime").resolve())
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"


def recorded_runs(home: Path) -> list[tuple[str, str, str, int | None]]:
    path = home / "cronkit.db"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return list(db.execute("SELECT task, status, trigger, scheduled_for FROM runs ORDER BY id"))
    except sqlite3.OperationalError:  # the schema is being created by the first run
        return []

