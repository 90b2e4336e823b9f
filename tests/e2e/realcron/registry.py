"""The real cron daemon and a user's project: install cron.d files from it, let cron run the task,
the catch-up check line and a run that cannot start, see it all in the CLI, uninstall."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.realcron import (
    CRON_D,
    LEAD,
    WAIT_SECONDS,
    Project,
    host_zone,
    project,
    recorded_runs,
)

APP = """from cronkit import Registry, TaskContext

registry = Registry()


@registry.task("{tick}", name="tick", environments=["*"], timeout="50s", timezone="{zone}")
def tick(ctx: TaskContext) -> dict:
    return {{"slot": ctx.slot.isoformat()}}


@registry.task("{caught}", name="caught", environments=["*"], timeout="50s", timezone="{zone}",
               catchup="latest", grace="30s")
def caught(ctx: TaskContext) -> dict:
    return {{"slot": ctx.slot.isoformat()}}
"""
BROKEN = """from cronkit import Registry

registry = Registry()


@registry.task("{tick}", name="tock", environments=["*"], timezone="{zone}", catchup="skip")
def tock(ctx):
    return {{}}
"""



def cron_runs_a_users_registry_catches_up_and_reports_a_start_failure(cronkit_env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    """The real cron daemon, three things in one minute:

    - `tick`, in a project's own module registry installed as the README says, runs with trigger
      cron for the one minute it names, and `history` (typed in the project) shows it;
    - the block's `cronkit check` line fires and catches up `caught`, whose slot (the minute the
      install ran in) passed while its line was not yet in cron: the install is recorded two
      minutes earlier (`CRONKIT_NOW` pins the install's clock only; it is never written for cron),
      which is a host that was down over that slot, and the slot is run with trigger catchup;
    - a second project whose registry breaks after install: its cron run cannot start, leaves a
      start-failure record, and `status` and `health` in that project say so.
    """
    app = project(tmp_path, cronkit_env, "shop", "myapp")
    broken = project(tmp_path, cronkit_env, "billing", "billingapp")
    try:
        installed_at, boundary, missed = _install_for_next_minute(app, broken)
        broken.module.write_text("import billing_sdk_missing\n" + broken.module.read_text())
        fire = datetime.fromtimestamp(boundary, ZoneInfo(host_zone()))
        text = (CRON_D / app.block_id).read_text()
        assert f"\n{fire.minute} {fire.hour} {fire.day} {fire.month} * root /" in text and " run tick --trigger cron\n" in text
        assert "\n* * * * * root /" in text and " check\n@reboot root /" in text
        st = (CRON_D / app.block_id).stat()
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o644)

        runs: list[tuple[str, str, str, int | None]] = []
        failure = broken.home / "start-failures" / f"{broken.block_id}.json"
        time.sleep(max(0.0, boundary - time.time()))  # nothing can run before the boundary
        deadline = boundary + WAIT_SECONDS
        while time.time() < deadline:
            runs = recorded_runs(app.home)
            # By slot: on a loaded machine a first install may be redone for the next minute, and the
            # runs of the first one's lines must not end the wait.
            done = {(task, trigger, slot) for task, status, trigger, slot in runs if status == "succeeded"}
            if {("tick", "cron", boundary * 1000), ("caught", "catchup", missed * 1000)} <= done and failure.exists():
                break
            time.sleep(1)
        succeeded = {(task, trigger, slot) for task, status, trigger, slot in runs if status == "succeeded"}
        assert ("tick", "cron", boundary * 1000) in succeeded, \
            f"cron did not run tick within {WAIT_SECONDS}s of {fire:%H:%M %Z}; runs: {runs}"
        assert ("caught", "catchup", missed * 1000) in succeeded, f"the check line did not catch up; runs: {runs}"
        assert all(slot is not None and slot >= int(installed_at // 60 * 60_000) - 60_000 for *_, slot in succeeded)

        history = app.cronkit("history", "--json")
        assert history.returncode == 0, history.stderr
        seen = {(r["task"], r["trigger"], r["status"]) for r in json.loads(history.stdout)}
        assert {("tick", "cron", "succeeded"), ("caught", "catchup", "succeeded")} <= seen

        assert failure.exists(), f"no start-failure record for the broken block within {WAIT_SECONDS}s"
        record = json.loads(failure.read_text())
        assert record["task"] == "tock" and "billing_sdk_missing" in record["error"]
        _assert_reports_start_failure(broken)

        for proj in (app, broken):
            gone = proj.cronkit("uninstall", "--target", "cron.d", "--id", proj.block_id,
                                CRONKIT_TASKS="cronkit.tasks")
            assert gone.returncode == 0, gone.stderr
            assert not (CRON_D / proj.block_id).exists()
    finally:
        for proj in (app, broken):
            (CRON_D / proj.block_id).unlink(missing_ok=True)



def _assert_reports_start_failure(broken: Project) -> None:
    """`status` and `health`, typed in the broken project, name the start failure and its cause."""
    for command in ("status", "health"):
        shown = broken.cronkit(command)
        assert shown.returncode != 0, shown.stdout
        assert "billing_sdk_missing" in shown.stdout + shown.stderr, (shown.stdout, shown.stderr)
        assert "Traceback" not in shown.stderr
    health = broken.cronkit("health")
    assert health.returncode == 1  # unhealthy, with the block's start failure
    assert any(line.startswith("cron runs of this block are failing to start: tock at ")
               for line in health.stdout.splitlines()), health.stdout



def _install_for_next_minute(app: Project, broken: Project) -> tuple[float, int, int]:
    """Install both projects for the next minute boundary at least LEAD seconds away.

    Return (install time, boundary, the missed slot). `caught` names the minute the install
    runs in, recorded as installed two minutes before it. If the installs ran past the boundary
    (a loaded machine), schedule the next one and install again.
    """
    for _ in range(3):
        # cron notices a change by the directory's mtime, in seconds: not in the second it last looked
        time.sleep(max(0.0, 2 - time.time() % 60))
        installed_at = time.time()
        missed = int(installed_at) // 60 * 60
        boundary = (int(installed_at + LEAD) // 60 + 1) * 60
        zone = host_zone()
        fire, gone = (datetime.fromtimestamp(t, ZoneInfo(zone)) for t in (boundary, missed))
        tick = f"{fire.minute} {fire.hour} {fire.day} {fire.month} *"
        app.module.write_text(APP.format(tick=tick, caught=f"{gone.minute} {gone.hour} {gone.day} {gone.month} *",
                                         zone=zone))
        broken.module.write_text(BROKEN.format(tick=tick, zone=zone))
        pinned = datetime.fromtimestamp(missed - 120, UTC).isoformat()
        for proj in (app, broken):
            done = proj.cronkit("install", "--target", "cron.d", "--id", proj.block_id, "--user", "root",
                                CRONKIT_NOW=pinned)
            assert done.returncode == 0, done.stderr
        if time.time() < boundary - 2:
            return installed_at, boundary, missed
    pytest.fail(f"three installs each took more than {LEAD}s", pytrace=False)
