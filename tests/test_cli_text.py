"""What the CLI prints, as a person reads it: a reader that leaves early, help texts as written and
reflowed, bad numbers in plain words, paths printed whole."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import CRONKIT, write_registry

# Enough tasks that `list`, `status` and `render` print far more than a pipe holds (64 KiB).
MANY_TASKS = """
def noop(ctx: TaskContext) -> dict:
    return {}


for number in range(1200):
    registry.add("0 * * * *", noop, name=f"task-number-{number:04d}", environments=["*"],
                 description="One task of many, here to fill the screen with rows")
"""

@pytest.fixture
def many(run_process, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {"CRONKIT_TASKS": str(write_registry(tmp_path / "many_tasks.py", MANY_TASKS)),
           "CRONKIT_CRON_D": str(tmp_path)}
    assert run_process("run", "task-number-0000", env=env).returncode == 0  # a run log for `status`
    return env


def _reader_leaves(cronkit_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], env: dict[str, str],
                   read_first: bool) -> tuple[int, bytes, str]:
    """Run `cronkit ARGS` into a pipe whose reader leaves (at once, or after one line), as `| head -1` does."""
    proc = subprocess.Popen([CRONKIT, *args], env={**cronkit_env, **env}, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline() if read_first else b""
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    return proc.wait(timeout=60), first, stderr


@pytest.mark.slow
def test_a_reader_that_leaves_early_gets_no_traceback(many, cronkit_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`cronkit status | head -1`: no traceback and nothing on stderr, on the lean paths and typer's.

    With the reader gone before the first write, every write fails: exit 1 (main.EXIT_READER_GONE).
    When the reader leaves halfway through one large write, Python may drop the rest unseen: only
    quiet is promised then."""
    commands = [("status",), ("list",), ("history",), ("render", "--target", "cron.d"),
                ("history", "--since", "7d"), ("--help",)]
    for args in commands:
        code, _, stderr = _reader_leaves(cronkit_env, tmp_path, args, many, read_first=False)
        assert (code, stderr) == (1, ""), args
    for args in commands[:4]:
        code, first, stderr = _reader_leaves(cronkit_env, tmp_path, args, many, read_first=True)
        assert first and stderr == "" and code in (0, 1), (args, code, stderr)


def test_a_reader_that_leaves_keeps_a_failure_code(cronkit_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A command that had failed already (no run log: 78) keeps its code when its reader has gone."""
    code, _, stderr = _reader_leaves(cronkit_env, tmp_path, ("status",), {}, read_first=False)
    assert code == 78 and stderr.startswith("cronkit: error: no run log at ")
