"""Take the documentation's screenshots in headless Chromium: the dashboard, and the built site.

    .venv/bin/python docs/gen/screenshots.py dashboard      # -> docs/img/dashboard.png
    .venv/bin/python docs/gen/screenshots.py site DIR OUT   # DIR/index.html (a built site) -> OUT

`dashboard` makes a demo home in a temporary directory (`cronkit demo run`: demo data and a real
run of every built-in task), creates an admin token, starts `cronkit serve` on a free port, signs
in through the sign-in form and saves the overview at 1280 px wide. It needs Debian's chromium and
chromium-driver and the dev dependencies (selenium), as the browser tests do (tests/web/). Not run
by the build: run it again when the dashboard changes.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CRONKIT = str(Path(sys.executable).with_name("cronkit"))
WIDTH = 1280
FAKE_CRONTAB = """#!/bin/sh
case "$1" in
  -l) [ -f "$FAKE_CRONTAB_FILE" ] || { echo "no crontab for $(id -un)" >&2; exit 1; }; cat "$FAKE_CRONTAB_FILE" ;;
  -) cat > "$FAKE_CRONTAB_FILE" ;;
  *) exit 2 ;;
esac
"""


def browser(height: int = 900) -> Any:
    """Return a headless chromium driven through the system chromedriver (nothing downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WIDTH},{height}", "--hide-scrollbars", "--no-first-run"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - not up yet, or an element replaced by a refresh
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise SystemExit(f"screenshots: timed out waiting for {what}")


def dashboard(out: Path) -> None:
    """Save the dashboard's overview of a fresh demo home as `out`."""
    from selenium.webdriver.common.by import By

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        # The crontab is a file (a stand-in for crontab(1)), so that the block is installed for real.
        Path(tmp, "crontab.sh").write_text(FAKE_CRONTAB)
        Path(tmp, "crontab.sh").chmod(0o755)
        env.update({"CRONKIT_HOME": f"{tmp}/home", "HOME": tmp, "CRONKIT_ENV": "production",
                    "CRONKIT_SECRET_KEY": secrets.token_urlsafe(32),
                    "CRONKIT_CRONTAB_COMMAND": f"{tmp}/crontab.sh", "FAKE_CRONTAB_FILE": f"{tmp}/crontab.txt"})
        subprocess.run([CRONKIT, "demo", "run", "--users", "300", "--days", "14"], env=env, cwd=tmp,
                       stdout=subprocess.DEVNULL, check=False)
        env["CRONKIT_HOME"] = f"{tmp}/home/demo"  # the demo's own home (`cronkit demo run` says so)
        for task in ("hourly-metrics", "daily-analytics-updates", "daily-log-pruning"):
            subprocess.run([CRONKIT, "--tasks", "cronkit.tasks", "run", task], env=env, cwd=tmp,
                           capture_output=True, check=False)
        subprocess.run([CRONKIT, "--tasks", "cronkit.tasks", "install"], env=env, cwd=tmp,
                       capture_output=True, check=True)
        token = subprocess.run([CRONKIT, "--tasks", "cronkit.tasks", "token", "create", "docs", "--role", "admin"],
                               env=env, cwd=tmp, capture_output=True, text=True, check=True).stdout.strip()
        port = _free_port()
        server = subprocess.Popen([CRONKIT, "--tasks", "cronkit.tasks", "serve", "--port", str(port),
                                   "--log-level", "warning"], env=env, cwd=tmp)
        driver = None
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(lambda: socket.create_connection(("127.0.0.1", port), 1), 60, "cronkit serve")
            driver = browser()
            driver.get(url + "/")
            driver.find_element(By.ID, "token").send_keys(token)
            driver.find_element(By.ID, "signin").click()
            _wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".card .task-name"), 60, "the overview")
            time.sleep(1)  # let the strips' fonts settle
            driver.save_screenshot(str(out))
        finally:
            if driver is not None:
                driver.quit()
            server.terminate()
            server.wait(30)


def site(directory: Path, out: Path) -> None:
    """Save the built site's index page (served from files) as `out`."""
    driver = browser()
    try:
        driver.get((directory / "index.html").resolve().as_uri())
        time.sleep(1)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


if __name__ == "__main__":
    if sys.argv[1:2] == ["dashboard"]:
        dashboard(ROOT / "docs" / "img" / "dashboard.png")
    elif sys.argv[1:2] == ["site"] and len(sys.argv) == 4:
        site(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
