"""`install` writes what a cron run needs to notify: cron's runs read only the run settings file."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from pathlib import Path

from cronkit.notify.webhook import verify
from tests.conftest import CRONKIT
from tests.fixturetypes import Run, WriteConfig
from tests.notify.conftest import SECRET, notifications
from tests.notify.receivers import HttpReceiver


def test_a_cron_run_in_a_bare_environment_notifies_as_configured(run: Run, config: WriteConfig, http: HttpReceiver, notify_env: dict[str, str],
                                                                 home: Path, tmp_path: Path) -> None:
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    notify_env["CRONKIT_CRON_D"] = str(cron_d)
    config(f"""
emf_file = "{tmp_path / 'emf.log'}"

[notify]
default = ["hook"]

[notify.hook]
kind = "webhook"
url = "{http.url('/h')}"
secret_env = "CRONKIT_WEBHOOK_SECRET"
on = ["failure", "too_long"]

[tasks.flip]
max_duration = "1ms"
""")
    done = run("install", "--target", "cron.d", "--user", "root", "--host-zone", "UTC")
    assert done.returncode == 0, done.stderr
    (settings_file,) = (home / "cron").glob("*.toml")
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600  # it holds the webhook secret now
    # As cron starts a line: a bare environment, the run settings file as the only config.
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    failed = subprocess.run([CRONKIT, "--config", str(settings_file), "run", "flip", "--trigger", "cron",
                             "--param", "fail=1"], env=bare, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed.stderr
    events = sorted(json.loads(r.body)["event"] for r in http.requests)
    assert events == ["failure", "too_long"]  # the task table's max_duration came along too
    for request in http.requests:
        assert verify(SECRET, request.headers["X-Cronkit-Signature"], request.body, now=time.time())
    assert {n["state"] for n in notifications(home)} == {"delivered"}
    assert (tmp_path / "emf.log").read_text().count("\n") == 1
    # The secret stays out of the crontab line and of what the run printed.
    assert SECRET not in (cron_d / next(p.name for p in cron_d.iterdir())).read_text()
    assert SECRET not in failed.stdout + failed.stderr
