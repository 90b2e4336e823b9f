"""End to end with the real cron daemon: install a cron.d file, let cron run the task, uninstall."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import IN_CI, need, write_registry

CRON_D = Path("/etc/cron.d")
PIDFILE = Path("/run/crond.pid")
# cron runs a new cron.d file at the first minute boundary after it notices it; a run then
# takes a few seconds to start and record.
WAIT_SECONDS = 135


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
    registry = write_registry(tmp_path / "e2e_tasks.py", (
        '@registry.task("* * * * *", name="tick", environments=["*"], timeout="50s")\n'
        "def tick(ctx):\n"
        "    return {'slot': ctx.slot.isoformat()}\n"
    ))
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry)}
    env.pop("CRONKIT_CRON_D", None)
    daemon: subprocess.Popen[bytes] | None = None
    try:
        if not cron_running():
            daemon = subprocess.Popen(["cron", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            assert daemon.poll() is None, "cron -f exited at once"
        done = run_cli("install", "--target", "cron.d", "--id", block_id, "--user", "root", env=env)
        assert done.returncode == 0, done.stderr
        installed_at = time.time()
        text = target.read_text()
        assert "\n* * * * * root /" in text and " run tick --trigger cron\n" in text
        st = target.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o644)

        runs: list[tuple[str, str, int | None]] = []
        deadline = installed_at + WAIT_SECONDS
        while time.time() < deadline:
            runs = _runs(home)
            if any(status == "succeeded" for status, _, _ in runs):
                break
            time.sleep(2)
        succeeded = [(trigger, slot) for status, trigger, slot in runs if status == "succeeded"]
        assert succeeded, f"cron did not run the task within {WAIT_SECONDS}s; runs: {runs}"
        trigger, slot = succeeded[0]
        assert trigger == "cron"
        assert slot is not None and slot % 60_000 == 0 and slot >= int(installed_at // 60 * 60_000)

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


def _runs(home: Path) -> list[tuple[str, str, int | None]]:
    path = home / "cronkit.db"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return list(db.execute("SELECT status, trigger, scheduled_for FROM runs ORDER BY id"))
    except sqlite3.OperationalError:  # the schema is being created by the first run
        return []
