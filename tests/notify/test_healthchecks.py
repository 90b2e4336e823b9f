"""Healthchecks as its server reads the pings (SPEC section 19), against a stand-in that follows its
documented semantics (tests/notify/hcserver.py): slug URLs, failure bodies, /124, /log, 404, the
newest run's pings only, one check per task, and `cronkit notify sync`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_registry
from tests.fixturetypes import Cli, RunCli
from tests.notify.conftest import notifications
from tests.notify.hcserver import API_KEY, PING_BODY_LIMIT, PING_KEY, HealthchecksServer

TASKS = '''
@registry.task("* * * * *", name="quiet", environments=["*"], timeout="20s", grace="2m",
               description="fails without a word")
def quiet(ctx):
    if ctx.params.get("fail") == "1":
        raise RuntimeError("quiet failure")
    return {"ok": 1}


@registry.task("@daily", name="chatty", environments=["*"], timeout="20s", timezone="Europe/Paris")
def chatty(ctx):
    for i in range(2000):
        print(f"line {i:05d} " + "x" * 20)
    raise ValueError("chatty failure")


@registry.task("*/5 * * * *", name="slow", environments=["*"], timeout="1s", grace="30s")
def slow(ctx):
    time.sleep(30)
'''


@pytest.fixture
def hc() -> Iterator[HealthchecksServer]:
    server = HealthchecksServer()
    yield server
    server.stop()


@pytest.fixture
def cli(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> Callable[..., Any]:
    registry = write_registry(tmp_path / "hc_registry.py", TASKS)
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry), "CRONKIT_CONFIG": str(tmp_path / "cronkit.toml"),
           "HC_API_KEY": API_KEY, "CRONKIT_STOP_GRACE": "1"}  # slow's timeout: SIGKILL 1 s after SIGTERM

    def go(*args: str) -> Any:
        return run_cli(*args, env=env)

    return go


def configure(tmp_path: Path, url: str, extra: str = "") -> None:
    (tmp_path / "cronkit.toml").write_text(f'[notify]\ndefault = ["hc"]\n\n[notify.hc]\nkind = "healthchecks"\n'
                                           f'url = "{url}"\n{extra}')


def test_a_slug_url_with_a_query_pings_each_task_its_own_check(cli: Cli, hc: HealthchecksServer, tmp_path: Path) -> None:
    configure(tmp_path, hc.url(f"/ping/{PING_KEY}/{{task}}?create=1"))
    assert cli("run", "quiet").returncode == 0
    assert cli("run", "quiet", "--param", "fail=1").returncode == 1
    check = hc.by_slug("quiet")
    assert check is not None and check.status == "down"  # the failure reached the check as a failure
    pings = hc.of(check)
    assert [p.kind for p in pings] == ["start", "success", "start", "1"]
    assert pings[0].rid == pings[1].rid and pings[2].rid == pings[3].rid and pings[0].rid != pings[2].rid


def test_a_failure_ping_says_why_and_keeps_the_end(cli: Cli, hc: HealthchecksServer, tmp_path: Path, home: Path) -> None:
    configure(tmp_path, hc.url(f"/ping/{PING_KEY}/{{task}}?create=1"))
    assert cli("run", "quiet", "--param", "fail=1").returncode == 1
    [_, failure] = hc.of(hc.named("quiet"))
    assert failure.body == b"RuntimeError: quiet failure\n"  # the error, though the task printed nothing

    assert cli("run", "chatty").returncode == 1
    [_, failure] = hc.of(hc.named("chatty"))
    assert len(failure.body) == PING_BODY_LIMIT  # cut from the front to what the server keeps
    text = failure.body.decode()
    assert text.endswith("line 01999 " + "x" * 20 + "\nValueError: chatty failure\n")


def test_a_timed_out_run_pings_124(cli: Cli, hc: HealthchecksServer, tmp_path: Path) -> None:
    configure(tmp_path, hc.url(f"/ping/{PING_KEY}/{{task}}?create=1"))
    assert cli("run", "slow").returncode == 124
    assert [p.kind for p in hc.of(hc.named("slow"))] == ["start", "124"]


def test_notify_test_logs_without_changing_the_check(cli: Cli, hc: HealthchecksServer, tmp_path: Path) -> None:
    check = hc.add()
    check.status = "up"
    configure(tmp_path, hc.url(f"/ping/{check.uuid}"), '\n[tasks.quiet]\nnotify = ["hc"]\n[tasks.chatty]\nnotify = []\n'
                                                          '[tasks.slow]\nnotify = []\n')
    done = cli("notify", "test", "hc")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hc: sent a test ping to /log (it shows in the check's events; its state does not change)\n"
    assert [p.kind for p in hc.of(check)] == ["log"] and check.status == "up"


def test_an_unknown_check_is_given_up_at_once_and_holds_nothing_back(cli: Cli, hc: HealthchecksServer, tmp_path: Path, home: Path) -> None:
    configure(tmp_path, hc.url(f"/ping/{PING_KEY}/{{task}}"))  # no ?create=1: slugs must exist
    hc.add("quiet")
    assert cli("run", "chatty").returncode == 1  # its check does not exist: 404
    assert cli("run", "quiet").returncode == 0  # delivered, not held behind chatty's rows
    rows = {(n["task"], n["event"]): n for n in notifications(home)}
    assert rows[("chatty", "start")]["state"] == "failed" and rows[("chatty", "start")]["tries"] == 1
    assert "HTTP 404" in rows[("chatty", "failure")]["last_error"]
    assert "no such check" in rows[("chatty", "failure")]["last_error"]
    assert rows[("quiet", "success")]["state"] == "delivered"
    log = cli("notify", "log", "--json")
    assert {d["state"] for d in json.loads(log.stdout)["deliveries"] if d["task"] == "chatty"} == {"failed"}


def test_after_an_outage_only_the_newest_run_is_sent(cli: Cli, hc: HealthchecksServer, tmp_path: Path, home: Path) -> None:
    down = HealthchecksServer()
    dead_url = down.url(f"/ping/{PING_KEY}/{{task}}?create=1")
    down.stop()  # nothing listens there now: every ping stays pending
    configure(tmp_path, dead_url)
    assert cli("run", "quiet", "--param", "fail=1").returncode == 1
    assert cli("run", "quiet").returncode == 0
    configure(tmp_path, hc.url(f"/ping/{PING_KEY}/{{task}}?create=1"))
    assert cli("check").returncode == 0  # delivers the outbox
    check = hc.by_slug("quiet")
    assert check is not None
    assert [p.kind for p in hc.of(check)] == ["success"]  # no stale failure, no start arriving with its end
    assert hc.statuses == [(check.uuid, "up")]
    states = [(n["event"], n["state"]) for n in notifications(home)]
    assert states == [("start", "superseded"), ("failure", "superseded"), ("start", "superseded"),
                      ("success", "delivered")]


def test_one_check_shared_by_several_tasks_is_a_warning(cli: Cli, hc: HealthchecksServer, tmp_path: Path) -> None:
    configure(tmp_path, hc.url("/ping/0f2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b"))
    health = cli("health", "--json")
    [warning] = json.loads(health.stdout)["warnings"]
    assert warning.startswith("notify.hc: one healthchecks check for 3 tasks (quiet, chatty, slow):")
    assert "put {task} in the url" in warning
    text = cli("health")
    assert f"cronkit: warning: {warning}\n" in text.stderr
    configure(tmp_path, hc.url(f"/ping/{PING_KEY}/{{task}}"))
    assert json.loads(cli("health", "--json").stdout)["warnings"] == []


def test_notify_sync_creates_then_updates_one_check_per_task(cli: Cli, hc: HealthchecksServer, tmp_path: Path) -> None:
    configure(tmp_path, hc.url(f"/ping/{PING_KEY}/{{task}}"), 'api_key_env = "HC_API_KEY"\n')
    dry = cli("notify", "sync", "hc", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == (f"POST {hc.url('/api/v3/checks/')} "
                        '{"desc": "fails without a word", "grace": 120, "name": "quiet", "schedule": "* * * * *",'
                        ' "slug": "quiet", "tz": "UTC", "unique": ["slug"]}')
    assert '"schedule": "0 0 * * *", "slug": "chatty", "tz": "Europe/Paris"' in lines[1]
    assert lines[-1] == "dry run: 3 check(s) of notifier hc would be created or updated; nothing sent"
    assert hc.checks == {}

    done = cli("notify", "sync", "hc")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"created check quiet: pings go to {hc.url(f'/ping/{PING_KEY}/quiet')}"
    assert sorted(c.slug or "" for c in hc.checks.values()) == ["chatty", "quiet", "slow"]
    assert hc.named("slow").spec["grace"] == 60  # healthchecks' least
    again = cli("notify", "sync", "hc", "--json")
    assert [c["action"] for c in json.loads(again.stdout)["checks"]] == ["updated"] * 3
    assert len(hc.checks) == 3

    assert cli("run", "quiet").returncode == 0  # the synced check hears the run
    assert [p.kind for p in hc.of(hc.named("quiet"))] == ["start", "success"]


def test_notify_sync_says_what_is_missing(cli: Cli, hc: HealthchecksServer, tmp_path: Path) -> None:
    configure(tmp_path, hc.url(f"/ping/{PING_KEY}/{{task}}"))
    done = cli("notify", "sync", "hc")
    assert done.returncode == 78
    assert done.stderr.startswith("cronkit: error: notify.hc.api_key_env: name the variable")
    unknown = cli("notify", "sync", "nope")
    assert unknown.returncode == 2 and "'nope' is not a healthchecks notifier (known: hc)" in unknown.stderr
