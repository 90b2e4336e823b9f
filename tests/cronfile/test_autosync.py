"""auto_sync (issue 28): the block's `cronkit check` re-installs the block when the registry changes.

Real processes: `cronkit install` into a cron.d directory of the test, then the block's own
`check` command line (its `--config`, cron's bare environment); a real webhook receiver for the
`drift` event. The real cron daemon doing it: tests/e2e/realcron/autosync.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CRONKIT, write_registry
from tests.notify.receivers import HttpReceiver

BLOCK = "synctest"
FIRST = '''
@registry.task("0 3 * * *", name="nightly", environments=["*"], catchup="skip")
def nightly(ctx: TaskContext) -> dict:
    return {}
'''
SECOND = '''
@registry.task("15 3 * * *", name="nightly", environments=["*"], catchup="skip")
def nightly(ctx: TaskContext) -> dict:
    return {}

@registry.task("0 4 * * *", name="added", environments=["*"], catchup="skip")
def added(ctx: TaskContext) -> dict:
    return {}
'''


class Block:
    """A registry installed into a cron.d directory of the test, and its check command line."""

    def __init__(self, tmp_path: Path, cronkit_env: dict[str, str], auto_sync: bool, config: str = "") -> None:
        self.tmp = tmp_path
        self.cron_d = tmp_path / "cron.d"
        self.cron_d.mkdir()
        self.registry = write_registry(tmp_path / "synctasks.py", FIRST)
        self.env = {**cronkit_env, "CRONKIT_TASKS": str(self.registry), "CRONKIT_CRON_D": str(self.cron_d),
                    "CRONKIT_AUTO_SYNC": "true" if auto_sync else "false"}
        if config:
            (tmp_path / "cronkit.toml").write_text(config)
            self.env["CRONKIT_CONFIG"] = str(tmp_path / "cronkit.toml")
        done = self.cli("install", "--target", "cron.d", "--id", BLOCK, "--user", "root")
        assert done.returncode == 0, done.stderr
        self.home = Path(cronkit_env["CRONKIT_HOME"])
        self.run_config = self.home / "cron" / f"{BLOCK}.toml"

    @property
    def file(self) -> Path:
        return self.cron_d / BLOCK

    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CRONKIT, *args], env={**self.env, **extra}, cwd=self.tmp, capture_output=True,
                              text=True, timeout=120)

    def check(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the block's `check` line as cron does: its --config, a bare environment, in $HOME."""
        bare = {"PATH": "/usr/bin:/bin", "HOME": str(self.tmp), "SHELL": "/bin/sh", "LOGNAME": "root"}
        return subprocess.run([CRONKIT, "--config", str(self.run_config), "check", *args], env=bare, cwd=self.tmp,
                              capture_output=True, text=True, timeout=120)

    def audit(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home / "cronkit.db") as conn:
            return list(conn.execute("SELECT action, result, detail, params FROM audit ORDER BY id"))


def task_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#") and " run " in line]


def test_check_reinstalls_a_changed_registry_with_backup_audit_and_drift_event(
        tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    hook = HttpReceiver()
    try:
        config = (f'[notify.ops]\nkind = "webhook"\nurl = "{hook.url("/drift")}"\non = ["failure", "drift"]\n')
        block = Block(tmp_path, cronkit_env, auto_sync=True, config=config)
        before = block.file.read_text()
        assert "auto_sync = true" in block.run_config.read_text()
        quiet = block.check()
        assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
        assert block.file.read_text() == before

        write_registry(block.registry, SECOND)
        synced = block.check()
        assert synced.returncode == 0, synced.stderr
        after = block.file.read_text()
        assert [line.split(" /", 1)[0] for line in task_lines(after)] == ["15 3 * * * root", "0 4 * * * root"]
        assert after == block.cli("render", "--target", "cron.d", "--id", BLOCK, "--user", "root").stdout
        backups = sorted((block.home / "backups").glob("cron.d-*.crontab"))
        assert backups and backups[-1].read_text() == before
        assert synced.stdout == (f"block {BLOCK} in {block.file} re-installed by auto_sync: changed nightly,"
                                 f" added added (previous crontab saved in {backups[-1]})\n")
        assert (block.home / "cron" / f"{BLOCK}.toml").stat().st_mode & 0o777 == 0o600
        state = json.loads((block.home / "install-state.json").read_text())
        assert state["run_config_written"] is True and state["user"] == "root" and state["path"] == str(block.file)

        [(action, result, detail, params)] = block.audit()
        assert (action, result) == ("auto_sync", "installed")
        assert detail == f"block {BLOCK} in {block.file} re-installed by auto_sync: changed nightly, added added"
        assert json.loads(params)["changes"] == [{"task": "nightly", "kind": "changed"},
                                                 {"task": "added", "kind": "added"}]
        [sent] = [json.loads(r.body) for r in hook.requests if r.path == "/drift"]
        assert (sent["event"], sent["task"], sent["status"], sent["error"]) == ("drift", BLOCK, "synced", detail)

        again = block.check("--json")
        assert json.loads(again.stdout)["duties"]["sync"] == {"state": "in sync", "auto_sync": True}
        assert len(block.audit()) == 1 and len(hook.requests) == 1
    finally:
        hook.stop()


def test_with_auto_sync_off_check_only_reports_drift(tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    block = Block(tmp_path, cronkit_env, auto_sync=False)
    before = block.file.read_text()
    assert "auto_sync = false" in block.run_config.read_text()
    write_registry(block.registry, SECOND)
    checked = block.check("--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["duties"]["sync"] == {"state": "drift", "auto_sync": False}
    assert block.file.read_text() == before and block.audit() == []


def test_a_registry_that_does_not_import_is_never_synced(tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    block = Block(tmp_path, cronkit_env, auto_sync=True)
    before = block.file.read_text()
    block.registry.write_text("import a_module_that_is_not_there\n" + block.registry.read_text() + SECOND)
    broken = block.check()
    assert broken.returncode != 0 and "a_module_that_is_not_there" in broken.stderr
    assert "Traceback" not in broken.stderr
    assert block.file.read_text() == before


def test_sync_keeps_the_recorded_place_user_and_home(tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    """The check runs elsewhere than the install did (another cron.d setting, another user): the
    block is rewritten in the file the install wrote, for the user it recorded, with its home."""
    block = Block(tmp_path, cronkit_env, auto_sync=True)
    write_registry(block.registry, SECOND)
    elsewhere = tmp_path / "other-cron.d"
    elsewhere.mkdir()
    run = subprocess.run([CRONKIT, "--config", str(block.run_config), "check"], cwd=tmp_path, text=True,
                         capture_output=True, timeout=120,
                         env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CRONKIT_CRON_D": str(elsewhere),
                              "USER": "someone-else"})
    assert run.returncode == 0, run.stderr
    assert list(elsewhere.iterdir()) == []
    lines = task_lines(block.file.read_text())
    assert len(lines) == 2 and all(" root " in line and f"--config {block.run_config} run " in line
                                   for line in lines)


@pytest.mark.parametrize("auto_sync", [True, False])
def test_the_block_gets_its_check_line_when_auto_sync_is_on(tmp_path: Path, cronkit_env: dict[str, str],
                                                             auto_sync: bool) -> None:
    block = Block(tmp_path, cronkit_env, auto_sync=auto_sync)
    assert (f"--config {block.run_config} check" in block.file.read_text()) is auto_sync


@pytest.mark.parametrize("auto_sync", [True, False])
def test_a_block_it_cannot_read_fails_only_a_check_that_syncs(tmp_path: Path, cronkit_env: dict[str, str],
                                                              auto_sync: bool) -> None:
    block = Block(tmp_path, cronkit_env, auto_sync=auto_sync)
    broken = block.file.read_text().replace(f"# END cronkit:{BLOCK}\n", "")  # markers that do not pair up
    block.file.write_text(broken)
    write_registry(block.registry, SECOND)
    checked = block.check("--json")
    assert block.file.read_text() == broken  # left untouched
    sync = json.loads(checked.stdout)["duties"].get("sync")
    if auto_sync:
        assert checked.returncode == 1 and "sync" in json.loads(checked.stdout)["errors"]
        plain = block.check()
        assert plain.returncode == 1 and plain.stderr.startswith("cronkit: check: sync: ")
        assert len(plain.stderr.splitlines()) == 1 and "Traceback" not in plain.stderr
    else:
        assert checked.returncode == 0, checked.stderr
        assert sync["state"] == "unknown" and sync["error"]
