"""A run's raw output: where it waits, what a killed runner leaves, how much memory and time it costs (issue 12)."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

from tests.faults._run_tasks import cli, make_env, start, wait_path
from tests.runhelpers import runs, wait_gone

TOKEN = "tok_9f8e7d6c5b4a3f2e"


def test_kill_9_of_the_runner_leaves_no_raw_output_behind(cronkit_env: dict[str, str], tmp_path: Path,
                                                         home: Path) -> None:
    """Scenario: the runner is killed with SIGKILL while its task has printed a token.
    Promise: nothing is left under $TMPDIR; the raw capture waits under CRONKIT_HOME (0600 in a 0700
    directory), and marking the run lost keeps its redacted tail and deletes the raw file."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = make_env(cronkit_env, tmp_path, TMPDIR=str(tmpdir))
    ready = tmp_path / "ready"
    proc = start(env, "run", "spew", "--param", "mb=1", "--param", f"ready={ready}")
    wait_path(ready, proc=proc)
    [raw] = (home / "capture").iterdir()
    assert stat.S_IMODE(raw.stat().st_mode) == 0o600
    assert stat.S_IMODE(raw.parent.stat().st_mode) == 0o700
    task_pid = int(ready.read_text())
    proc.kill()
    proc.wait(10)
    assert wait_gone(task_pid)
    assert list(tmpdir.iterdir()) == []

    history = json.loads(cli(env, "history", "--json").stdout)
    assert [r["status"] for r in history] == ["lost"]
    assert not raw.exists()
    [run] = runs(home / "cronkit.db")
    assert "token=*** last" in run["output"]
    assert TOKEN not in run["output"]
    assert len(run["output"].encode()) <= 64 * 1024


def _peak_rss_kb(proc_pid: int, proc: object) -> int:
    peak = 0
    while getattr(proc, "poll")() is None:
        try:
            with open(f"/proc/{proc_pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.02)
    return peak


def test_the_runner_memory_does_not_grow_with_the_output(cronkit_env: dict[str, str], tmp_path: Path,
                                                         home: Path) -> None:
    """Scenario: a task writes 100 MB of output.
    Promise: the runner's peak RSS stays far below the output's size (only the tail is kept), the log
    gets the whole output redacted, and the run log its redacted tail."""
    env = make_env(cronkit_env, tmp_path, CRONKIT_LOG_DIR=str(tmp_path / "logs"))
    proc = start(env, "run", "spew", "--param", "mb=100", "--param", "for=0")
    peak_kb = _peak_rss_kb(proc.pid, proc)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert peak_kb < 100 * 1024, f"runner peak RSS {peak_kb // 1024} MB for 100 MB of output"
    print(f"runner peak RSS {peak_kb / 1024:.1f} MB for 100 MB of output")
    [run] = runs(home / "cronkit.db")
    assert run["output"].endswith("token=*** last\n") and TOKEN not in run["output"]
    log = tmp_path / "logs" / "cronkit" / "spew.log"
    size = log.stat().st_size
    assert size > 99_000_000
    with open(log, "rb") as fh:
        head = fh.read(200)
        fh.seek(size - 200)
        tail = fh.read()
    assert b"token=*** first" in head and b"token=*** last" in tail and TOKEN.encode() not in head + tail


def test_sigterm_during_the_copy_of_a_huge_output_is_heard(cronkit_env: dict[str, str], tmp_path: Path,
                                                           home: Path) -> None:
    """Scenario: SIGTERM reaches the runner while it redacts 300 MB of output into the task's log.
    Promise: the runner stops copying at once, says so in the log, records the run, and never writes raw output."""
    env = make_env(cronkit_env, tmp_path, CRONKIT_LOG_DIR=str(tmp_path / "logs"))
    proc = start(env, "run", "spew", "--param", "mb=300", "--param", "for=0")
    log = tmp_path / "logs" / "cronkit" / "spew.log"
    wait_path(log, timeout=300, proc=proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err  # the task had finished: its outcome stands
    with open(log, "rb") as fh:
        fh.seek(max(0, log.stat().st_size - 300))
        end = fh.read()
    assert b"not copied to this log (a signal came)" in end
    assert log.stat().st_size < 300_000_000
    [run] = runs(home / "cronkit.db")
    assert run["status"] == "succeeded" and run["output"].endswith("token=*** last\n")
    assert list((home / "capture").iterdir()) == []
    assert os.path.exists(home / "cronkit.db")
