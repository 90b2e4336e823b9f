"""`cronkit pause` / `resume` (issue 28, SPEC 15): real `cronkit` processes on a real run log.

The clock is pinned per command (CRONKIT_NOW): a pause, the cron starts during it, a pause that
ends by itself, slots of a pause that `check` neither catches up nor counts missed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cronkit, write_registry

HOURLY = '''
@registry.task("0 * * * *", name="hourly", environments=["*"], catchup="all", catchup_window="24h")
def hourly(ctx: TaskContext) -> dict:
    return {"slot": ctx.slot.isoformat() if ctx.slot else None}

@registry.task("30 * * * *", name="other", environments=["*"])
def other(ctx: TaskContext) -> dict:
    return {}
'''


class Host:
    """One host: its own home and name; the run log may be shared with another host."""

    def __init__(self, env: dict[str, str], home: Path, registry: Path, db_url: str, name: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.env = {**env, "CRONKIT_HOME": str(home), "CRONKIT_TASKS": str(registry), "CRONKIT_DB_URL": db_url,
                    "CRONKIT_HOSTNAME": name, "USER": "alice", "LOGNAME": "alice"}

    def cli(self, *args: str, now: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return run_cronkit(args, {**self.env, "CRONKIT_NOW": now, **extra}, self.home)


@pytest.fixture
def host(cronkit_env: dict[str, str], tmp_path: Path) -> Host:
    registry = write_registry(tmp_path / "pausetasks.py", HOURLY)
    return Host(cronkit_env, tmp_path / "home", registry, f"sqlite:///{tmp_path / 'runlog.db'}", "web-1")


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def test_pause_and_resume_print_say_who_and_exit_codes(host: Host, tmp_path: Path) -> None:
    now = "2026-11-20T10:00:00+00:00"
    done = host.cli("pause", "hourly", "--for", "2h", "--reason", "database  migration", now=now)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "paused hourly until 2026-11-20T12:00:00+00:00 (by alice): database migration\n"

    shown = json.loads(host.cli("pause", "hourly", "other", "--until", "13:30", "--json", now=now).stdout)
    assert shown == [
        {"task": "hourly", "paused": True, "paused_at": now, "paused_until": "2026-11-20T13:30:00+00:00",
         "paused_by": "alice", "pause_reason": None},
        {"task": "other", "paused": True, "paused_at": now, "paused_until": "2026-11-20T13:30:00+00:00",
         "paused_by": "alice", "pause_reason": None},
    ]
    for args, message in [
        (("pause", "nope"), "cronkit: error: unknown task 'nope'\n"),
        (("pause", "hourly", "--for", "1h", "--until", "12:00"), "cronkit: error: --for and --until: give one of them, not both\n"),
        (("pause", "hourly", "--until", "2026-11-20T09:00"),
         "cronkit: error: --until: '2026-11-20T09:00' is not in the future (now 2026-11-20T10:00:00+00:00)\n"),
        (("pause", "hourly", "--for", "soon"), "cronkit: error: --for: 'soon' is not a duration such as 30s, 5m, 1h30m\n"),
        (("resume", "hourly", "nope"), "cronkit: error: unknown task 'nope'\n"),
    ]:
        refused = host.cli(*args, now=now)
        assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", message), args

    later = "2026-11-20T11:00:00+00:00"
    resumed = host.cli("resume", "hourly", "hourly", now=later)
    assert resumed.stdout == "resumed hourly (alice's pause since 2026-11-20T10:00:00+00:00)\n"
    again = json.loads(host.cli("resume", "hourly", "--json", now=later).stdout)
    assert again == [{"task": "hourly", "paused": False, "paused_at": None, "paused_until": None, "paused_by": None,
                      "pause_reason": None, "resumed": False, "was": None}]

    audit = json.loads(host.cli("audit", "--json", now=later).stdout)
    assert [(a["action"], a["task"], a["result"], a["token"]) for a in reversed(audit)] == [
        ("pause", "hourly", "paused", None), ("pause", "hourly", "paused", None), ("pause", "other", "paused", None),
        ("resume", "hourly", "resumed", None), ("resume", "hourly", "not_paused", None)]
    first = audit[-1]
    assert first["params"] == {"for": "2h", "reason": "database migration", "origin": "cli", "user": "alice"}
    assert first["detail"] == "paused by alice until 2026-11-20T12:00:00+00:00: database migration"


def test_while_paused_cron_skips_by_hand_refuses_and_the_pause_ends_by_itself(host: Host, tmp_path: Path) -> None:
    db = tmp_path / "runlog.db"
    assert host.cli("pause", "hourly", "--for", "2h", "--reason", "migration", now="2026-11-20T09:50:00Z").returncode == 0

    cron = host.cli("run", "hourly", "--trigger", "cron", now="2026-11-20T10:00:05Z")
    assert (cron.returncode, cron.stdout, cron.stderr) == (75, "", "")  # quiet: cron mails nothing
    by_hand = host.cli("run", "hourly", now="2026-11-20T10:10:00Z")
    assert by_hand.returncode == 75 and by_hand.stdout == ""
    assert by_hand.stderr == ("cronkit: error: hourly is paused by alice until 2026-11-20T11:50:00+00:00: migration;"
                              " `cronkit resume hourly`, or run it anyway with --force\n")
    scripted = host.cli("run", "hourly", "--json", now="2026-11-20T10:10:00Z")  # a script gets an answer to parse
    assert scripted.returncode == 75 and json.loads(scripted.stdout) == {
        "run_id": None, "status": None, "exit_code": 75, "duration_ms": None, "result": None,
        "error": by_hand.stderr.removeprefix("cronkit: error: ").rstrip("\n"), "dead_letter_id": None}
    forced = host.cli("run", "hourly", "--force", now="2026-11-20T10:20:00Z")
    assert forced.returncode == 0, forced.stderr
    untouched = host.cli("run", "other", "--trigger", "cron", now="2026-11-20T10:30:05Z")
    assert untouched.returncode == 0, untouched.stderr
    ended = host.cli("run", "hourly", "--trigger", "cron", now="2026-11-20T12:00:05Z")  # past --for 2h
    assert ended.returncode == 0, ended.stderr

    recorded = rows(db, "SELECT task, status, \"trigger\", exit_code, error FROM runs ORDER BY id")
    assert recorded == [
        ("hourly", "skipped", "cron", 75, "paused by alice until 2026-11-20T11:50:00+00:00: migration"),
        ("hourly", "succeeded", "manual", 0, None),
        ("other", "succeeded", "cron", 0, None),
        ("hourly", "succeeded", "cron", 0, None),
    ]  # the refused start by hand recorded nothing


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_pause_in_a_shared_run_log_holds_on_every_host(cronkit_env: dict[str, str], tmp_path: Path, backend: str,
                                                         request: pytest.FixtureRequest) -> None:
    registry = write_registry(tmp_path / "pausetasks.py", HOURLY)
    url = f"sqlite:///{tmp_path / 'shared.db'}" if backend == "sqlite" else str(request.getfixturevalue("pg_url"))
    web1 = Host(cronkit_env, tmp_path / "h1", registry, url, "web-1")
    web2 = Host(cronkit_env, tmp_path / "h2", registry, url, "web-2")
    assert web1.cli("pause", "hourly", now="2026-11-20T09:00:00Z").returncode == 0  # until resumed
    seen = web2.cli("run", "hourly", "--trigger", "cron", now="2026-11-20T10:00:05Z")
    assert seen.returncode == 75
    listed = json.loads(web2.cli("list", "--json", now="2026-11-20T10:01:00Z").stdout)
    hourly = next(t for t in listed if t["name"] == "hourly")
    assert {k: hourly[k] for k in ("paused", "paused_until", "paused_by", "pause_reason")} == \
        {"paused": True, "paused_until": None, "paused_by": "alice", "pause_reason": None}
    assert not next(t for t in listed if t["name"] == "other")["paused"]
    text = web2.cli("list", now="2026-11-20T10:01:00Z").stdout
    assert "paused: hourly by alice until resumed" in text
    assert web2.cli("resume", "hourly", now="2026-11-20T10:30:00Z").returncode == 0
    assert web1.cli("run", "hourly", "--trigger", "cron", now="2026-11-20T11:00:05Z").returncode == 0
    history = json.loads(web1.cli("history", "hourly", "--json", now="2026-11-20T11:01:00Z").stdout)
    assert [(r["host"], r["status"]) for r in reversed(history)] == [("web-2", "skipped"), ("web-1", "succeeded")]


def test_check_does_not_catch_up_a_pause_and_explain_says_paused(host: Host, tmp_path: Path) -> None:
    """The 00:00 slot ran; paused 00:30-06:00; cron skipped 01:00; the host was down 02:00-09:00.

    A check during the pause runs nothing; the check at 09:10 catches up 06:00-09:00 only, and
    `due --explain` names the pause for 01:00-05:00.
    """
    assert host.cli("run", "hourly", "--trigger", "cron", now="2026-11-20T00:00:05Z").returncode == 0
    assert host.cli("pause", "hourly", "--until", "2026-11-20T06:00Z", "--reason", "upgrade",
                    now="2026-11-20T00:30:00Z").returncode == 0
    assert host.cli("run", "hourly", "--trigger", "cron", now="2026-11-20T01:00:05Z").returncode == 75

    during = host.cli("check", "--json", now="2026-11-20T03:10:00Z")
    assert during.returncode == 0, during.stderr
    assert json.loads(during.stdout)["catchup"]["runs"] == []

    after = host.cli("check", "--json", now="2026-11-20T09:10:00Z")
    assert after.returncode == 0, after.stderr
    caught = [run["slot"] for run in json.loads(after.stdout)["catchup"]["runs"]]
    assert caught == [f"2026-11-20T0{h}:00:00+00:00" for h in (6, 7, 8, 9)]

    explained = json.loads(host.cli("due", "--explain", "hourly", "--since", "2026-11-19T23:30Z", "--json",
                                    now="2026-11-20T09:10:00Z").stdout)
    verdicts = {v["slot"][11:16]: (v["verdict"], v["reason"]) for v in explained}
    pause = "paused by alice until 2026-11-20T06:00:00+00:00: upgrade"
    assert verdicts["00:00"][0] == "ran"
    assert verdicts["01:00"] == ("paused", pause + "; cron run 2 skipped")
    assert [verdicts[f"0{h}:00"] for h in range(2, 6)] == [("paused", pause)] * 4
    assert [verdicts[f"0{h}:00"][0] for h in range(6, 10)] == ["ran"] * 4
    text = host.cli("due", "--explain", "hourly", "--since", "2026-11-19T23:30Z", now="2026-11-20T09:10:00Z").stdout
    assert f"  2026-11-20 02:00Z  paused     4 slots to 2026-11-20 05:00Z: {pause}\n" in text


def test_slots_of_a_pause_are_not_missed_in_status_and_health(host: Host, tmp_path: Path) -> None:
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    extra = {"CRONKIT_CRON_D": str(cron_d)}
    installed = host.cli("install", "--target", "cron.d", "--id", "pausetest", now="2026-11-19T23:00:00Z", **extra)
    assert installed.returncode == 0, installed.stderr
    assert host.cli("pause", "hourly", "--reason", "migration", now="2026-11-19T23:30:00Z").returncode == 0

    status = host.cli("status", "--json", now="2026-11-20T05:10:00Z", **extra)
    task = next(t for t in json.loads(status.stdout)["tasks"] if t["name"] == "hourly")
    assert task["missed"]["count"] == 0
    assert (task["paused"], task["paused_by"], task["pause_reason"], task["paused_until"]) == \
        (True, "alice", "migration", None)
    other = next(t for t in json.loads(status.stdout)["tasks"] if t["name"] == "other")
    assert other["missed"]["count"] == 6 and other["paused"] is False  # 23:30 ... 04:30 ran nowhere
    assert "paused: hourly by alice until resumed: migration" in host.cli(
        "status", now="2026-11-20T05:10:00Z", **extra).stdout
    health = host.cli("health", "--json", now="2026-11-20T05:10:00Z", **extra)
    reasons = json.loads(health.stdout)["reasons"]
    assert not [r for r in reasons if "hourly" in r], reasons

    assert host.cli("resume", "hourly", now="2026-11-20T05:10:00Z").returncode == 0
    later = json.loads(host.cli("status", "--json", now="2026-11-20T07:10:00Z", **extra).stdout)
    task = next(t for t in later["tasks"] if t["name"] == "hourly")
    assert task["paused"] is False
    assert (task["missed"]["count"], task["missed"]["latest"]) == (2, "2026-11-20T07:00:00+00:00")  # 06:00, 07:00
