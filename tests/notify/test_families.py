"""`/metrics` and the `.prom` files export the same families, HELP, TYPE, buckets and `le` labels (SPEC 19)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cronkit import runlog
from cronkit.config.settings import load_settings
from cronkit.notify import promfile
from cronkit.notify.families import FAMILIES, TASK_FAMILIES
from cronkit.registry import Registry
from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.times import to_ms
from cronkit.runlog.totals import BUCKETS, FINAL_STATUSES
from cronkit.web.metrics import RunLogCollector
from tests.conftest import need
from tests.runlog.outcomes import finish_run

NOW = datetime.now(UTC).replace(microsecond=0)


def both_exports(tmp_path: Path, url: str | None = None) -> tuple[str, str]:
    """Record a few runs of two tasks; return alpha's .prom file and a /metrics scrape of the same log."""
    url = url or f"sqlite:///{tmp_path / 'runlog.db'}"
    settings = load_settings(options={"db_url": url, "home": str(tmp_path / "home")}, environ={})
    registry = Registry()
    for name in ("alpha", "beta"):
        registry.task("*/5 * * * *", name=name, environments=["*"], timeout="10m")(lambda ctx: None)
    store = runlog.open(url, create=True)
    for i, (status, ms) in enumerate([("succeeded", 400), ("failed", 12_000), ("succeeded", 2_500)]):
        started = NOW - timedelta(minutes=10 - i)
        run_id = store.start_run(task="alpha", trigger="cron", started_at=to_ms(started), user="ops")
        finish_run(store, run_id, status=status, finished_at=to_ms(started) + ms, duration_ms=ms, attempts=1,
                         exit_code=0 if status == "succeeded" else 1)
    store.start_run(task="alpha", trigger="cron", started_at=to_ms(NOW - timedelta(minutes=1)), user="ops")
    prom = promfile.render(store, settings, registry["alpha"], NOW)
    store.close()
    engine = create_engine_for(url)
    metrics = CollectorRegistry(auto_describe=False)
    metrics.register(RunLogCollector(engine, settings, registry, "9.9.9", lambda: None))
    scraped = generate_latest(metrics).decode()
    engine.dispose()
    return prom, scraped


def samples(text: str, task: str = "alpha") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.labels.get("task") == task}


def test_the_prom_file_and_metrics_agree_family_by_family(tmp_path: Path) -> None:
    prom, scraped = both_exports(tmp_path)
    prom_headers = re.findall(r"^# (?:HELP|TYPE) .*$", prom, re.M)
    scraped_headers = set(re.findall(r"^# (?:HELP|TYPE) .*$", scraped, re.M))
    assert len(prom_headers) == 2 * len(TASK_FAMILIES)
    assert set(prom_headers) <= scraped_headers  # same names, HELP and TYPE, word for word
    # The same samples (values, labels, `le` as written), but for the two /metrics takes from the status
    # report, which this scrape has not computed yet.
    from_report = {"cronkit_task_missed_slots", "cronkit_task_next_run_timestamp_seconds"}
    assert {k: v for k, v in samples(prom).items() if k[0] not in from_report} == samples(scraped)
    les = {m for m in re.findall(r'[{,]le="([^"]+)"', prom)}
    assert les == {m for m in re.findall(r'[{,]le="([^"]+)"', scraped)}
    assert les == {*(f"{b:g}" for b in BUCKETS), "+Inf"} and "1" in les and "0.5" in les


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_counters_are_exported_at_zero_and_running_is_a_gauge(tmp_path: Path, database: str,
                                                              request: pytest.FixtureRequest) -> None:
    prom, scraped = both_exports(tmp_path, request.getfixturevalue("pg_url") if database == "postgresql" else None)
    for text, task in ((prom, "alpha"), (scraped, "alpha"), (scraped, "beta")):
        found = samples(text, task)
        statuses = {dict(labels)["status"]: value for (name, labels), value in found.items()
                    if name == "cronkit_task_runs_total"}
        assert set(statuses) == set(FINAL_STATUSES)  # every final status, never `running`
        running = found[("cronkit_task_running", (("task", task),))]
        assert running == (1 if task == "alpha" else 0)
    alpha = samples(prom)
    assert alpha[("cronkit_task_runs_total", (("status", "succeeded"), ("task", "alpha")))] == 2
    assert alpha[("cronkit_task_runs_total", (("status", "lost"), ("task", "alpha")))] == 0
    assert alpha[("cronkit_task_interval_seconds", (("task", "alpha"),))] == 300
    assert alpha[("cronkit_task_timeout_seconds", (("task", "alpha"),))] == 600
    assert alpha[("cronkit_task_last_duration_seconds", (("task", "alpha"),))] == 2.5
    assert alpha[("cronkit_task_running_since_timestamp_seconds", (("task", "alpha"),))] == (
        NOW - timedelta(minutes=1)).timestamp()
    assert alpha[("cronkit_task_missed_slots_total", (("task", "alpha"),))] == 0
    assert ("cronkit_task_running_since_timestamp_seconds", (("task", "beta"),)) not in samples(scraped, "beta")
    assert "cronkit_build_info" in scraped and "cronkit_build_info" not in prom


def test_a_start_failure_is_exported_per_block(tmp_path: Path) -> None:
    from cronkit.runlog import startfail

    startfail.record(tmp_path / "home", "blk", task="alpha", error="bad registry", exit_code=78,
                     at="2026-12-01T10:00:00+00:00")
    _, scraped = both_exports(tmp_path)
    found = {tuple(s.labels.items()): s.value for f in text_string_to_metric_families(scraped)
             for s in f.samples if s.name == "cronkit_start_failure_timestamp_seconds"}
    assert found == {(("block", "blk"),): datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp()}


@pytest.mark.parametrize("which", ["prom", "metrics"])
def test_both_exports_pass_promtool(tmp_path: Path, which: str) -> None:
    if shutil.which("promtool") is None:
        need("promtool", "apt-get install prometheus")
    prom, scraped = both_exports(tmp_path)
    proc = subprocess.run(["promtool", "check", "metrics"], input=prom if which == "prom" else scraped,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr


def test_every_family_has_help_and_a_known_type() -> None:
    assert all(kind in ("gauge", "counter", "histogram") and text.endswith(".") for kind, text in FAMILIES.values())
    assert all(name.endswith("_total") for name, (kind, _) in FAMILIES.items() if kind == "counter")
