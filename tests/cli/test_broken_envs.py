"""Issue 13: no traceback without --debug, anywhere.

Every read and write command runs against a matrix of broken environments; each answers with
SPEC section 4's exit codes, an error is one line `cronkit: error: ...` on stderr, no traceback,
and a password in a URL is never printed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CRONKIT
from tests.fixturetypes import RunCli

PASSWORD = "hunter2pw"
COMMANDS = [
    ("list",), ("history",), ("show", "1"), ("status",), ("health",), ("stats",), ("dlq", "list"),
    ("render",), ("install", "--dry-run"), ("run", "hourly-metrics"),
]
ALLOWED = {0, 1, 2, 69, 75, 78}
# Commands whose exit 1 is an answer, not an error: health (unhealthy, reasons on stdout).
ANSWERS_WITH_1 = {"health"}
BROKEN = ["unwritable-home", "unreadable-home", "missing-driver", "unreachable-postgres",
          "unreachable-redis", "corrupt-runlog", "missing-config", "bad-config-value"]


def broken_env(kind: str, tmp_path: Path, home: Path) -> tuple[dict[str, str], list[str]]:
    """Return (environment variables, global options) that break the environment one way."""
    root = os.geteuid() == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    if kind == "unwritable-home":
        if root:  # root writes anywhere: a home beneath a regular file cannot be made
            return {"CRONKIT_HOME": str(blocker / "home")}, []
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        return {"CRONKIT_HOME": str(locked / "home")}, []
    if kind == "unreadable-home":
        if root:  # root reads anything: a home that is a file
            return {"CRONKIT_HOME": str(blocker)}, []
        home.chmod(0)
        return {}, []
    if kind == "missing-driver":
        return {"CRONKIT_DB_URL": f"mysql://u:{PASSWORD}@db.invalid/db"}, []
    if kind == "unreachable-postgres":
        return {"CRONKIT_DB_URL": f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/x"}, []
    if kind == "unreachable-redis":
        return {"CRONKIT_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:1/0"}, []
    if kind == "corrupt-runlog":
        (home / "runs.db").write_bytes(b"\x8f garbage, not SQLite \x00" * 512)
        return {"CRONKIT_DB_URL": f"sqlite:///{home / 'runs.db'}"}, []
    if kind == "missing-config":
        return {}, ["--config", str(tmp_path / "no-such-cronkit.toml")]
    if kind == "bad-config-value":
        config = tmp_path / "cronkit.toml"
        config.write_text('timezone = "Mars/Olympus_Mons"\nrunlog_retention_days = "many"\n')
        return {}, ["--config", str(config)]
    raise AssertionError(kind)


@pytest.mark.slow
@pytest.mark.parametrize("kind", BROKEN)
def test_every_command_fails_in_one_line(kind: str, run_cli: RunCli, tmp_path: Path, home: Path) -> None:
    """In process where that is faithful (an exception escaping main() fails the test as a traceback
    would), as a real process for `run`."""
    variables, options = broken_env(kind, tmp_path, home)
    env = {**variables, "CRONKIT_ENV": "production"}
    failures = []
    try:
        for command in COMMANDS:
            proc = run_cli(*options, *command, env=env)
            said = proc.stdout + proc.stderr
            lines = proc.stderr.strip().splitlines()
            problem = None
            if "Traceback" in said:
                problem = "traceback"
            elif PASSWORD in said:
                problem = "password printed"
            elif proc.returncode not in ALLOWED:
                problem = f"exit {proc.returncode}"
            elif proc.returncode != 0 and not (proc.returncode == 1 and command[0] in ANSWERS_WITH_1):
                errors = [line for line in lines if line.startswith("cronkit: error:")]
                if len(errors) != 1 or (proc.returncode != 1 and len(lines) != 1):
                    problem = "not one error line"
            if problem:
                failures.append(f"{' '.join(command)}: {problem}: exit {proc.returncode}: {proc.stderr[-600:]!r}")
    finally:
        home.chmod(0o700)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("kind", "code"), [("missing-driver", 78), ("corrupt-runlog", 69), ("missing-config", 78),
                                           ("bad-config-value", 78)])
def test_a_broken_environment_is_an_error_not_an_answer(kind: str, code: int, cronkit_env: dict[str, str],
                                                        tmp_path: Path, home: Path) -> None:
    """A read command cannot answer from a log it cannot read: it says so, with SPEC's codes."""
    variables, options = broken_env(kind, tmp_path, home)
    env = {**cronkit_env, **variables}
    proc = subprocess.run([CRONKIT, *options, "history"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == code, proc.stderr  # 78 a setting to fix, 69 a service (the log) unusable
    assert proc.stderr.startswith("cronkit: error:") and proc.stderr.count("\n") == 1
