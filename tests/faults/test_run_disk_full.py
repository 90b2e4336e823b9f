"""A full disk costs output, never the outcome: real tmpfs mounts that fill up during a run.

The log directory full: the copy stops with a note saying how much it dropped, the run keeps its
real outcome. CRONKIT_HOME full at the final COMMIT: the run gives back its raw output and
records; when even that is not enough, the outcome goes to a journal beside the task logs; when
no journal has room either, one line and a non-zero exit.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CRONKIT, need, write_registry
from tests.runhelpers import letters, runs

TASKS = '''
def _fill(path):
    """Write zeros to `path` until the disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            os.write(fd, b"\\0" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)


@registry.task("* * * * *", name="chatty", environments=["*"])
def chatty(ctx):
    """Print `lines` lines (a disk full under stdout is not the task's failure: it goes on)."""
    line = ("output line of a chatty task " * 4 + "\\n").encode()
    for _ in range(int(ctx.params.get("lines", "1"))):
        if ctx.params.get("print"):
            print(line.decode(), end="")  # no error to catch: a full disk costs output, not the outcome
            continue
        try:
            os.write(1, line)
        except OSError:
            pass
    if ctx.params.get("fill"):
        _fill(ctx.params["fill"])
    return {"printed": int(ctx.params.get("lines", "1"))}
'''


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Mount small tmpfs file systems (as root) under tmp_path; unmount them at the end."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            need("a tmpfs mount", f"run the tests as root (mount said: {done.stderr.strip()})")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**cronkit_env, "CRONKIT_TASKS": str(write_registry(tmp_path / "disk_tasks.py", TASKS)),
            "CRONKIT_FINISH_RETRY": "1"}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRONKIT, "run", "chatty", *args], env=env, capture_output=True, text=True, timeout=120)


def _fill(path: Path) -> None:
    """Write zeros to `path` until its disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_full_log_directory_stops_the_copy_with_a_note_and_keeps_the_outcome(env: dict[str, str], home: Path, tmpfs: Callable[[str, str], Path]) -> None:
    logs = tmpfs("logs", "256k")
    done = _run({**env, "CRONKIT_LOG_DIR": str(logs)}, "--param", "lines=40000", "--trigger", "manual")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (run,) = runs(home / "cronkit.db")
    assert run["status"] == "succeeded" and run["exit_code"] == 0
    note = run["output"].splitlines()[-1]
    assert note.startswith("cronkit: ") and "bytes of output not copied to" in note and "No space left" in note
    dropped = int(note.split()[1])
    assert 0 < dropped <= 40000 * 117
    assert os.listdir(home / "capture") == []


def test_a_log_directory_full_before_the_run_still_records_its_short_output(env: dict[str, str], home: Path, tmpfs: Callable[[str, str], Path]) -> None:
    logs = tmpfs("logs", "64k")
    (logs / "cronkit").mkdir()
    _fill(logs / "filler")
    done = _run({**env, "CRONKIT_LOG_DIR": str(logs)}, "--param", "lines=3", "--trigger", "cron")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    (run,) = runs(home / "cronkit.db")
    assert run["status"] == "succeeded"
    assert run["output"].count("output line") == 12 and "bytes of output not copied to" in run["output"]


def test_a_home_filled_by_the_run_output_is_given_back_and_the_run_recorded(env: dict[str, str], home: Path, tmp_path: Path,
                                                                            tmpfs: Callable[[str, str], Path]) -> None:
    small = tmpfs("smallhome", "4m")
    env = {**env, "CRONKIT_HOME": str(small), "CRONKIT_LOG_DIR": str(tmp_path / "logs")}
    done = _run(env, "--param", "lines=100000", "--json")
    assert done.returncode == 0, done.stderr
    (run,) = runs(small / "cronkit.db")
    assert run["status"] == "succeeded" and "output line of a chatty task" in run["output"]
    assert not os.listdir(small / "capture")


def test_a_task_printing_to_a_full_home_does_not_fail(env: dict[str, str], home: Path, tmp_path: Path, tmpfs: Callable[[str, str], Path]) -> None:
    small = tmpfs("smallhome", "4m")
    env = {**env, "CRONKIT_HOME": str(small), "CRONKIT_LOG_DIR": str(tmp_path / "logs")}
    done = _run(env, "--param", "lines=100000", "--param", "print=1", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = runs(small / "cronkit.db")
    assert run["status"] == "succeeded"
    note = run["output"].splitlines()[-1]
    assert "bytes of the task's output were dropped (attempt 1)" in note, note
    assert int(note.split("cronkit: ", 1)[1].split()[1]) > 0


def test_a_home_full_at_the_commit_journals_the_outcome_beside_the_logs(env: dict[str, str], home: Path, tmp_path: Path,
                                                                        tmpfs: Callable[[str, str], Path]) -> None:
    small = tmpfs("smallhome", "2m")
    env = {**env, "CRONKIT_HOME": str(small), "CRONKIT_LOG_DIR": str(tmp_path / "logs")}
    assert _run(env).returncode == 0  # the run log exists, with room for this run's start
    done = _run(env, "--param", "lines=5", "--param", f"fill={small / 'filler'}", "--trigger", "cron")
    assert done.returncode == 0, done.stderr  # the outcome is kept: cron's success stays quiet
    journal = tmp_path / "logs" / "cronkit" / "journal"
    assert len(os.listdir(journal)) == 1
    (small / "filler").unlink()
    history = subprocess.run([CRONKIT, "history", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert history.returncode == 0, history.stderr
    assert [r["status"] for r in runs(small / "cronkit.db")] == ["succeeded", "succeeded"]
    assert os.listdir(journal) == []


def test_no_room_anywhere_is_one_line_and_a_non_zero_exit(env: dict[str, str], tmp_path: Path, tmpfs: Callable[[str, str], Path]) -> None:
    small, logs = tmpfs("smallhome", "2m"), tmpfs("logs", "64k")
    env = {**env, "CRONKIT_HOME": str(small), "CRONKIT_LOG_DIR": str(logs)}
    assert _run(env).returncode == 0
    _fill(logs / "filler")
    done = _run(env, "--param", "lines=5", "--param", f"fill={small / 'filler'}", "--trigger", "cron")
    assert done.returncode == 69, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "the outcome could not be recorded" in done.stderr and "no journal had room" in done.stderr
    assert letters(small / "cronkit.db") == []
