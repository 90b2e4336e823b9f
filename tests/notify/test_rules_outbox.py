"""The rules one by one, the outbox across processes, a hanging receiver, and config errors."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CRONKIT, free_port
from tests.fixturetypes import Run, WriteConfig
from tests.notify.conftest import notifications, runs
from tests.notify.receivers import HttpReceiver


def hook(url: str, on: str, extra: str = "") -> str:
    return f"""
[notify]
default = ["hook"]

[notify.hook]
kind = "webhook"
url = "{url}"
on = {on}
timeout = "1s"
{extra}
"""


def events(http: HttpReceiver) -> list[tuple[str, int]]:
    return [(b["event"], b["run_id"]) for b in (json.loads(r.body) for r in http.requests)]


@pytest.mark.slow
def test_no_repeat_and_no_recovery_without_an_alert(run: Run, config: WriteConfig, http: HttpReceiver) -> None:
    config(hook(http.url("/h"), '["failure", "recovery", "success"]', "failures_before_alert = 3"))
    for fail in (1, 1, 0, 1, 1, 1, 1, 0):
        run("run", "flip", "--param", f"fail={fail}")
    # two failures then a success: no alert, so no recovery; four failures: one alert at the third
    assert [e for e, _ in events(http)] == ["success", "failure", "success", "recovery"]


def test_too_long_and_too_fast(run: Run, config: WriteConfig, http: HttpReceiver) -> None:
    # Only lower bounds on a run's duration are certain (a task sleeps at least what it is told;
    # a loaded machine only adds), so each run is far on one side of the limit it is checked against.
    def limits(max_duration: str, min_duration: str) -> None:
        config(hook(http.url("/h"), '["too_long", "too_fast"]') + f"""
[tasks.flip]
max_duration = "{max_duration}"
min_duration = "{min_duration}"
""")

    limits("2h", "1h")
    assert run("run", "flip").returncode == 0  # too fast: no run takes an hour
    limits("1h", "0.3s")
    assert run("run", "flip", "--param", "sleep=0.5").returncode == 0  # neither: at least 0.5 s, not an hour
    limits("0.3s", "0.1s")
    assert run("run", "flip", "--param", "sleep=0.5").returncode == 0  # too long: at least 0.5 s
    got = [json.loads(r.body) for r in http.requests]
    assert [b["event"] for b in got] == ["too_fast", "too_long"]
    assert "faster than min_duration 3600s" in got[0]["error"]
    assert "longer than max_duration 0.3s" in got[1]["error"]


def test_outbox_delivers_once_in_order_when_the_receiver_is_back(run: Run, config: WriteConfig, home: Path) -> None:
    port = free_port()
    config(hook(f"http://127.0.0.1:{port}/h", '["failure", "recovery", "success"]'))
    assert run("run", "flip", "--param", "fail=1").returncode == 1  # receiver down
    assert run("run", "flip").returncode == 0
    pending = notifications(home)
    assert [(n["event"], n["state"]) for n in pending] == [("failure", "pending"), ("success", "pending"),
                                                         ("recovery", "pending")]
    assert "cannot reach" in pending[0]["last_error"]
    receiver = HttpReceiver(port)
    try:
        assert run("check").returncode == 0
        assert run("check").returncode == 0  # nothing left: nothing sent twice
        assert run("run", "flip").returncode == 0  # a later run sends its own only
        ids = [r["id"] for r in runs(home)]
        assert events(receiver) == [("failure", ids[0]), ("success", ids[1]), ("recovery", ids[1]),
                                    ("success", ids[2])]
    finally:
        receiver.stop()
    log = run("notify", "log", "--json")
    assert [d["state"] for d in json.loads(log.stdout)["deliveries"]] == ["delivered"] * 4


def test_hanging_receiver_leaves_the_run_alone(run: Run, config: WriteConfig, http: HttpReceiver, home: Path) -> None:
    http.hang.set()
    config(hook(http.url("/h"), '["failure"]'))
    began = time.monotonic()
    proc = run("run", "flip", "--param", "fail=1", timeout=60)
    assert proc.returncode == 1 and "flip failed" in proc.stdout + proc.stderr
    took = time.monotonic() - began
    row = runs(home)[0]
    assert row["status"] == "failed" and row["exit_code"] == 1
    assert row["duration_ms"] < took * 1000  # recorded before the deliveries
    (note,) = notifications(home)
    assert note["state"] == "pending" and ": no answer within " in note["last_error"]
    assert len(http.requests) == 2  # bounded: two tries of one second


def test_notify_test_and_config_errors(run: Run, config: WriteConfig, http: HttpReceiver) -> None:
    config(hook(http.url("/h"), '["failure"]'))
    assert run("notify", "test", "hook").returncode == 0
    assert json.loads(http.requests[0].body)["event"] == "test"
    assert run("notify", "test", "nope").returncode == 2
    config(hook(http.url("/h"), '["failure"]', 'colour = "red"'))
    bad = run("run", "flip")
    assert bad.returncode == 78 and "notify.hook.colour" in bad.stderr
    config(hook(http.url("/h"), '["exploded"]'))
    assert "notify.hook.on" in run("check").stderr
    config(hook(http.url("/h"), '["failure"]') + '[tasks.flip]\nnotify = ["ghost"]\n')
    bad = run("run", "flip")
    assert bad.returncode == 78 and "tasks.flip.notify" in bad.stderr
    mail = '[notify]\ndefault = ["mail"]\n\n[notify.mail]\nkind = "email"\nto = ["ops@example.com"]\n'
    for extra, complaint in (("ssl = true\nstarttls = true\n", "notify.mail: starttls and ssl are two ways to encrypt"),
                             ('from = "not an address"\n', "notify.mail.from: 'not an address' is not a mail address")):
        config(mail + extra)
        bad = run("notify", "test", "mail")
        assert bad.returncode == 78 and complaint in bad.stderr, bad.stderr
    config(mail + 'from = "Cron <cron@example.com>"\n')
    assert run("list").returncode == 0  # a display name is an address smtplib takes


def test_no_notifier_imports_no_channel(run: Run, config: WriteConfig, notify_env: dict[str, str]) -> None:
    config("")  # no notifier
    assert run("run", "flip").returncode == 0  # creates the run log (that imports SQLAlchemy, once)
    proc = subprocess.run([CRONKIT, "run", "flip"], env={**notify_env, "PYTHONPROFILEIMPORTTIME": "1"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    modules = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "cronkit.notify.promfile" in modules  # the metrics file is written
    for heavy in ("cronkit.notify.hook", "urllib.request", "http.client", "smtplib", "sqlalchemy", "rich"):
        assert heavy not in modules


def test_a_run_that_never_started_its_task_is_not_too_long(run: Run, config: WriteConfig, http: HttpReceiver, notify_env: dict[str, str]) -> None:
    config(hook(http.url("/h"), '["too_long", "failure"]') + '\n[tasks.flip]\nmax_duration = "1ms"\n')
    notify_env["CRONKIT_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # down: the singleton fails closed
    assert run("run", "flip").returncode == 69
    assert [e for e, _ in events(http)] == ["failure"]
