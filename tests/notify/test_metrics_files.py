"""The .prom file parsed back with prometheus_client, the EMF line's shape, and missed slots by check."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.fixturetypes import Run, WriteConfig
from tests.notify.conftest import notifications, runs
from tests.notify.receivers import HttpReceiver


def parse(path: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_prom_file_matches_the_run_log(run: Run, config: WriteConfig, home: Path, tmp_path: Path) -> None:
    config(f'metrics_dir = "{tmp_path / "metrics"}"\nemf_file = "{tmp_path / "emf.log"}"\n')
    for fail in (1, 0, 1, 0, 0):
        run("run", "flip", "--param", f"fail={fail}")
    prom = tmp_path / "metrics" / "cronkit_flip.prom"
    metrics = parse(prom)
    log = runs(home)
    by_status = {s: sum(1 for r in log if r["status"] == s) for s in ("succeeded", "failed")}
    total = metrics["cronkit_task_runs_total"]
    assert total[(("status", "succeeded"), ("task", "flip"))] == by_status["succeeded"] == 3
    assert total[(("status", "failed"), ("task", "flip"))] == by_status["failed"] == 2
    assert metrics["cronkit_task_run_duration_seconds_count"][(("task", "flip"),)] == 5
    assert metrics["cronkit_task_run_duration_seconds_sum"][(("task", "flip"),)] == sum(r["duration_ms"] for r in log) / 1000
    last_ok = max(r["finished_at"] for r in log if r["status"] == "succeeded") / 1000
    assert metrics["cronkit_task_last_success_timestamp_seconds"][(("task", "flip"),)] == last_ok
    assert metrics["cronkit_task_info"][(("schedule", "* * * * *"), ("task", "flip"), ("timezone", "UTC"))] == 1
    assert metrics["cronkit_dead_letters_open"][(("task", "flip"),)] == 2
    assert metrics["cronkit_task_running"][(("task", "flip"),)] == 0
    assert not list((tmp_path / "metrics").glob(".*tmp"))  # the temp file was renamed away

    lines = (tmp_path / "emf.log").read_text().splitlines()
    assert len(lines) == 5
    for line, row in zip(lines, log, strict=True):
        doc = json.loads(line)
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        assert isinstance(doc["_aws"]["Timestamp"], int) and directive["Namespace"] == "cronkit"
        for dims in directive["Dimensions"]:
            assert all(isinstance(doc[d], str) for d in dims)
        for metric in directive["Metrics"]:
            assert isinstance(doc[metric["Name"]], int | float) and metric["Unit"] in ("Milliseconds", "Count")
        assert doc["Duration"] == row["duration_ms"] and doc["Failed"] == (row["status"] == "failed")


def test_check_notifies_a_missed_slot_once(run: Run, config: WriteConfig, http: HttpReceiver, home: Path, tmp_path: Path) -> None:
    config(f"""
metrics_dir = "{tmp_path / 'metrics'}"

[notify]
default = ["hook"]

[notify.hook]
kind = "webhook"
url = "{http.url('/h')}"
on = ["missed"]
""")
    installed = datetime.now(UTC) - timedelta(minutes=30)
    state = {"installed_at": installed.isoformat(), "tasks": {"flip": {"installed_at": installed.isoformat()}}}
    (home / "install-state.json").write_text(json.dumps(state))
    first = run("check", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["duties"]["missed"]["queued"] == 1 and report["duties"]["outbox"]["delivered"] == 1
    (body,) = [json.loads(r.body) for r in http.requests]
    assert body["event"] == "missed" and body["task"] == "flip" and body["run_id"] is None
    assert body["error"].split()[0].isdigit()  # "<n> slots missed, the latest ..."
    missed = parse(tmp_path / "metrics" / "cronkit_flip.prom")["cronkit_task_missed_slots"][(("task", "flip"),)]
    assert missed >= 20
    assert int(body["error"].split()[0]) == missed  # one event for every slot missed so far
    assert run("check").returncode == 0
    assert len(http.requests) == 1  # the same slots are not notified twice
    with sqlite3.connect(home / "cronkit.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM notifications").fetchone()[0] == 1
    assert notifications(home)[0]["state"] == "delivered"


def test_tasks_missing_the_same_slot_are_each_notified(run: Run, config: WriteConfig, http: HttpReceiver, notify_env: dict[str, str], home: Path,
                                                       tmp_path: Path) -> None:
    from tests.conftest import write_registry

    twins = "".join(f'@registry.task("*/5 * * * *", name="{name}", environments=["*"])\ndef {name}(ctx): pass\n'
                    for name in ("alpha", "beta"))
    notify_env["CRONKIT_TASKS"] = str(write_registry(tmp_path / "twins.py", twins))
    config(f'[notify]\ndefault = ["hook"]\n\n[notify.hook]\nkind = "webhook"\nurl = "{http.url("/h")}"\non = ["missed"]\n')
    installed = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    (home / "install-state.json").write_text(json.dumps(
        {"installed_at": installed, "tasks": {"alpha": {"installed_at": installed}, "beta": {"installed_at": installed}}}))
    report = json.loads(run("check", "--json").stdout)
    assert report["duties"]["missed"]["queued"] == 2
    bodies = [json.loads(r.body) for r in http.requests]
    assert sorted(b["task"] for b in bodies) == ["alpha", "beta"]
    assert len({b["scheduled_for"] for b in bodies}) == 1  # the same latest slot, one event per task
