"""The runner's seams in-process: one attempt supervised from a plain AttemptSpec, and output capture.

Each attempt is a real forked child in its own process group, supervised by this test process;
no run policy, locks or CLI are involved.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cronkit import runlog
from cronkit.config.settings import load_settings
from cronkit.context import TaskContext
from cronkit.errors import EXIT_SIGTERM, EXIT_TIMEOUT
from cronkit.registry import Registry
from cronkit.runlog.status import RunStatus
from cronkit.runner.capture import Capture
from cronkit.runner.duties import Duties, Heartbeat
from cronkit.runner.spec import AttemptResult, AttemptSpec, TaskCall
from cronkit.runner.supervise import SignalWatch, Supervisor
from cronkit.safe.redact import Redactor
from tests.runhelpers import wait_gone


def greets(ctx: TaskContext) -> dict[str, Any]:
    print(f"hello from attempt {ctx.attempt}")
    return {"attempt": ctx.attempt, "who": ctx.params["who"]}


def outlives_its_timeout(ctx: TaskContext) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only the KILL after the grace period stops it
    helper = subprocess.Popen(["sleep", "60"])
    Path(ctx.params["pids"]).write_text(f"{os.getpid()} {helper.pid}")
    time.sleep(60)


def asks_the_runner_to_stop(ctx: TaskContext) -> dict[str, Any]:
    os.kill(os.getppid(), signal.SIGTERM)
    ctx.cancel_event.wait(30)
    return {"cancelled": ctx.cancelled}  # what the task says does not count: the runner decided


def exits_without_reporting(ctx: TaskContext) -> None:
    os._exit(3)


@pytest.fixture
def attempt(home: Path, tmp_path: Path) -> Any:
    """Run one attempt of a function of this module from an AttemptSpec; return (result, output)."""
    settings = load_settings(environ={"CRONKIT_HOME": str(home)})
    store = runlog.open(settings.db_url, create=True)
    run_id = store.start_run(task="t", trigger="manual", started_at=0, scheduled_for=None, user=None,
                             params={}, dry_run=False)

    def run(func: str, *, timeout: float = 30.0, **params: str) -> tuple[AttemptResult, str]:
        task = Registry().add("* * * * *", f"{__name__}:{func}", name="t", timeout=timeout)
        call = TaskCall(task, settings, {}, datetime.now(UTC), params, None, None, False, run_id)
        output = tmp_path / "output"
        output.touch()
        spec = AttemptSpec(call, 2, str(output), time.monotonic() + timeout, grace=0.2)
        with SignalWatch() as signals:
            duties = Duties(Heartbeat(store, run_id, time.monotonic()), None)
            result = Supervisor(signals, duties, lambda _text: None).attempt(spec)
        return result, output.read_text()

    yield run
    store.close()


def test_an_attempt_returns_what_the_task_returned_and_captures_its_output(attempt: Any) -> None:
    result, output = attempt("greets", who="me")
    assert result.status == RunStatus.SUCCEEDED, result.error
    assert result.result == {"attempt": 2, "who": "me"}
    assert output == "hello from attempt 2\n"


def test_a_task_past_its_deadline_is_killed_with_its_process_group(attempt: Any, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    result, _ = attempt("outlives_its_timeout", timeout=1.0, pids=str(pids))
    assert (result.status, result.exit_code) == (RunStatus.TIMED_OUT, EXIT_TIMEOUT)
    assert result.error == "timed out after 1s"
    task_pid, helper_pid = map(int, pids.read_text().split())
    assert wait_gone(task_pid) and wait_gone(helper_pid)


def test_a_signal_to_the_runner_decides_the_outcome(attempt: Any) -> None:
    result, _ = attempt("asks_the_runner_to_stop")
    assert (result.status, result.exit_code, result.error) == (RunStatus.INTERRUPTED, EXIT_SIGTERM,
                                                               "interrupted by SIGTERM")
    assert result.result is None


def test_a_child_that_dies_without_reporting_fails_with_its_exit_status(attempt: Any) -> None:
    result, _ = attempt("exits_without_reporting")
    assert result.status == RunStatus.FAILED
    assert result.error == "the task process exited with status 3 without reporting"


class Stars(Redactor):
    """Mask the one secret of the capture test."""

    def __call__(self, text: str) -> str:
        return text.replace("abcdef", "***")


def test_capture_keeps_early_notes_and_stores_a_redacted_tail(tmp_path: Path) -> None:
    capture = Capture("t", tmp_path / "home")
    capture.note("before the file")
    path = capture.open(1)
    try:
        with open(path, "a") as fh:
            fh.write("token=abcdef\n")
        tail = capture.collect(Stars(), tmp_path / "logs", "--- run 1 ---\n")
    finally:
        capture.discard()
    assert tail is not None
    first, second = tail.splitlines()
    assert first.startswith("cronkit: ") and first.endswith(" before the file")
    assert second == "token=***"
    assert (tmp_path / "logs" / "t.log").read_text() == "--- run 1 ---\n" + tail
    assert not os.path.exists(path)
