"""Pause and resume over HTTP and in the dashboard (issue 28, SPEC 15): a real `cronkit serve`,
real `cronkit run` processes on the same run log, Debian's chromium for the buttons.

Screenshots: test-artifacts/dashboard/pause-*.png.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import run_cronkit
from .serverkit import Setup, csrf_of, is_problem, make_token
from .test_dashboard_browser import ARTIFACTS, _wait, browser  # noqa: F401 - `browser` is a fixture

pytestmark = pytest.mark.slow
PAUSE_KEYS = ("paused", "paused_until", "paused_by", "pause_reason")


class PauseSetup(Setup):
    limited = ""  # an operator token limited to the task `slow`

    def cli_at(self, now: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `cronkit ARGS` on the server's home with the clock pinned at `now`."""
        return run_cronkit(args, {**self.env, "CRONKIT_NOW": now}, self.root)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PauseSetup]:
    made = PauseSetup(tmp_path_factory.mktemp("pause"))
    made.limited = make_token(made.env, made.root, "slow-only", "trigger", "--task", "slow")
    yield made
    made.server.stop()


def _audit(setup: Setup, action: str) -> list[tuple[Any, ...]]:
    return setup.sql("SELECT token_name, task, result, status_code, params, detail FROM audit WHERE action = ?"
                     " ORDER BY id", action)


def test_api_pause_is_obeyed_by_cron_and_triggers_then_resume(setup: PauseSetup) -> None:
    with setup.server.client(setup.trigger) as api, setup.server.client(setup.read) as reader:
        paused = api.post("/api/v1/tasks/quick/pause", json={"for": "48h", "reason": "schema migration"})
        assert paused.status_code == 200, paused.text
        body = paused.json()
        assert (body["task"], body["paused"], body["paused_by"], body["pause_reason"]) == \
            ("quick", True, "api:deployer", "schema migration")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", body["paused_until"])

        listed = {t["name"]: t for t in reader.get("/api/v1/tasks").json()}
        assert {k: listed["quick"][k] for k in PAUSE_KEYS} == {k: body[k] for k in PAUSE_KEYS}
        assert listed["slow"]["paused"] is False
        assert reader.get("/api/v1/tasks/quick").json()["pause_reason"] == "schema migration"

        refused = is_problem(api.post("/api/v1/tasks/quick/runs", json={}), 409)
        assert refused["type"].endswith("/task-paused") and refused["paused_by"] == "api:deployer"
        assert "quick is paused by api:deployer until " in refused["detail"]

        # cron's start at quick's next slot (03:00 UTC, within the 48 h): it obeys the API's pause
        now = datetime.now(UTC)
        slot = now.replace(hour=3, minute=0, second=5, microsecond=0) + timedelta(days=1 if now.hour >= 3 else 0)
        cron = setup.cli_at(slot.isoformat(), "run", "quick", "--trigger", "cron")
        assert (cron.returncode, cron.stdout, cron.stderr) == (75, "", "")
        skipped = setup.sql("SELECT status, error FROM runs WHERE task = 'quick' ORDER BY id DESC LIMIT 1")[0]
        assert skipped[0] == "skipped" and skipped[1].startswith("paused by api:deployer until ")
        assert skipped[1].endswith(": schema migration")

        resumed = api.post("/api/v1/tasks/quick/resume")
        assert resumed.status_code == 200, resumed.text
        assert (resumed.json()["resumed"], resumed.json()["was"]["paused_by"]) == (True, "api:deployer")
        assert api.post("/api/v1/tasks/quick/runs", json={}).status_code == 202

    pauses = _audit(setup, "pause")
    assert [(r[0], r[1], r[2], r[3]) for r in pauses] == [("deployer", "quick", "paused", 200)]
    assert json.loads(pauses[0][4]) == {"for": "48h", "reason": "schema migration", "origin": "api"}
    assert [(r[0], r[2]) for r in _audit(setup, "resume")] == [("deployer", "resumed")]
    assert ("deployer", "paused", 409) in [(r[0], r[2], r[3]) for r in _audit(setup, "trigger")]
    with setup.server.client(setup.admin) as admin:
        rows = admin.get("/api/v1/audit").json()
    rows = rows["audit"] if isinstance(rows, dict) else rows
    mine = [r for r in rows if r["action"] in ("pause", "resume")]
    assert {(r["action"], r["token"], r["remote_addr"]) for r in mine} == {("pause", "deployer", "127.0.0.1"),
                                                                         ("resume", "deployer", "127.0.0.1")}


@pytest.mark.parametrize(("token", "path", "body", "status", "kind"), [
    (None, "/api/v1/tasks/quick/pause", {}, 401, "token-missing"),
    ("read", "/api/v1/tasks/quick/pause", {}, 403, "scope"),
    ("trigger", "/api/v1/tasks/nope/pause", {}, 404, "unknown-task"),
    ("limited", "/api/v1/tasks/quick/pause", {"for": "1h"}, 403, "task-not-allowed"),
    ("limited", "/api/v1/tasks/quick/resume", {}, 403, "task-not-allowed"),
    ("trigger", "/api/v1/tasks/quick/pause", {"for": "2h", "until": "14:00"}, 422, "invalid-pause"),
    ("trigger", "/api/v1/tasks/quick/pause", {"for": 7200}, 422, "invalid-body"),
    ("trigger", "/api/v1/tasks/quick/pause", {"forever": True}, 422, "invalid-body"),
    ("trigger", "/api/v1/tasks/quick/pause", {"until": "2000-01-01T00:00Z"}, 422, "invalid-pause"),
    ("trigger", "/api/v1/tasks/quick/resume", {"reason": "x"}, 422, "invalid-body"),
])
def test_api_refusals_are_problems_and_audited(setup: PauseSetup, token: str | None, path: str, body: dict[str, Any],
                                               status: int, kind: str) -> None:
    key = {"read": setup.read, "trigger": setup.trigger, "limited": setup.limited}.get(token or "")
    before = setup.sql("SELECT count(*) FROM audit")[0][0]
    pauses = setup.sql("SELECT count(*), count(resumed_by) FROM pauses")
    with setup.server.client(key) as api:
        problem = is_problem(api.post(path, json=body), status)
    assert problem["type"].endswith("/" + kind)
    assert setup.sql("SELECT count(*), count(resumed_by) FROM pauses") == pauses  # nothing paused nor resumed
    after = setup.sql("SELECT action, result, status_code FROM audit WHERE id > ? ORDER BY id", before)
    assert [(a, code) for a, _, code in after] == [(path.rsplit("/", 1)[1], status)]


def _full_page(driver: Any, path: Path) -> None:
    """Save a screenshot of the whole page (the window as high as the page)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, min(max(height, 900), 6000))
    driver.save_screenshot(str(path))


def test_dashboard_pause_and_resume_buttons(browser: Any, setup: Setup) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    url = setup.server.url
    browser.get(url + "/")
    if "/signin" in browser.current_url:
        browser.find_element(By.ID, "token").send_keys(setup.trigger)
        browser.find_element(By.ID, "signin").click()
        _wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".card .task-name"), 30, "the overview")
    browser.get(url + "/tasks/slow")
    browser.find_element(By.ID, "pause-for").send_keys("90m")
    browser.find_element(By.ID, "pause-reason").send_keys("disk replacement on db-2")
    browser.find_element(By.ID, "pause").click()
    box = _wait(lambda: browser.find_element(By.ID, "pause-state").text, 30, "the pause box")
    assert box.startswith("Paused by dashboard:deployer until ") and "disk replacement on db-2" in box
    assert browser.find_elements(By.ID, "resume") and not browser.find_elements(By.ID, "pause")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _full_page(browser, ARTIFACTS / "pause-task.png")  # the pause box on top, the Resume button below

    browser.get(url + "/")
    card = _wait(lambda: browser.find_element(By.ID, "task-slow"), 30, "the overview card")
    assert "paused" in card.find_element(By.CSS_SELECTOR, ".badge.paused").text
    assert "paused until" in card.text
    _full_page(browser, ARTIFACTS / "pause-overview.png")
    browser.set_window_size(1440, 900)
    row = setup.sql("SELECT paused_by, origin, reason, paused_until - paused_at FROM pauses WHERE task = 'slow'")
    assert row == [("dashboard:deployer", "dashboard", "disk replacement on db-2", 90 * 60 * 1000)]

    browser.get(url + "/tasks/slow")
    browser.find_element(By.ID, "resume").click()
    _wait(lambda: browser.find_elements(By.ID, "pause"), 30, "the pause form again")
    assert not browser.find_elements(By.ID, "pause-state")
    audit = setup.sql("SELECT action, token_name, result, params FROM audit WHERE task = 'slow'"
                      " AND action IN ('pause', 'resume') ORDER BY id")
    assert [(a, t, r) for a, t, r, _ in audit] == [("pause", "deployer", "paused"), ("resume", "deployer", "resumed")]
    assert json.loads(audit[0][3])["origin"] == "dashboard"
    assert Path(ARTIFACTS / "pause-task.png").stat().st_size > 20_000


def test_dashboard_pause_form_needs_its_csrf_token_and_a_trigger_token(setup: Setup) -> None:
    for token, status in ((setup.trigger, 403), (setup.read, 403)):
        with httpx.Client(base_url=setup.server.url, timeout=30) as client:
            page = client.get("/signin")
            assert client.post("/signin", data={"csrf": csrf_of(page.text), "token": token,
                                                "next": "/"}).status_code == 303
            csrf = csrf_of(client.get("/tasks/quick").text)
            forged = client.post("/tasks/quick/pause", data={"csrf": "forged", "for": "1h"})
            assert forged.status_code == 403 and "CSRF" in forged.text
            if token == setup.read:
                html = client.get("/tasks/quick").text
                assert 'id="pause"' not in html and 'id="resume"' not in html
                refused = client.post("/tasks/quick/pause", data={"csrf": csrf, "for": "1h"})
                assert refused.status_code == status
            else:
                bad = client.post("/tasks/quick/pause", data={"csrf": csrf, "for": "later"})
                assert bad.status_code == 422 and "is not a duration" in bad.text
    assert setup.sql("SELECT count(*) FROM pauses WHERE task = 'quick' AND origin = 'dashboard'") == [(0,)]
