"""Catch-up after downtime: `cronkit check` runs missed slots per policy, each once across hosts.

The clock is injected (CRONKIT_NOW): the host ran the daily slot of 2026-11-19, was down from
2026-11-19 20:00 to 2026-11-21 02:00 (30 hours, over the slots of 11-20 and 11-21), then booted.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from cronkit.duties.catchup import (
    CATCH_UP,
    RAN,
    SKIPPED,
    Served,
    SlotVerdict,
    explain,
    explain_window,
    fold,
    plan,
)
from cronkit.registry import Registry
from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.times import to_ms
from cronkit.tasks import platform as p
from tests.conftest import CRONKIT, need, run_cronkit, write_registry

RAN_19 = "2026-11-19T00:00:05+00:00"
BOOT = "2026-11-21T02:00:00+00:00"
SLOT_20, SLOT_21 = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def daily_registry(tmp_path: Path, **options: Any) -> Path:
    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return write_registry(tmp_path / "catchtasks.py", (
        'registry.add("0 0 * * *", "cronkit.tasks.analytics.daily:daily_analytics_updates",'
        f' name="daily", environments=["*"], {opts})\n'
    ))


def seed_platform(url: str) -> None:
    engine = create_engine_for(url)
    p.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(p.courses), [{"id": 1, "title": "Cron", "created_at": utc(2026, 1, 1)}])
    engine.dispose()


def stats_days(url: str) -> list[date]:
    engine = create_engine_for(url)
    with engine.connect() as conn:
        days = sorted({row.day for row in conn.execute(select(p.daily_course_stats.c.day))})
    engine.dispose()
    return days


def runs(db_url: str) -> list[dict[str, Any]]:
    from cronkit.runlog.schema import runs as table

    engine = create_engine_for(db_url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))]
    engine.dispose()
    return rows


class Host:
    """One host: its own CRONKIT_HOME; run log and platform DB may be shared with another."""

    def __init__(self, env: dict[str, str], home: Path, registry: Path, db_url: str, app_url: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.env = {**env, "CRONKIT_HOME": str(home), "CRONKIT_TASKS": str(registry), "CRONKIT_DB_URL": db_url,
                    "CRONKIT_APP_DB_URL": app_url}
        self.db_url = db_url

    def cli(self, *args: str, now: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cronkit(args, {**self.env, "CRONKIT_NOW": now, **(extra or {})}, self.home)

    def popen(self, *args: str, now: str) -> subprocess.Popen[str]:
        return subprocess.Popen([CRONKIT, *args], env={**self.env, "CRONKIT_NOW": now},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def host_before_downtime(tmp_path: Path, cronkit_env: dict[str, str], **options: Any) -> Host:
    registry = daily_registry(tmp_path, **options)
    app_url = f"sqlite:///{tmp_path / 'platform.db'}"
    seed_platform(app_url)
    host = Host(cronkit_env, tmp_path / "home", registry, f"sqlite:///{tmp_path / 'runlog.db'}", app_url)
    done = host.cli("run", "daily", "--trigger", "cron", now=RAN_19)  # the last slot before the downtime
    assert done.returncode == 0, done.stderr
    return host


@pytest.mark.parametrize("options, caught_up, days", [
    ({"catchup": "latest"}, [SLOT_21], [date(2026, 11, 18), date(2026, 11, 20)]),
    ({"catchup": "all", "catchup_window": "48h"}, [SLOT_20, SLOT_21],
     [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]),
    ({"catchup": "all", "catchup_window": "48h", "catchup_max": 1}, [SLOT_21],
     [date(2026, 11, 18), date(2026, 11, 20)]),
    ({"catchup": "skip"}, [], [date(2026, 11, 18)]),
], ids=["latest", "all", "all-capped", "skip"])
def test_a_host_down_30_hours_catches_up_at_boot_per_policy(
        tmp_path: Path, cronkit_env: dict[str, str], options: dict[str, Any], caught_up: list[datetime],
        days: list[date]) -> None:
    host = host_before_downtime(tmp_path, cronkit_env, **options)
    boot = host.cli("check", "--boot", now=BOOT)
    assert boot.returncode == 0, boot.stderr
    catchups = [r for r in runs(host.db_url) if r["trigger"] == "catchup"]
    assert [(r["scheduled_for"], r["status"]) for r in catchups] == [(to_ms(s), "succeeded") for s in caught_up]
    assert boot.stdout.count("caught up daily") == len(caught_up)
    assert stats_days(str(host.env["CRONKIT_APP_DB_URL"])) == days  # the rows of the days the slots missed
    again = host.cli("check", now="2026-11-21T02:05:00+00:00")  # the periodic line: nothing left to do
    assert again.returncode == 0 and again.stdout == "" and again.stderr == ""
    assert len(runs(host.db_url)) == 1 + len(caught_up)


def test_due_explain_reports_a_slot_older_than_the_window_and_why(
        tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    host = host_before_downtime(tmp_path, cronkit_env, catchup="all")  # window: the default 24h
    before = host.cli("due", "--explain", "daily", now=BOOT)
    assert before.returncode == 0, before.stderr
    assert before.stdout.splitlines() == [
        "daily: 0 0 * * * in UTC; catchup=all, catchup_window=24h, catchup_max=24",
        "  2026-11-19 00:00Z  ran        cron run 1: succeeded",
        "  2026-11-20 00:00Z  skipped    missed, older than catchup_window=24h",
        "  2026-11-21 00:00Z  catch up   missed; catchup=all",
    ]
    assert host.cli("check", "--boot", now=BOOT).returncode == 0
    after = json.loads(host.cli("due", "--explain", "daily", "--json", now=BOOT).stdout)
    assert [(v["slot"][:10], v["verdict"], v["trigger"]) for v in after] == [
        ("2026-11-19", "ran", "cron"), ("2026-11-20", "skipped", None), ("2026-11-21", "ran", "catchup")]
    assert stats_days(str(host.env["CRONKIT_APP_DB_URL"])) == [date(2026, 11, 18), date(2026, 11, 20)]


@pytest.mark.slow
def test_a_task_never_installed_nor_run_by_cron_is_not_caught_up(
        tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    registry = daily_registry(tmp_path, catchup="all")
    app_url = f"sqlite:///{tmp_path / 'platform.db'}"
    seed_platform(app_url)
    host = Host(cronkit_env, tmp_path / "home", registry, f"sqlite:///{tmp_path / 'runlog.db'}", app_url)
    check = host.cli("check", "--json", now=BOOT)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["catchup"]["runs"] == []
    assert runs(host.db_url) == []
    explained = host.cli("due", "--explain", "daily", now=BOOT)
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.splitlines()[-1] == (
        "  2026-11-21 00:00Z  skipped    missed; never installed here nor run by cron,"
        " so `cronkit check` does not catch it up")
    assert "catch up" not in explained.stdout
    # --since takes a duration ago, as history's does: 50 hours before the boot, two slots.
    recent = host.cli("due", "--explain", "daily", "--since", "50h", now=BOOT)
    assert recent.returncode == 0, recent.stderr
    assert [line.split()[0] for line in recent.stdout.splitlines()[1:]] == ["2026-11-20", "2026-11-21"]


def test_due_explain_folds_alike_slots_and_says_where_it_cut_the_window(
        tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    registry = write_registry(tmp_path / "hourlytasks.py", (
        '@registry.task("0 * * * *", name="hourly-job", environments=["*"])\n'
        "def hourly_job(ctx: TaskContext) -> None:\n    pass\n"))
    host = Host(cronkit_env, tmp_path / "home", registry, f"sqlite:///{tmp_path / 'runlog.db'}", "sqlite://")
    for at in ("2026-11-30T06:00:05+00:00", "2026-11-30T07:00:05+00:00"):  # cron's first runs here
        assert host.cli("run", "hourly-job", "--trigger", "cron", now=at).returncode == 0
    now = "2026-11-30T08:20:00+00:00"
    text = host.cli("due", "--explain", "hourly-job", now=now)
    assert text.returncode == 0, text.stderr
    before = "missed before its first cron run (2026-11-30 06:00Z)"
    assert text.stdout.splitlines() == [
        "hourly-job: 0 * * * * in UTC; catchup=latest, catchup_window=24h, catchup_max=24",
        f"  2026-11-27 09:00Z  skipped    69 slots to 2026-11-30 05:00Z: {before}",
        "  2026-11-30 06:00Z  ran        cron run 1: succeeded",
        "  2026-11-30 07:00Z  ran        cron run 2: succeeded",
        "  2026-11-30 08:00Z  catch up   missed; catchup=latest",
    ]
    per_slot = json.loads(host.cli("due", "--explain", "hourly-job", "--json", now=now).stdout)
    assert len(per_slot) == 72 and [v["reason"] for v in per_slot[:69]] == [before] * 69
    # 400 days of an hourly task: the latest 200 slots are explained, and the cut is said.
    cut = host.cli("due", "--explain", "hourly-job", "--since", "400d", now=now)
    assert cut.returncode == 0, cut.stderr
    assert cut.stdout.splitlines()[1:3] == [
        "  (the latest 200 slots; 9400 older ones not shown)",
        f"  2026-11-22 01:00Z  skipped    197 slots to 2026-11-30 05:00Z: {before}",
    ]
    cut_json = host.cli("due", "--explain", "hourly-job", "--since", "400d", "--json", now=now)
    assert len(json.loads(cut_json.stdout)) == 200
    assert cut_json.stderr == "cronkit: warning: the latest 200 slots; 9400 older ones not shown\n"


def test_without_an_install_record_the_first_cron_run_marks_the_start(
        tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    host = host_before_downtime(tmp_path, cronkit_env, catchup="all")  # its cron run of 11-19, no install
    explained = host.cli("due", "--explain", "daily", "--since", "2026-11-17T12:00:00+00:00", now=BOOT)
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.splitlines()[1] == (
        "  2026-11-18 00:00Z  skipped    missed before its first cron run (2026-11-19 00:00Z)")


def test_two_hosts_booting_together_catch_up_each_slot_once(
        tmp_path: Path, cronkit_env: dict[str, str], pg_url: str, redis_url: str) -> None:
    registry = daily_registry(tmp_path, catchup="all", catchup_window="48h")
    app_url = f"sqlite:///{tmp_path / 'platform.db'}"
    seed_platform(app_url)
    env = {**cronkit_env, "CRONKIT_REDIS_URL": redis_url}
    a = Host(env, tmp_path / "a", registry, pg_url, app_url)
    b = Host({**env, "CRONKIT_HOSTNAME": "host-b"}, tmp_path / "b", registry, pg_url, app_url)
    assert a.cli("run", "daily", "--trigger", "cron", now=RAN_19).returncode == 0
    procs = [h.popen("check", "--boot", now=BOOT) for h in (a, b)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    for h in (a, b):  # a slot one host left because the other held the task's lock is done by now
        assert h.cli("check", now="2026-11-21T02:05:00+00:00").returncode == 0
    done = [r for r in runs(pg_url) if r["trigger"] == "catchup" and r["status"] == "succeeded"]
    assert sorted(r["scheduled_for"] for r in done) == [to_ms(SLOT_20), to_ms(SLOT_21)]
    assert stats_days(app_url) == [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]


# --- the planner alone -----------------------------------------------------------------------------


def task(**options: Any) -> Any:
    reg = Registry()
    return reg.add("0 * * * *", "m:f", name="hourly", **options)


def test_plan_is_oldest_first_capped_and_respects_install_and_served() -> None:
    now = utc(2026, 11, 21, 10, 30)
    hourly = task(catchup="all", catchup_max=4)
    served = {"hourly": {to_ms(utc(2026, 11, 21, 9)): Served(7, "succeeded", "cron")}}
    todo = plan([hourly], {"hourly": "UTC"}, served, now)  # the newest 4 slots, less the one that ran
    assert [c.slot for c in todo] == [utc(2026, 11, 21, 7), utc(2026, 11, 21, 8), utc(2026, 11, 21, 10)]
    installed = {"hourly": utc(2026, 11, 21, 7, 30)}
    assert [c.slot.hour for c in plan([hourly], {"hourly": "UTC"}, served, now, installed)] == [8, 10]
    hourly = task(catchup="all", catchup_max=3)
    verdicts = explain(hourly, "UTC", served["hourly"], utc(2026, 11, 21, 10, 2), utc(2026, 11, 21, 5, 30))
    assert [(v.slot.hour, v.verdict) for v in verdicts] == [
        (6, SKIPPED), (7, CATCH_UP), (8, CATCH_UP), (9, RAN), (10, "pending")]
    assert "beyond catchup_max=3" in verdicts[0].reason
    latest = task(catchup="latest")
    assert [c.slot.hour for c in plan([latest], {"hourly": "UTC"}, served, now)] == [10]
    assert plan([latest], {"hourly": "UTC"}, served, utc(2026, 11, 21, 9, 30)) == []  # the newest ran


def test_fold_joins_alike_slots_but_never_slots_that_ran() -> None:
    now = utc(2026, 11, 21, 10, 2)
    verdicts = explain(task(catchup="skip"), "UTC", {}, now, utc(2026, 11, 21, 5, 30))
    assert [(f.first.slot.hour, f.last.hour, f.count, f.first.verdict) for f in fold(verdicts)] == [
        (6, 9, 4, SKIPPED), (10, 10, 1, "pending")]
    ran = [SlotVerdict("hourly", utc(2026, 11, 21, hour), RAN, "cron run 1: succeeded") for hour in (6, 7)]
    assert [f.count for f in fold(ran)] == [1, 1]


def test_explain_keeps_the_latest_200_slots_and_counts_the_older_ones() -> None:
    window = explain_window(task(), "UTC", {}, utc(2026, 11, 21, 10, 2), utc(2026, 11, 8, 21, 30))  # 301 slots
    assert (len(window.verdicts), window.older, window.verdicts[0].slot) == (200, 101, utc(2026, 11, 13, 3))


def test_faketime_around_the_real_commands_catches_up_the_latest_day(
        tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    """End to end with the real clock faked (libfaketime), no CRONKIT_NOW: cron's run, then a boot."""
    import shutil

    if shutil.which("faketime") is None:
        need("faketime", "apt-get install faketime")
    registry = daily_registry(tmp_path)  # catchup: the default for a daily task, latest
    app_url = f"sqlite:///{tmp_path / 'platform.db'}"
    seed_platform(app_url)
    host = Host(cronkit_env, tmp_path / "home", registry, f"sqlite:///{tmp_path / 'runlog.db'}", app_url)

    def at(instant: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["faketime", "-f", f"@{instant}", CRONKIT, *args], env={**host.env, "TZ": "UTC"},
                              capture_output=True, text=True, timeout=120)

    assert at("2026-11-19 00:00:05", "run", "daily", "--trigger", "cron").returncode == 0
    boot = at("2026-11-21 02:00:00", "check", "--boot")
    assert boot.returncode == 0, boot.stderr
    assert [(r["trigger"], r["scheduled_for"]) for r in runs(host.db_url)] == [
        ("cron", to_ms(utc(2026, 11, 19))), ("catchup", to_ms(SLOT_21))]
    assert stats_days(app_url) == [date(2026, 11, 18), date(2026, 11, 20)]
