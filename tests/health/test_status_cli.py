"""`cronkit status` and `cronkit health` against a real install into a cron.d directory."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cronkit.config.settings import Settings, load_settings
from cronkit.registry import Registry
from cronkit.registry.loader import load_registry
from tests.conftest import write_registry
from tests.fixturetypes import RunCli

TASKS = """
@registry.task("0 3 * * *", name="nightly", environments=["production"])
def nightly(ctx): return {"ok": 1}

@registry.task("30 2 * * *", name="paris", timezone="Europe/Paris", environments=["production"])
def paris(ctx): return {}

@registry.task("0 * * * *", name="devonly", environments=["development"])
def devonly(ctx): return {}
"""

INSTALLED = "2026-06-10T12:00:00+00:00"


@pytest.fixture
def env(tmp_path: Path, home: Path) -> dict[str, str]:
    crond = tmp_path / "cron.d"
    crond.mkdir()
    registry = write_registry(tmp_path / "statusreg.py", TASKS)
    return {"CRONKIT_TASKS": str(registry), "CRONKIT_CRON_D": str(crond), "CRONKIT_ENV": "production",
            "CRONKIT_HOME": str(home)}


@pytest.fixture
def settings_env(env: dict[str, str], cronkit_env: dict[str, str]) -> dict[str, str]:
    return {**cronkit_env, **env}


def load(environ: dict[str, str]) -> tuple[Settings, Registry]:
    settings = load_settings(environ=environ)
    assert settings.registry is not None
    return settings, load_registry(settings.registry)


@pytest.fixture
def installed(settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the block into the test's cron.d directory, in process, at INSTALLED."""
    from cronkit import clock
    from cronkit.config.settings import activate
    from cronkit.cronfile.install import install
    from cronkit.cronfile.state import default_inputs

    settings, registry = load({**settings_env, "CRONKIT_NOW": INSTALLED})
    activate(settings)
    try:
        install(settings, registry, default_inputs(settings, registry, "cron.d"))
    finally:
        clock.pin(None)
    return Path(settings_env["CRONKIT_CRON_D"]) / "statusreg"


def status(_run_cli: Any, env: dict[str, str], now: str) -> dict[str, Any]:
    """Return `cronkit status --json` at `now`, computed in process (the CLI is a thin view of it)."""
    import os

    from cronkit.health.report import status_dict as build

    settings, registry = load({**{k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}, **env})
    report = build(settings, registry, datetime.fromisoformat(now))
    shown: dict[str, Any] = json.loads(json.dumps(report, default=str))
    return shown


def test_status_after_install_and_runs(run_cli: RunCli, env: dict[str, str], installed: Path) -> None:
    at_night = {**env, "CRONKIT_NOW": "2026-06-11T03:00:20+00:00"}
    assert run_cli("run", "nightly", "--trigger", "cron", env=at_night).returncode == 0
    in_paris = {**env, "CRONKIT_NOW": "2026-06-11T00:30:03+00:00"}
    assert run_cli("run", "paris", "--trigger", "cron", env=in_paris).returncode == 0

    report = status(run_cli, env, "2026-06-11T09:00:00+00:00")
    assert {k: report[k] for k in ("initialized", "enabled", "environment", "timezone", "total_jobs",
                                    "active_jobs", "failed_jobs", "last_health_check")} == {
        "initialized": True, "enabled": True, "environment": "production", "timezone": "UTC",
        "total_jobs": 2, "active_jobs": 0, "failed_jobs": 0, "last_health_check": None,
    }
    assert set(report["services"]) == {"run_log", "redis", "crontab", "cron_daemon", "log_dir"}
    assert report["services"]["run_log"] == "up" and report["services"]["redis"] == "unused"
    assert report["services"]["crontab"] == "up" and report["services"]["log_dir"] == "up"
    assert report["services"]["cron_daemon"] in ("up", "down")
    tasks = {t["name"]: t for t in report["tasks"]}
    assert tasks["nightly"]["next_run"] == "2026-06-12T03:00:00+00:00"
    assert tasks["paris"]["next_run"] == "2026-06-12T00:30:00+00:00"
    assert tasks["nightly"]["last_run"]["status"] == "succeeded"
    assert tasks["nightly"]["last_run"]["scheduled_for"] == "2026-06-11T03:00:00+00:00"
    assert tasks["nightly"]["missed"] == {"count": 0, "latest": None, "since": "2026-06-10T12:01:00+00:00",
                                          "capped": False}
    assert tasks["paris"]["missed"]["count"] == 0
    assert tasks["devonly"]["scheduled"] is False and tasks["devonly"]["missed"] is None
    from cronkit.health.verdict import reasons_from_status

    assert reasons_from_status(report) == []

    # The next night nobody ran it: missed once the grace period has passed, not before.
    later = status(run_cli, env, "2026-06-12T03:04:00+00:00")
    assert {t["name"]: t["missed"]["count"] for t in later["tasks"] if t["scheduled"]} == {"nightly": 0, "paris": 1}
    result = run_cli("health", env={**env, "CRONKIT_NOW": "2026-06-12T03:05:00+00:00"})
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "task nightly: missed 1 slot since 2026-06-10T12:01:00+00:00, latest 2026-06-12T03:00:00+00:00",
        "task paris: missed 1 slot since 2026-06-10T12:01:00+00:00, latest 2026-06-12T00:30:00+00:00",
    ]


def test_hand_edit_is_reported_as_drift(run_cli: RunCli, env: dict[str, str], installed: Path) -> None:
    text = installed.read_text()
    assert "0 3 * * * " in text
    installed.write_text(text.replace("0 3 * * * ", "15 3 * * * ", 1))
    report = status(run_cli, env, "2026-06-10T13:00:00+00:00")
    assert report["initialized"] is False
    tasks = {t["name"]: t for t in report["tasks"]}
    assert [d["kind"] for d in tasks["nightly"]["drift"]] == ["hand-edited"]
    assert tasks["nightly"]["drift"][0]["installed"][0].startswith("15 3 * * * ")
    assert tasks["paris"]["drift"] == []
    result = run_cli("health", env={**env, "CRONKIT_NOW": "2026-06-10T13:00:00+00:00"})
    assert result.returncode == 1
    assert result.stdout == "crontab: task nightly: the installed line was edited by hand: run cronkit install\n"

    # Deleting a task's lines and the block: missing, then not installed at all.
    kept = [line for line in installed.read_text().splitlines() if " run paris " not in line]
    installed.write_text("\n".join(kept) + "\n")
    kinds = {d["task"]: d["kind"] for d in status(run_cli, env, "2026-06-10T13:00:00+00:00")["block"]["drift"]}
    assert kinds == {"nightly": "hand-edited", "paris": "missing"}
    installed.write_text("# nothing of cronkit's left\n")
    from cronkit.health.verdict import reasons_from_status

    assert reasons_from_status(status(run_cli, env, "2026-06-10T13:00:00+00:00")) == [
        "crontab: the cronkit block is not installed while 2 tasks are scheduled in production: run cronkit install"
    ]


def test_registry_change_after_install_is_reported(run_cli: RunCli, env: dict[str, str], installed: Path) -> None:
    registry = Path(env["CRONKIT_TASKS"])
    registry.write_text(registry.read_text().replace('"0 3 * * *"', '"0 4 * * *"'))
    report = status(run_cli, env, "2026-06-10T13:00:00+00:00")
    assert [(d["task"], d["kind"]) for d in report["block"]["drift"]] == [("nightly", "changed")]


def test_status_screen_for_people(run_cli: RunCli, env: dict[str, str], installed: Path) -> None:
    result = run_cli("status", env={**env, "CRONKIT_NOW": "2026-06-10T13:00:00+00:00"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "cronkit · environment production · zone UTC · checked 2026-06-10 13:00:00 UTC"
    assert lines[1] == "initialized yes · enabled yes · block statusreg (cron.d)"
    assert "services: run_log up · redis unused · crontab up · cron_daemon " in lines[3]
    rows = {line.split()[0]: line for line in lines if line.split()}
    assert "Europe/Paris" in rows["paris"] and "2026-06-11 00:30" in rows["paris"]
    assert "not here" in rows["devonly"]


def test_help_has_an_example(run_cli: RunCli) -> None:
    from cronkit.cli.app import app

    docs = {c.name: c.callback.__doc__ or "" for c in app.registered_commands if c.callback}
    for name in ("status", "health", "stats"):
        assert "Example: cronkit" in docs[name]
    result = run_cli("stats", "--help")
    assert result.returncode == 0 and "Example:" in result.stdout and "--json" in result.stdout


def test_a_skipped_run_does_not_hide_the_failure_before_it(run_cli: RunCli, tmp_path: Path, home: Path) -> None:
    """A run that failed, then a start skipped while it ran (its lock was held): health names the failure."""
    import sqlite3

    registry = write_registry(tmp_path / "skip_registry.py",
                              "registry.add('* * * * *', 'os:abort_me', name='flaky', environments='*')\n"
                              "import os\nos.abort_me = lambda ctx: 1 / 0\n")
    env = {"CRONKIT_TASKS": str(registry)}
    assert run_cli("run", "flaky", env=env).returncode == 1
    with sqlite3.connect(home / "cronkit.db") as conn:  # the skipped start, recorded after the failed one
        conn.execute("INSERT INTO runs (task, status, \"trigger\", started_at, finished_at, attempts, host, pid,"
                     " dry_run) SELECT task, 'skipped', 'cron', started_at + 1, started_at + 2, 0, host, pid, 0"
                     " FROM runs WHERE task = 'flaky'")
    health = run_cli("health", env=env)
    assert health.returncode == 1
    assert "task flaky: latest run 1 failed" in health.stdout
