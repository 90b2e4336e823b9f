"""Command tasks (`registry.command`, SPEC 17) run by the installed `cronkit run`: exit codes, retries,
output and redaction, env and cwd, and the same timeout, signal and kill -9 handling as a function."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cronkit import Registry
from cronkit.errors import RegistryError
from tests.conftest import CRONKIT, write_registry
from tests.runhelpers import gone, runs, wait_for, wait_gone

BODY = r'''
registry.command("0 * * * *", "echo out $GREETING; echo err >&2; pwd; exit ${CODE:-0}", name="hello",
                 env={"GREETING": "world", "API_TOKEN": "tok-0123456789"}, cwd="/tmp", environments="*",
                 success_codes=(0, 3))
registry.command("0 * * * *", "echo token=$API_TOKEN attempt=$CRONKIT_ATTEMPT; exit 7", name="flaky",
                 env={"API_TOKEN": "tok-0123456789"}, retries=2, backoff=0.05, retry_codes=[7], environments="*")
registry.command("0 * * * *", "sleep 60 & echo $! > {pids}/bg; echo $$ > {pids}/sh; sleep 60", name="slow",
                 timeout="{timeout}", environments="*")
registry.command("0 * * * *", 'echo "$CRONKIT_PARAM_REGION $CRONKIT_DATE $CRONKIT_TASK"', name="params",
                 params={"region": "str"}, dates="past", environments="*")
registry.command("0 * * * *", "while :; do :; done", name="spin", limits={"cpu": "1s"}, environments="*")
registry.command("0 * * * *", "head -c 65536 /dev/zero > {pids}/big && echo never", name="big",
                 limits={"fsize": "4K"}, environments="*")
registry.command("0 * * * *", "grep SigIgn /proc/$$/status; exec 3>&-; true", name="signals",
                 environments="*", shell="/bin/bash")
'''


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    pids = tmp_path / "pids"
    pids.mkdir()
    registry = write_registry(tmp_path / "commands.py", BODY.replace("{pids}", str(pids)).replace("{timeout}", "60s"))
    return {**cronkit_env, "CRONKIT_TASKS": str(registry), "CRONKIT_STOP_GRACE": "1"}


def cronkit(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRONKIT, *args], env={**env, **extra}, capture_output=True, text=True, timeout=60)


def show(env: dict[str, str], run_id: int) -> dict[str, Any]:
    done = cronkit(env, "show", str(run_id), "--json")
    assert done.returncode == 0, done.stderr
    shown: dict[str, Any] = json.loads(done.stdout)
    return shown


def test_exit_codes_output_env_and_cwd_are_recorded(env: dict[str, str], home: Path) -> None:
    ok = cronkit(env, "run", "hello")
    assert ok.returncode == 0, ok.stderr
    also_ok = cronkit(env, "run", "hello", CODE="3")  # a success code of its own
    failed = cronkit(env, "run", "hello", CODE="4")
    assert (also_ok.returncode, failed.returncode) == (0, 1)
    assert failed.stderr.startswith("hello failed: the command exited with status 4 (run 3;")
    records = runs(home / "cronkit.db")
    assert [(r["status"], json.loads(r["result"])) for r in records] == [
        ("succeeded", {"exit_code": 0}), ("succeeded", {"exit_code": 3}), ("failed", {"exit_code": 4})]
    shown = show(env, 1)
    assert shown["output"] == "out world\nerr\n/tmp\n"
    assert show(env, 3)["error"] == "the command exited with status 4"


def test_a_retry_code_is_retried_and_the_env_secret_is_redacted(env: dict[str, str], home: Path) -> None:
    done = cronkit(env, "run", "flaky")
    assert done.returncode == 1
    [record] = runs(home / "cronkit.db")
    assert record["attempts"] == 3 and record["status"] == "failed"
    shown = show(env, record["id"])
    assert shown["error"] == "the command exited with status 7 (a retry code)"
    assert "tok-0123456789" not in json.dumps(shown)
    assert [line.split()[-1] for line in shown["output"].splitlines() if line.startswith("token=")] == [
        "attempt=1", "attempt=2", "attempt=3"]
    assert all(line.startswith("token=*** ") for line in shown["output"].splitlines() if "token" in line)


def test_declared_params_and_the_date_reach_the_command(env: dict[str, str]) -> None:
    done = cronkit(env, "run", "params", "--param", "region=eu", "--date", "2026-01-31", "--json")
    assert done.returncode == 0, done.stderr
    assert show(env, json.loads(done.stdout)["run_id"])["output"] == "eu 2026-01-31 params\n"
    refused = cronkit(env, "run", "hello", "--param", "region=eu")
    assert refused.returncode == 2


def test_the_task_limits_bound_the_command_and_are_named(env: dict[str, str]) -> None:
    spun = cronkit(env, "run", "spin", "--json")
    assert spun.returncode == 1
    assert show(env, json.loads(spun.stdout)["run_id"])["error"] == "cpu limit 1s exceeded"
    big = cronkit(env, "run", "big", "--json")  # head dies of SIGXFSZ: the shell exits 128 + 25
    assert big.returncode == 1
    error = show(env, json.loads(big.stdout)["run_id"])["error"]
    assert error == "fsize limit 4K exceeded (the command exited with status 153)", error


def test_the_shell_starts_with_default_signal_handling(env: dict[str, str]) -> None:
    """exec keeps an ignored signal ignored: the runner's ignored SIGINT and Python's SIGPIPE must not leak."""
    done = cronkit(env, "run", "signals", "--json")
    assert done.returncode == 0, done.stderr
    output = show(env, json.loads(done.stdout)["run_id"])["output"]
    ignored = int(output.split()[1], 16)
    assert ignored & (1 << (signal.SIGINT - 1)) == 0 and ignored & (1 << (signal.SIGPIPE - 1)) == 0, output


def _slow_env(env: dict[str, str], tmp_path: Path, timeout: str) -> dict[str, str]:
    registry = write_registry(tmp_path / "slow.py", BODY.replace("{pids}", str(tmp_path / "pids"))
                              .replace("{timeout}", timeout))
    return {**env, "CRONKIT_TASKS": str(registry)}


def test_a_timeout_kills_the_command_and_what_it_started(env: dict[str, str], tmp_path: Path, home: Path) -> None:
    done = cronkit(_slow_env(env, tmp_path, "2s"), "run", "slow")
    assert done.returncode == 124, done.stderr
    background = int((tmp_path / "pids" / "bg").read_text())
    assert wait_gone(background), "the command's background process outlived the timeout"
    assert runs(home / "cronkit.db")[0]["status"] == "timed_out"


@pytest.mark.parametrize("sig, code, status", [(signal.SIGTERM, 143, "interrupted"), (signal.SIGKILL, None, None)])
def test_a_signal_to_the_runner_stops_the_command_group(env: dict[str, str], tmp_path: Path, home: Path,
                                                        sig: int, code: int | None, status: str | None) -> None:
    proc = subprocess.Popen([CRONKIT, "run", "slow"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for(tmp_path / "pids" / "sh", proc=proc)
    shell, background = (int((tmp_path / "pids" / name).read_text()) for name in ("sh", "bg"))
    os.kill(proc.pid, sig)
    proc.communicate(timeout=30)
    assert wait_gone(shell) and wait_gone(background), "the command outlived its runner"
    if code is not None:
        assert proc.returncode == code
        assert runs(home / "cronkit.db")[0]["status"] == status
    else:
        assert proc.returncode == -signal.SIGKILL and gone(shell)


def test_command_registration_is_checked() -> None:
    registry = Registry()
    task = registry.command("@daily", "pg_dump db > /backups/db.sql", name="dump", retry_codes=(75,))
    assert task.command is not None and task.command.shell == "/bin/sh" and task.command.retry_codes == (75,)
    assert task.description == "pg_dump db > /backups/db.sql" and task.params == {}
    assert task.command.outcome(0) == "succeeded" and task.command.outcome(75) == "retry"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"shell": "bash"}, "task x: shell must be an absolute path, such as /bin/sh"),
        ({"cwd": "tmp"}, "task x: cwd must be an absolute path"),
        ({"env": {"A-B": "1"}}, "task x: env: 'A-B' is not a variable name"),
        ({"success_codes": ()}, "task x: success_codes must name at least one exit code"),
        ({"retry_codes": (0,)}, "task x: exit code 0 is in both success_codes and retry_codes"),
        ({"retry_codes": (256,)}, "task x: retry_codes: 256 is not an exit code (0-255)"),
    ]
    for kwargs, message in cases:
        with pytest.raises(RegistryError) as caught:
            registry.command("@daily", "true", name="x", **kwargs)
        assert str(caught.value) == message
    with pytest.raises(RegistryError, match="already registered"):
        registry.command("@daily", "true", name="dump")
