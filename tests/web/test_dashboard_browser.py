"""The dashboard in a real browser (issue 18): Debian's chromium driven by selenium, a real server.

`cronkit serve` runs in a subprocess on a demo home (`cronkit demo seed`, a few real runs, one
of them failed); the system chromedriver is passed explicitly, so Selenium Manager never
downloads anything. Screenshots go to test-artifacts/dashboard/. Without chromium the tests
skip, and fail under CI=true (need()).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import need
from .serverkit import Server, cli, csrf_of, make_token

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
SESSION_SECRET_KEY = "dash-test-secret-key-value-0a1b2c3d4e"
TASKS = ("hourly-metrics", "daily-analytics-updates", "weekly-trend-reports", "monthly-executive-summaries",
         "daily-session-cleanup", "daily-log-pruning", "secret-rotation")


class Demo:
    """A demo home with a few runs (one failed), tokens and a running server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        home = root / "home"
        home.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        base.update({"CRONKIT_HOME": str(home), "HOME": str(root), "COLUMNS": "200", "CRONKIT_TASKS": "cronkit.tasks",
                     "CRONKIT_SECRET_KEY": SESSION_SECRET_KEY, "CRONKIT_STOP_GRACE": "1",
                     # Pages refresh every 2 s rather than 15: a run shows up without the test waiting.
                     "CRONKIT_SERVE_REFRESH": "2"})
        base.pop("XDG_STATE_HOME", None)
        self.env = base
        self.db = home / "cronkit.db"
        seeded = cli(base, root, "demo", "seed", "--users", "200", "--days", "3", "--large-log-mb", "0")
        assert seeded.returncode == 0, seeded.stderr
        for args in (("hourly-metrics",), ("daily-session-cleanup",)):
            cli(base, root, "run", *args)
        # A real failure: session cleanup against a Redis that refuses connections (a bad --param is
        # a usage error now, checked before anything is recorded).
        cli({**base, "CRONKIT_REDIS_URL": "redis://127.0.0.1:1/0"}, root, "run", "daily-session-cleanup")
        self.failed_run = self.sql("SELECT max(id) FROM runs WHERE status = 'failed'")[0][0]
        assert self.failed_run is not None
        self.admin = make_token(base, root, "ops-admin", "admin")
        self.read = make_token(base, root, "viewer", "read")
        self.server = Server(base, root)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return list(conn.execute(query, params))

    @contextlib.contextmanager
    def session(self, token: str) -> Iterator[httpx.Client]:
        """Yield an httpx client signed in with `token` through the sign-in form."""
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            page = client.get("/signin")
            done = client.post("/signin", data={"csrf": csrf_of(page.text), "token": token, "next": "/"})
            assert done.status_code == 303, done.text
            yield client


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    setup = Demo(tmp_path_factory.mktemp("dash"))
    yield setup
    setup.server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        need("chromium and chromedriver", "apt-get install chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        need("selenium", "./install.sh --dev")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1440,900", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - a stale element during a refresh: look again
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _sign_in(driver: Any, demo: Demo, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(demo.server.url + "/")
    assert "/signin" in driver.current_url  # not signed in: sent to the sign-in page
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "signin").click()
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".card .task-name"), 30, "the overview")


def _signed_in(driver: Any, demo: Demo) -> None:
    """Sign in unless this browser is already (each test can run alone)."""
    driver.get(demo.server.url + "/")
    if "/signin" in driver.current_url:
        _sign_in(driver, demo, demo.admin)


def _screenshot(driver: Any, name: str, width: int) -> Path:
    """Size the window to `width` and the page's height, save a PNG, check it is not blank."""
    from selenium.webdriver.common.by import By

    driver.set_window_size(width, 900)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    assert height > 600, f"{name} at {width}px is only {height}px high"
    inner = int(driver.execute_script("return window.innerWidth"))
    scroll_w = int(driver.execute_script("return document.documentElement.scrollWidth"))
    assert scroll_w <= inner + 1, f"{name} at {width}px scrolls sideways ({scroll_w} > {inner})"
    first = driver.find_element(By.CSS_SELECTOR, ".task-name")
    assert first.is_displayed() and first.text.strip()
    box = driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                "return [r.top, r.left, r.bottom, r.right, window.innerHeight, window.innerWidth];", first)
    top, left, bottom, right, view_h, view_w = box
    assert 0 <= top and bottom <= view_h and 0 <= left and right <= view_w + 1, f"task name not in viewport: {box}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}-{width}.png"
    driver.set_window_size(width, min(height, 6000))
    driver.save_screenshot(str(path))
    from struct import unpack

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    png_w, png_h = unpack(">II", data[16:24])
    assert png_w >= width * 0.9 and png_h > 600, (png_w, png_h)
    assert len(data) > 20_000, "the screenshot compresses like an empty page"
    driver.set_window_size(1440, 900)
    return path


def test_sign_in_see_every_task_and_the_health(browser: Any, demo: Demo) -> None:
    from selenium.webdriver.common.by import By

    _sign_in(browser, demo, demo.admin)
    names = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".card .task-name")}
    assert names == set(TASKS)
    health = browser.find_element(By.CSS_SELECTOR, ".health h1").text
    # The demo's tasks run in production and staging; this home is in development, where nothing is
    # scheduled: the failed run of a task not scheduled here does not make the scheduler unhealthy.
    assert health.split() == ["Healthy", "environment", "development"], health
    components = browser.find_element(By.CSS_SELECTOR, ".components").text
    assert "run log" in components and "redis" in components
    card = browser.find_element(By.ID, "task-daily-session-cleanup")
    assert "failed" in card.find_element(By.CSS_SELECTOR, ".badge").text  # a word, not colour alone
    assert "At 03:00" in card.text and "0 3 * * *" in card.text
    assert re.search(r"in \d+ (min|h|d)", card.text)
    squares = card.find_elements(By.CSS_SELECTOR, ".strip .sq")
    assert len(squares) == 2 and "failed" in squares[-1].get_attribute("title")
    cookie = browser.get_cookie("cronkit_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie.get("expiry")
    assert demo.admin not in browser.page_source and SESSION_SECRET_KEY not in browser.page_source
    for width in (1440, 390):
        _screenshot(browser, "overview", width)


def test_failed_run_shows_its_error(browser: Any, demo: Demo) -> None:
    from selenium.webdriver.common.by import By

    _signed_in(browser, demo)
    browser.find_element(By.CSS_SELECTOR, "#task-daily-session-cleanup a.task-name").click()
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "svg.chart"), 30, "the task page")
    assert "open dead letters\n1" in browser.find_element(By.CSS_SELECTOR, ".stats").text.lower()
    for width in (1440, 390):
        _screenshot(browser, "task", width)
    browser.find_element(By.CSS_SELECTOR, f"#run-{demo.failed_run} a").click()
    error = _wait(lambda: browser.find_element(By.ID, "run-error").text, 30, "the run's error")
    assert "Redis part failed" in error
    assert "dead letter" in browser.page_source and "#dead-letter-" in browser.page_source


def test_run_a_task_with_a_parameter_and_see_it_appear(browser: Any, demo: Demo) -> None:
    from selenium.webdriver.common.by import By

    _signed_in(browser, demo)
    browser.get(demo.server.url + "/tasks/daily-session-cleanup")
    browser.find_element(By.ID, "param-user_id").send_keys("7")  # the task declares user_id (issue 13)
    browser.find_element(By.ID, "dry_run").click()
    browser.find_element(By.ID, "run-now").click()
    notice = _wait(lambda: browser.find_element(By.CSS_SELECTOR, ".notice").text, 30, "the started notice")
    started = re.search(r"#(\d+)", notice)
    assert started is not None, notice
    run_id = int(started.group(1))
    assert browser.find_elements(By.ID, f"run-{run_id}")
    row = demo.sql("SELECT trigger, user, params, dry_run FROM runs WHERE id = ?", run_id)[0]
    assert row[0] == "api" and row[1] == "api:ops-admin" and json.loads(row[2]) == {"user_id": "7"} and row[3]
    audit = demo.sql("SELECT token_name, result FROM audit WHERE run_id = ? AND action = 'trigger'", run_id)
    assert audit == [("ops-admin", "accepted")]
    # The page refreshes itself: no reload (the marker survives) and the run's outcome shows up.
    browser.execute_script("window.__notReloaded = true;")
    _wait(lambda: "succeeded" in browser.find_element(By.ID, f"run-{run_id}").text, 60, "the run to succeed on the page")
    # A run started elsewhere (the API) appears on the open page within a refresh.
    with demo.server.client(demo.admin) as api:
        other = api.post("/api/v1/tasks/daily-session-cleanup/runs", json={"dry_run": True}).json()["run_id"]
    _wait(lambda: browser.find_elements(By.ID, f"run-{other}"), 45, "the API's run to appear")
    assert browser.execute_script("return window.__notReloaded === true")
    assert browser.execute_script("return document.getElementById('live').dataset.refreshedAt")
    assert browser.execute_script("return document.getElementById('live').dataset.refresh") == "2"


def test_read_token_sees_everything_but_cannot_run(demo: Demo) -> None:
    with demo.session(demo.read) as client:
        page = client.get("/tasks/daily-session-cleanup")
        assert page.status_code == 200 and "daily-session-cleanup" in page.text
        assert 'id="run-now"' not in page.text and "/run\"" not in page.text
        assert client.get(f"/runs/{demo.failed_run}").status_code == 200
        assert client.get("/audit").status_code == 403  # admin only
        csrf = csrf_of(client.get("/").text)  # the sign-out form's token: a valid one
        before = demo.sql("SELECT count(*) FROM runs")[0][0]
        refused = client.post("/tasks/daily-session-cleanup/run", data={"csrf": csrf, "params": ""})
        assert refused.status_code == 403
        assert demo.sql("SELECT count(*) FROM runs")[0][0] == before
        assert demo.sql("SELECT result FROM audit WHERE token_name = 'viewer' AND action = 'trigger'") == [("forbidden",)]


def test_forms_without_csrf_token_are_refused(demo: Demo) -> None:
    with demo.session(demo.admin) as client:
        before = demo.sql("SELECT count(*) FROM runs")[0][0]
        for data in ({"params": ""}, {"params": "", "csrf": "forged"}):
            refused = client.post("/tasks/hourly-metrics/run", data=data)
            assert refused.status_code == 403 and "CSRF" in refused.text
        assert demo.sql("SELECT count(*) FROM runs")[0][0] == before
        assert client.post("/signout", data={}).status_code == 403
    with httpx.Client(base_url=demo.server.url) as anon:  # sign-in form without its CSRF token
        refused = anon.post("/signin", data={"token": demo.admin})
        assert refused.status_code == 403 and "cronkit_session" not in refused.headers.get("set-cookie", "")
        assert anon.post("/tasks/hourly-metrics/run", data={}).status_code == 401


def test_every_page_prints_no_secret(demo: Demo) -> None:
    with demo.session(demo.admin) as client:
        paths = ["/", "/audit", *(f"/tasks/{t}" for t in TASKS)]
        paths += [f"/runs/{n}" for (n,) in demo.sql("SELECT id FROM runs")]
        for path in paths:
            page = client.get(path)
            assert page.status_code == 200, path
            for secret in (demo.admin, demo.read, SESSION_SECRET_KEY):
                assert secret not in page.text, path
            # No error page's traceback: only a failed run's own, in its panel (as `cronkit show` has it).
            assert "Traceback" not in re.sub(r'<h2>Traceback</h2>\s*<pre class="output" id="run-traceback">.*?</pre>',
                                             "", page.text, flags=re.S), path
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert not re.search(r"(src|href)=\"(https?:)?//", client.get("/").text)  # nothing from another host


def test_sign_out(browser: Any, demo: Demo) -> None:
    from selenium.webdriver.common.by import By

    _signed_in(browser, demo)
    browser.find_element(By.ID, "signout").click()
    _wait(lambda: "/signin" in browser.current_url, 30, "the sign-in page")
    assert browser.get_cookie("cronkit_session") is None
    browser.get(demo.server.url + "/audit")
    assert "/signin" in browser.current_url


def test_artifacts_dir_is_ignored_by_git() -> None:
    root = Path(__file__).resolve().parents[2]
    assert "test-artifacts/" in (root / ".gitignore").read_text().splitlines()
