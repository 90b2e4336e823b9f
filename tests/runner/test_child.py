"""The task's child never runs the runner's code: whatever the result does, it reports and ends.

A result whose `__str__` raises (an error, SystemExit, MemoryError, a bare BaseException), a
result that refers to itself, a host out of file descriptors: each is a failed run recorded once,
with its dead letter, and one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CRONKIT, write_registry
from tests.fixturetypes import RunCli
from tests.runhelpers import attempts, letters, runs

TASKS = '''
import math



class Unshowable:
    def __init__(self, exc):
        self.exc = exc

    def __str__(self):
        raise self.exc


class Shout(BaseException):
    pass


RAISES = {"error": RuntimeError("no str for you"), "exit": SystemExit(3), "memory": MemoryError(),
          "base": Shout("loud")}


@registry.task("* * * * *", name="unshowable", environments=["*"])
def unshowable(ctx):
    return {"value": Unshowable(RAISES[ctx.params["how"]])}


@registry.task("* * * * *", name="selfish", environments=["*"])
def selfish(ctx):
    result = {}
    result["me"] = result
    return result


@registry.task("* * * * *", name="nonfinite", environments=["*"])
def nonfinite(ctx):
    return {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "list": [math.nan, 1.5]}


@registry.task("* * * * *", name="forker", environments=["*"])
def forker(ctx):
    """Fork; the forked process returns from the task too, as a careless fork would."""
    pid = os.fork()
    if pid == 0:
        return {"from": "the forked process"}
    os.waitpid(pid, 0)
    return {"from": "the attempt"}


@registry.task("* * * * *", name="fine", environments=["*"])
def fine(ctx):
    return {"ok": 1}
'''


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**cronkit_env, "CRONKIT_TASKS": str(write_registry(tmp_path / "child_tasks.py", TASKS))}


def _strict(text: str) -> Any:
    """Parse JSON as RFC 8259 has it: a bare NaN or Infinity is an error."""
    def refuse(name: str) -> object:
        raise ValueError(f"bare {name} in JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("how", ["error", "exit", "memory", "base"])
def test_a_result_that_raises_when_shown_fails_the_run_once_with_a_dead_letter(env: dict[str, str], home: Path, run_process: RunCli,
                                                                              how: str) -> None:
    done = run_process("run", "unshowable", "--param", f"how={how}", env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("unshowable failed: the task's result could not be reported: ")
    (run,) = runs(home / "cronkit.db")
    assert run["status"] == "failed" and run["error"].startswith("the task's result could not be reported")
    assert [a["status"] for a in attempts(home / "cronkit.db", run["id"])] == ["failed"]
    (letter,) = letters(home / "cronkit.db")
    assert letter["run_id"] == run["id"]
    # nothing of the runner's own code ran (and failed) in the child: its output is empty
    assert not (run["output"] or "").strip(), run["output"]


def test_a_result_that_refers_to_itself_fails_with_a_dead_letter(env: dict[str, str], home: Path, run_process: RunCli) -> None:
    done = run_process("run", "selfish", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (run,) = runs(home / "cronkit.db")
    assert run["status"] == "failed" and "could not be reported" in run["error"]
    assert len(letters(home / "cronkit.db")) == 1


def test_a_process_the_task_forks_never_reports_nor_records(env: dict[str, str], home: Path, run_process: RunCli) -> None:
    done = run_process("run", "forker", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert _strict(done.stdout)["result"] == {"from": "the attempt"}
    (run,) = runs(home / "cronkit.db")
    assert run["status"] == "succeeded" and len(attempts(home / "cronkit.db", run["id"])) == 1


def test_three_failed_runs_leave_three_dead_letters(env: dict[str, str], home: Path, run_process: RunCli) -> None:
    for how in ("error", "exit", "memory"):
        assert run_process("run", "unshowable", "--param", f"how={how}", env=env).returncode == 1
    assert [r["status"] for r in runs(home / "cronkit.db")] == ["failed"] * 3
    assert [letter["run_id"] for letter in letters(home / "cronkit.db")] == [1, 2, 3]


def test_too_few_file_descriptors_is_one_line_and_a_failed_run_with_its_dead_letter(env: dict[str, str], home: Path,
                                                                                     tmp_path: Path) -> None:
    assert subprocess.run([CRONKIT, "run", "fine"], env=env, capture_output=True, timeout=60).returncode == 0
    said = {}
    for limit in range(5, 15):  # from "cannot open the run log" to "cannot start the task process"
        def low(limit: int = limit) -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        done = subprocess.run([CRONKIT, "run", "fine"], env=env, capture_output=True, text=True, timeout=60,
                              preexec_fn=low, cwd=tmp_path)
        assert "Traceback" not in done.stderr, (limit, done.stderr)
        assert len(done.stderr.strip().splitlines()) <= 1, (limit, done.stderr)
        said[limit] = (done.returncode, done.stderr.strip())
    recorded = runs(home / "cronkit.db")[1:]
    assert len(recorded) >= 3, said
    failed = [r for r in recorded if r["status"] == "failed"]
    assert {r["id"] for r in failed} == {letter["run_id"] for letter in letters(home / "cronkit.db")}
    assert any("cannot start the task process: Too many open files" in (r["error"] or "") for r in failed), said
    assert all(r["status"] in ("failed", "succeeded") for r in recorded), recorded
    for code, line in said.values():
        assert code == 0 or line, said


def test_json_is_valid_for_a_result_with_nan_and_infinity(env: dict[str, str], home: Path, run_process: RunCli) -> None:
    done = run_process("run", "nonfinite", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = _strict(done.stdout)["result"]
    assert result == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "list": ["NaN", 1.5]}
    # a row an older cronkit stored with bare NaN: every --json reader still prints valid JSON
    with sqlite3.connect(home / "cronkit.db") as conn:
        conn.execute("UPDATE runs SET result = '{\"x\": NaN, \"y\": -Infinity}'")
    for args in (["show", "1", "--json"], ["history", "--json"], ["status", "--json"], ["list", "--json"]):
        shown = run_process(*args, env=env)
        assert shown.returncode == 0, (args, shown.stderr)
        _strict(shown.stdout)
    record = _strict(run_process("show", "1", "--json", env=env).stdout)
    assert record["result"] == {"x": "NaN", "y": "-Infinity"}
