"""Where insights show: `cronkit insights`, `status --json`, `health`, `cronkit check`'s `insight`
notification, the API, /metrics and the dashboard. The long history is written through the run
log's writer (RunStore), as the runner writes it."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cronkit import runlog
from cronkit.runlog.times import to_ms
from tests.fixturetypes import RunCli
from tests.runlog.outcomes import finish_run

from ..conftest import write_registry
from ..notify.receivers import HttpReceiver
from ..web.serverkit import Server, make_token

REGISTRY = """
@registry.task("0 2 * * *", name="nightly-export", environments=["production"], timeout="10m")
def nightly_export(ctx):
    return {}


@registry.task("30 2 * * *", name="steady", environments=["production"], timeout="10m")
def steady(ctx):
    return {}
"""
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def fill(home: Path, *, last_ms: int = 530_000) -> None:
    """Thirty nights of both tasks; nightly-export's last run took `last_ms` (its usual is about 2 min)."""
    store = runlog.open(f"sqlite:///{home / 'cronkit.db'}", create=True)
    rng = random.Random(5)
    try:
        for day in range(30):
            for name, minute in (("nightly-export", 0), ("steady", 30)):
                slot = datetime(2026, 10, 31, 2, minute, tzinfo=UTC) + timedelta(days=day)
                took = last_ms if (name == "nightly-export" and day == 29) else int(120_000 * rng.gauss(1, 0.05))
                run_id = store.start_run(task=name, trigger="cron", scheduled_for=to_ms(slot),
                                         started_at=to_ms(slot) + 700, user="cron")
                finish_run(store, run_id, status="succeeded", finished_at=to_ms(slot) + 700 + took, duration_ms=took,
                                 attempts=1, exit_code=0, usage={"cpu_user_ms": took // 4, "cpu_system_ms": took // 50,
                                                                  "max_rss_kb": 70_000 + rng.randint(0, 2000)})
    finally:
        store.close()


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path, home: Path) -> dict[str, str]:
    registry = write_registry(tmp_path / "surfaces_registry.py", REGISTRY)
    fill(home)
    return {**cronkit_env, "CRONKIT_TASKS": str(registry), "CRONKIT_NOW": NOW.isoformat()}


def test_the_insights_command(run_cli: RunCli, env: dict[str, str]) -> None:
    done = run_cli("insights", "--json", env=env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["insights"]
    assert [(f["task"], f["kind"], f["severity"]) for f in found] == [("nightly-export", "slow_run", "critical")]
    assert set(found[0]) == {"task", "kind", "severity", "since", "evidence", "message"}
    assert found[0]["since"] == "2026-11-29T02:00:00+00:00"
    text = run_cli("insights", env=env)
    assert text.returncode == 0 and "nightly-export" in text.stdout and "slow_run" in text.stdout
    assert "took 8m50s" in text.stdout and "critical" in text.stdout
    assert json.loads(run_cli("insights", "steady", "--json", env=env).stdout) == {"insights": []}
    assert run_cli("insights", "steady", env=env).stdout == "no findings for task steady over the last 30 days\n"
    # The window: 1 day back holds one run of each task, too few for anything.
    assert json.loads(run_cli("insights", "--days", "1", "--json", env=env).stdout) == {"insights": []}
    bad = run_cli("insights", "nightly-exprot", env=env)
    assert bad.returncode == 2 and "unknown task 'nightly-exprot'" in bad.stderr and "nightly-export" in bad.stderr


def test_status_and_health_list_insights(run_cli: RunCli, env: dict[str, str]) -> None:
    status = json.loads(run_cli("status", "--json", env=env).stdout)
    assert [(i["task"], i["kind"]) for i in status["insights"]] == [("nightly-export", "slow_run")]
    health = run_cli("health", env=env)
    assert health.returncode == 0, health.stdout  # a finding is no health reason by default
    lines = health.stdout.splitlines()
    assert lines[0] == "healthy" and lines[1].startswith("task nightly-export: insight slow_run (critical): run 59 took")
    as_json = json.loads(run_cli("health", "--json", env=env).stdout)
    assert as_json["healthy"] is True and as_json["reasons"] == [] and len(as_json["insights"]) == 1
    strict = run_cli("health", env={**env, "CRONKIT_INSIGHTS_CRITICAL_UNHEALTHY": "true"})
    assert strict.returncode == 1 and strict.stdout.splitlines() == lines[1:]


def test_a_warning_stays_out_of_health_even_when_strict(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    (home / "cronkit.db").unlink()
    fill(home, last_ms=300_000)  # 5 min: slow, but far from the 10 min timeout: a warning
    strict = run_cli("health", "--json", env={**env, "CRONKIT_INSIGHTS_CRITICAL_UNHEALTHY": "1"})
    body = json.loads(strict.stdout)
    assert strict.returncode == 0 and body["healthy"] and body["insights"][0]["severity"] == "warning"


def test_task_tables_tune_insights(run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "cronkit.toml"
    config.write_text('[tasks.nightly-export.insights]\ndisabled = ["slow_run"]\n')
    assert json.loads(run_cli("insights", "--json", env={**env, "CRONKIT_CONFIG": str(config)}).stdout) == \
        {"insights": []}
    config.write_text("[tasks.nightly-export.insights]\nslow_run_z = -1\n")
    bad = run_cli("insights", env={**env, "CRONKIT_CONFIG": str(config)})
    assert bad.returncode == 78 and "tasks.nightly-export.insights.slow_run_z: must be a number >= 0" in bad.stderr


def test_check_notifies_a_new_finding_once(run_cli: RunCli, env: dict[str, str], tmp_path: Path, home: Path) -> None:
    receiver = HttpReceiver()
    try:
        config = tmp_path / "cronkit.toml"
        config.write_text(f'[notify]\ndefault = ["hook"]\n\n[notify.hook]\nkind = "webhook"\n'
                          f'url = "{receiver.url("/hook")}"\non = ["insight"]\n')
        checked = {**env, "CRONKIT_CONFIG": str(config)}
        first = run_cli("check", "--json", env=checked)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["duties"]["insights"] == {"findings": 1, "queued": 1}
        second = run_cli("check", "--json", env={**checked, "CRONKIT_NOW": (NOW + timedelta(minutes=5)).isoformat()})
        assert json.loads(second.stdout)["duties"]["insights"] == {"findings": 1, "queued": 0}
        assert len(receiver.requests) == 1
        body = json.loads(receiver.requests[0].body)
        assert body["event"] == "insight" and body["task"] == "nightly-export" and body["status"] == "critical"
        assert body["insight"]["kind"] == "slow_run" and body["error"].startswith("run 59 took 8m50s")
        with sqlite3.connect(home / "cronkit.db") as db:
            rows = db.execute("SELECT event, dedup, state FROM notifications").fetchall()
        assert rows == [("insight", "insight:nightly-export:slow_run:1795917600700", "delivered")]
    finally:
        receiver.stop()


def test_api_metrics_and_dashboard(env: dict[str, str], tmp_path: Path) -> None:
    token = make_token(env, tmp_path, "viewer", "read")
    server = Server(env, tmp_path)
    try:
        with server.client(token) as client:
            found = client.get("/api/v1/insights").json()["insights"]
            assert [(f["task"], f["kind"], f["severity"]) for f in found] == [("nightly-export", "slow_run", "critical")]
            assert client.get("/api/v1/insights?task=steady").json() == {"insights": []}
            assert client.get("/api/v1/insights?task=nope").status_code == 404
            assert client.get("/api/v1/insights?days=0").status_code == 422
            metrics = client.get("/metrics").text
            assert 'cronkit_task_insight{kind="slow_run",severity="critical",task="nightly-export"} 1.0' in metrics
            run = client.get(f"/api/v1/runs/{found[0]['evidence']['run_id']}").json()
            assert run["max_rss_kb"] >= 70_000 and run["cpu_user_ms"] == 530_000 // 4
            assert run["attempt_log"] == []  # written by hand above: no attempts
            page = client.post("/signin", data={"token": token, "csrf": _signin_csrf(client)}, follow_redirects=True)
            assert page.status_code == 200
            assert 'class="badge insight critical"' in page.text and 'data-kind="slow_run"' in page.text
            task_page = client.get("/tasks/nightly-export").text
            assert 'id="insight-slow_run"' in task_page and "run 59 took 8m50s" in task_page
            assert "peak RSS p50 / p95" in task_page
    finally:
        server.stop()


def _signin_csrf(client: Any) -> str:
    from ..web.serverkit import csrf_of

    return csrf_of(client.get("/signin").text)


def test_insights_read_a_postgresql_run_log(pg_url: str) -> None:
    """The same SQL on PostgreSQL (its boolean dry_run, its quoted "trigger")."""
    from cronkit.insights.read import find
    from cronkit.registry import Task
    from cronkit.runlog.enginelink import execute_on
    from cronkit.runlog.engines import create_engine_for

    store = runlog.open(pg_url, create=True)
    try:
        for day in range(25):
            took = 900_000 if day == 24 else 60_000 + day * 100
            run_id = store.start_run(task="pg-task", trigger="cron", scheduled_for=day * 86_400_000,
                                     started_at=day * 86_400_000 + 500, user="cron")
            finish_run(store, run_id, status="succeeded", finished_at=day * 86_400_000 + took, duration_ms=took,
                             attempts=1, exit_code=0, usage={"max_rss_kb": 50_000})
        dry = store.start_run(task="pg-task", trigger="manual", started_at=25 * 86_400_000, user="me", dry_run=True)
        finish_run(store, dry, status="succeeded", finished_at=25 * 86_400_000 + 5, duration_ms=5, attempts=1, exit_code=0)
    finally:
        store.close()
    engine = create_engine_for(pg_url)
    try:
        with engine.connect() as conn:
            found = find(execute_on(conn), [Task("pg-task", "0 0 * * *", "x:y", timeout=3600)], {},
                         datetime.fromtimestamp(26 * 86_400, UTC))
    finally:
        engine.dispose()
    assert [(f.kind, f.evidence["run_id"]) for f in found] == [("slow_run", 25)]  # the dry run is not "the latest"
