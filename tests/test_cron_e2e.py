"""End to end with the real cron daemon: install a cron.d file, let cron run the task, uninstall."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import IN_CI, need, write_registry

CRON_D = Path("/etc/cron.d")
PIDFILE = Path("/run/crond.pid")
# cron reads /etc/cron.d when it wakes at a minute boundary, then runs what is due in that minute.
# The test schedules its task for one minute only, the next boundary the install beats by LEAD
# seconds, and waits for that boundary, then at most WAIT_SECONDS for the run to be recorded.
LEAD = 10
WAIT_SECONDS = 60
TICK = """
@registry.task("{schedule}", name="tick", environments=["*"], timeout="50s", timezone="{zone}")
def tick(ctx):
    return {{'slot': ctx.slot.isoformat()}}
"""


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


@pytest.mark.slow
@pytest.mark.cron
def test_cron_runs_an_installed_task(run_cli, cronkit_env: dict[str, str], tmp_path: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("cron") is None:
        need("the cron daemon", "apt-get install cron")
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the cron end-to-end test needs root (it writes /etc/cron.d) in CI", pytrace=False)
        pytest.skip("needs root: it writes a file into /etc/cron.d")
    block_id = f"cronkit-e2e-{uuid.uuid4().hex[:10]}"
    target = CRON_D / block_id
    registry = tmp_path / "e2e_tasks.py"
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry)}
    env.pop("CRONKIT_CRON_D", None)
    daemon: subprocess.Popen[bytes] | None = None
    try:
        if not cron_running():
            daemon = subprocess.Popen(["cron", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            assert daemon.poll() is None, "cron -f exited at once"
        installed_at, boundary = _install_for_next_minute(run_cli, registry, env, block_id)
        text = target.read_text()
        fire = datetime.fromtimestamp(boundary, ZoneInfo(_host_zone()))
        assert f"\n{fire.minute} {fire.hour} {fire.day} {fire.month} * root /" in text and " run tick --trigger cron\n" in text
        st = target.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o644)

        runs: list[tuple[str, str, int | None]] = []
        time.sleep(max(0.0, boundary - time.time()))  # nothing can run before the boundary
        deadline = boundary + WAIT_SECONDS
        while time.time() < deadline:
            runs = _runs(home)
            if any(status == "succeeded" for status, _, _ in runs):
                break
            time.sleep(1)
        succeeded = [(trigger, slot) for status, trigger, slot in runs if status == "succeeded"]
        assert succeeded, f"cron did not run the task within {WAIT_SECONDS}s of {fire:%H:%M %Z}; runs: {runs}"
        trigger, slot = succeeded[0]
        assert trigger == "cron"
        assert slot is not None and slot % 60_000 == 0 and slot >= int(installed_at // 60 * 60_000)
        assert slot == boundary * 1000  # the one minute it was scheduled for

        gone = run_cli("uninstall", "--target", "cron.d", "--id", block_id, env=env)
        assert gone.returncode == 0, gone.stderr
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)
        if daemon is not None:
            daemon.terminate()
            daemon.wait(10)
            try:  # the daemon we started leaves its pidfile behind
                if int(PIDFILE.read_text().split()[0]) == daemon.pid:
                    PIDFILE.unlink()
            except (OSError, ValueError, IndexError):
                pass


def _install_for_next_minute(run_cli, registry: Path, env: dict[str, str], block_id: str) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Install `tick` for the next minute boundary at least LEAD seconds away; return (install time, boundary).

    The schedule names that one minute in the host's zone, so the cron line is the schedule. If
    the install itself ran past the boundary (a loaded machine), schedule the next one and install again.
    """
    for _ in range(3):
        # cron notices a change by the directory's mtime, in seconds: not in the second it last looked
        time.sleep(max(0.0, 2 - time.time() % 60))
        installed_at = time.time()
        boundary = (int(installed_at + LEAD) // 60 + 1) * 60
        zone = _host_zone()
        fire = datetime.fromtimestamp(boundary, ZoneInfo(zone))
        schedule = f"{fire.minute} {fire.hour} {fire.day} {fire.month} *"
        write_registry(registry, TICK.format(schedule=schedule, zone=zone))
        done = run_cli("install", "--target", "cron.d", "--id", block_id, "--user", "root", env=env)
        assert done.returncode == 0, done.stderr
        if time.time() < boundary - 2:
            return installed_at, boundary
    pytest.fail(f"three installs each took more than {LEAD}s", pytrace=False)


def _host_zone() -> str:
    """Return the zone cron runs in, from /etc/localtime (as cronkit's install finds it), else UTC."""
    target = str(Path("/etc/localtime").resolve())
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"


def _runs(home: Path) -> list[tuple[str, str, int | None]]:
    path = home / "cronkit.db"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return list(db.execute("SELECT status, trigger, scheduled_for FROM runs ORDER BY id"))
    except sqlite3.OperationalError:  # the schema is being created by the first run
        return []
