"""The real cron daemon and auto_sync: the block's own `cronkit check` line re-installing it after a
deploy."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.e2e.realcron import (
    CRON_D,
    WAIT_SECONDS,
    project,
)

SYNC_APP = """from cronkit import Registry

registry = Registry()


@registry.task("0 3 1 1 *", name="yearly", environments=["*"], catchup="skip")
def yearly(ctx):
    return {{}}
{extra}"""
SYNC_ADDED = """

@registry.task("30 3 1 1 *", name="deployed", environments=["*"], catchup="skip")
def deployed(ctx):
    return {}
"""


def cron_check_line_syncs_the_block_after_a_deploy(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """auto_sync with the real cron daemon (issue 28): a deploy adds a task to the registry after
    `install`; at the next minute cron runs the block's own `cronkit check` line, which re-installs
    the block (the new task's line in the same cron.d file) and writes the audit row."""
    app = project(tmp_path, cronkit_env, "deploy", "syncapp")
    app.env["CRONKIT_AUTO_SYNC"] = "true"
    app.module.write_text(SYNC_APP.format(extra=""))
    target = CRON_D / app.block_id
    try:
        time.sleep(max(0.0, 2 - time.time() % 60))  # cron notices cron.d by its mtime, in seconds
        done = app.cronkit("install", "--target", "cron.d", "--id", app.block_id, "--user", "root")
        assert done.returncode == 0, done.stderr
        assert " run deployed " not in target.read_text() and " check\n" in target.read_text()
        app.module.write_text(SYNC_APP.format(extra=SYNC_ADDED))  # the deploy: nobody runs install
        deadline = (int(time.time()) // 60 + 1) * 60 + WAIT_SECONDS  # the check line fires at the next minute
        while time.time() < deadline and " run deployed " not in target.read_text():
            time.sleep(1)
        text = target.read_text()
        assert " run deployed --trigger cron\n" in text, f"cron's check did not sync within {WAIT_SECONDS}s"
        assert text == app.cronkit("render", "--target", "cron.d", "--id", app.block_id, "--user", "root").stdout
        audit = json.loads(app.cronkit("audit", "--json").stdout)
        assert [(a["action"], a["result"]) for a in audit] == [("auto_sync", "installed")]
        assert audit[0]["detail"].endswith("re-installed by auto_sync: added deployed")
        assert list((app.home / "backups").glob("cron.d-*.crontab"))
    finally:
        target.unlink(missing_ok=True)
