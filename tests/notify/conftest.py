"""Fixtures of the notification tests: receivers on loopback, a registry, a config file."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, write_registry
from tests.fixturetypes import Run, RunCli, WriteConfig
from tests.notify.receivers import HttpReceiver, SmtpReceiver

SECRET = "whsec-test-0123456789"
TOKEN = "tok-do-not-leak-98765"
DB_PASSWORD = "hunter2-pw-55555"

TASKS = '''
@registry.task("* * * * *", name="flip", environments=["*"], timeout="20s")
def flip(ctx):
    """Fail when --param fail=1; print secrets either way."""
    print("token is", os.environ.get("API_TOKEN"), "and db_password=" + os.environ.get("DB_PW", ""))
    print("connecting to postgresql://app:" + os.environ.get("DB_PW", "") + "@db/app")
    if ctx.params.get("fail") == "1":
        raise RuntimeError("boom with API_TOKEN " + os.environ.get("API_TOKEN", ""))
    time.sleep(float(ctx.params.get("sleep", "0")))
    return {"ok": 1}
'''


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(free_port())
    yield receiver
    receiver.stop()


@pytest.fixture
def notify_env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    registry = write_registry(tmp_path / "notify_registry.py", TASKS)
    cronkit_env.update({"CRONKIT_TASKS": str(registry), "CRONKIT_CONFIG": str(tmp_path / "cronkit.toml"),
                        "CRONKIT_WEBHOOK_SECRET": SECRET, "API_TOKEN": TOKEN, "DB_PW": DB_PASSWORD,
                        "DB_PASSWORD": DB_PASSWORD})
    return cronkit_env


@pytest.fixture
def config(tmp_path: Path, notify_env: dict[str, str]) -> WriteConfig:
    """Write cronkit.toml (the CRONKIT_CONFIG of the run_cli environment)."""

    def write(text: str) -> Path:
        path = tmp_path / "cronkit.toml"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def run(run_cli: RunCli, notify_env: dict[str, str]) -> Run:
    def go(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=notify_env, timeout=timeout)

    return go


def runs(home: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "cronkit.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]


def notifications(home: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "cronkit.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM notifications ORDER BY id")]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows
