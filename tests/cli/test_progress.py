"""Progress on long work (issue 32): a bar at a terminal, nothing in a pipe, with --json, or on the cron path.

The terminal is a real pseudo-terminal (the pty module): `cronkit` sees a tty on stdout and
stderr, as a person's shell gives it, and everything it writes is read back raw.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CRONKIT, write_registry

SEED = ("demo", "seed", "--users", "50", "--days", "1", "--large-log-mb", "0")
WINDOW = ("due", "--at", "2026-01-01", "--until", "2026-01-03")
HIDE_CURSOR = "\x1b[?25l"  # rich's Live hides the cursor while it draws a bar


def at_terminal(args: tuple[str, ...], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run `cronkit ARGS` with stdout and stderr on a pseudo-terminal; return its code and raw output."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([CRONKIT, *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                            env={**env, "TERM": "xterm-256color", "COLUMNS": "120"}, cwd=cwd, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            proc.kill()
            raise AssertionError(f"cronkit {' '.join(args)} wrote nothing for 120 s")
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the other end closed, the process is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(60), b"".join(chunks).decode(errors="replace")


def test_demo_seed_shows_a_spinner_with_counts_at_a_terminal(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    code, out = at_terminal(SEED, cronkit_env, tmp_path)
    assert code == 0, out
    assert HIDE_CURSOR in out
    assert "Seeding" in out and " rows" in out and "activity events" in out
    assert "Demo data" in out  # the table a pipe gets too, once the bar is gone


def test_demo_seed_is_silent_in_a_pipe_and_with_json(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    piped = subprocess.run([CRONKIT, *SEED], env=cronkit_env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "Seeding" not in piped.stdout + piped.stderr and "\x1b[" not in piped.stdout + piped.stderr
    assert "Demo data" in piped.stdout

    code, out = at_terminal((*SEED, "--reset", "--json"), cronkit_env, tmp_path)
    assert code == 0, out
    assert HIDE_CURSOR not in out and "Seeding" not in out
    assert json.loads(out.replace("\r\n", "\n"))["users"] == 50


def test_due_over_a_window_shows_a_bar_at_a_terminal_only(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "app.py", '''
@registry.task("*/5 * * * *", name="often", environments=("*",))
def often(ctx): return {}

@registry.task("0 3 * * *", name="nightly", environments=("*",))
def nightly(ctx): return {}
''')
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry)}
    code, out = at_terminal(WINDOW, env, tmp_path)
    assert code == 0, out
    assert HIDE_CURSOR in out and "Finding slots" in out and "2/2" in out
    assert "often" in out and "nightly" in out

    piped = subprocess.run([CRONKIT, *WINDOW], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "Finding slots" not in piped.stdout + piped.stderr and "\x1b[" not in piped.stdout

    code, out = at_terminal((*WINDOW, "--json"), env, tmp_path)
    assert code == 0, out
    assert "Finding slots" not in out
    assert len(json.loads(out.replace("\r\n", "\n"))) == (2 * 288 + 1) + 2  # both ends included

    # One minute is no wait: no bar even at a terminal.
    code, out = at_terminal(("due", "--at", "2026-01-01T03:00"), env, tmp_path)
    assert code == 0, out
    assert "Finding slots" not in out and "nightly" in out


def test_the_cron_path_never_loads_the_progress_bar(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """`cronkit run` at a terminal (a person's manual run) still imports neither rich nor the progress module."""
    registry = write_registry(tmp_path / "app.py", '''
@registry.task("0 3 * * *", name="nightly", environments=("*",))
def nightly(ctx): return {"ok": True}
''')
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry)}
    assert subprocess.run([CRONKIT, "run", "nightly"], env=env, cwd=tmp_path, capture_output=True,
                          timeout=120).returncode == 0  # creates the run log
    for trigger in ("cron", "manual"):
        done = subprocess.run([sys.executable, "-X", "importtime", CRONKIT, "run", "nightly", "--trigger", trigger],
                              env={**env, "CRONKIT_NOW": "2026-11-30T03:00:05Z"}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
        assert "cronkit.cli.progress" not in imported and "rich" not in imported, trigger


@pytest.mark.slow
def test_demo_run_shows_a_bar_of_the_tasks_at_a_terminal(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    code, out = at_terminal(("demo", "run", "--users", "10", "--days", "1"), cronkit_env, tmp_path)
    assert code == 0, out
    assert "Running the built-in tasks" in out and "0/7" in out and "7/7" in out
    assert "hourly-metrics" in out and "secret-rotation" in out
    done = out.rsplit(HIDE_CURSOR, 1)[-1]
    assert "Running the built-in tasks" not in done.split("\x1b[?25h", 1)[-1]  # the bar is gone at the end


def test_rekey_and_migrate_show_their_progress_at_a_terminal_only(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "app.py", '''
@registry.task("0 3 * * *", name="export", environments=("*",))
def export(ctx): return {"customer": "Ada"}
''')
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry), "CRONKIT_SECRET_KEY": "first secret key 0123456789",
           "CRONKIT_ENCRYPT_PAYLOADS": "true"}
    for _ in range(3):
        assert subprocess.run([CRONKIT, "run", "export"], env=env, cwd=tmp_path, capture_output=True,
                              timeout=120).returncode == 0
    rotated = {**env, "CRONKIT_SECRET_KEY": "second secret key 9876543210",
               "CRONKIT_PREVIOUS_SECRET_KEY": "first secret key 0123456789"}
    code, out = at_terminal(("rekey", "--batch", "1"), rotated, tmp_path)
    assert code == 0, out
    assert HIDE_CURSOR in out and "Re-sealing" in out and "runs: 0 sealed, 3 resealed" in out
    piped = subprocess.run([CRONKIT, "rekey"], env=rotated, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "Re-sealing" not in piped.stdout + piped.stderr, piped.stderr

    code, out = at_terminal(("migrate",), rotated, tmp_path)
    assert code == 0, out
    assert "Migrating the run log" in out and "nothing to migrate" in out
    code, out = at_terminal(("migrate", "--json"), rotated, tmp_path)
    assert code == 0 and "Migrating" not in out, out
