"""`/health/deep` against real faults: Redis killed, the database stalled behind a TCP proxy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixturetypes import RunCli

from ..conftest import RedisServer, need, write_registry
from .serverkit import REGISTRY, Server, StallingProxy, make_token, server_env


@pytest.fixture
def cronkit_env(cronkit_env: dict[str, str]) -> dict[str, str]:
    """These tests use the built-in registry, named explicitly (no registry configured is an error)."""
    cronkit_env["CRONKIT_TASKS"] = "cronkit.tasks"
    return cronkit_env

# The service answers within its bound (web.health.DEEP_TIMEOUT, 6 s); a client that waits longer
# than this fails the test with a timeout instead of hanging.
CLIENT_TIMEOUT = 15.0


def _env(tmp_path: Path, cronkit_env: dict[str, str], **extra: str) -> dict[str, str]:
    return server_env(cronkit_env, write_registry(tmp_path / "health_tasks.py", REGISTRY), **extra)


@pytest.mark.slow
def test_deep_health_is_503_within_the_bound_when_redis_dies(tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    if shutil.which("redis-server") is None:
        need("redis-server", "apt-get install redis-server")
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        env = _env(tmp_path, cronkit_env, CRONKIT_REDIS_URL=redis.url)
        token = make_token(env, tmp_path, "lb", "read")
        server = Server(env, tmp_path)
        try:
            with server.client(token, timeout=CLIENT_TIMEOUT) as client:
                before = client.get("/health/deep")
                assert before.json()["components"]["redis"]["state"] == "up", before.text
                assert before.json()["components"]["redis"]["ms"] >= 0
                redis.stop()
                after = client.get("/health/deep")
                assert after.status_code == 503
                body = after.json()
                assert body["healthy"] is False and body["components"]["redis"]["state"] == "down"
                assert body["components"]["run_log"]["state"] == "up"
                assert any(r.startswith("redis down") for r in body["reasons"])
        finally:
            server.stop()
    finally:
        redis.stop()


@pytest.mark.slow
def test_deep_health_is_503_within_the_bound_when_the_database_stalls(tmp_path: Path,
                                                                      cronkit_env: dict[str, str],
                                                                      pg_url: str) -> None:
    parts = urlsplit(pg_url)
    proxy = StallingProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    proxied = pg_url.replace(f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{proxy.port}", 1)
    if "@" in pg_url and f":{parts.port}" not in pg_url:
        proxied = pg_url.replace(f"@{parts.hostname}", f"@127.0.0.1:{proxy.port}", 1)
    env = _env(tmp_path, cronkit_env, CRONKIT_DB_URL=proxied)
    token = make_token(env, tmp_path, "lb", "read")
    server = Server(env, tmp_path)
    try:
        with server.client(token, timeout=CLIENT_TIMEOUT) as client:
            assert client.get("/health/deep").json()["components"]["run_log"]["state"] == "up"
            proxy.stall()
            stalled = client.get("/health/deep")
            assert stalled.status_code == 503, stalled.text
            body = stalled.json()
            assert body["components"]["run_log"]["state"] == "down"
            assert "no answer" in body["components"]["run_log"]["error"]
            # A second look while the first checks' threads still hang answers too.
            assert client.get("/health/deep").status_code == 503
            assert client.get("/healthz").json() == {"ok": True}
    finally:
        proxy.close()
        server.stop()


def test_public_deep_health_shows_components_up_or_down_only(tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    # The built-in tasks schedule nothing in development: healthy when the services are.
    env = _env(tmp_path, cronkit_env, CRONKIT_HEALTH_PUBLIC="true", CRONKIT_TASKS="cronkit.tasks")
    token = make_token(env, tmp_path, "ops", "read")
    server = Server(env, tmp_path)
    try:
        with server.client(timeout=CLIENT_TIMEOUT) as anon:
            answer = anon.get("/health/deep")
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert set(body) == {"status", "healthy", "checked_at", "components"}
            assert set(body["components"].values()) <= {"up", "down", "unused"}
            assert anon.get("/api/v1/status").status_code == 401  # only the health check opens up
        with server.client(token, timeout=CLIENT_TIMEOUT) as client:
            full = client.get("/health/deep").json()
            assert full["reasons"] == [] and full["components"]["run_log"]["state"] == "up"
            assert full["components"]["run_log"]["ms"] >= 0 and full["duration_ms"] >= 0
    finally:
        server.stop()


def test_the_serve_unit_renders_a_service_for_the_server(run_cli: RunCli) -> None:
    proc = run_cli("render", "--target", "serve-unit", "--executable", "/opt/cronkit/bin/cronkit")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("# --- cronkit-serve.service\n")
    assert "ExecStart=/opt/cronkit/bin/cronkit serve --host 127.0.0.1 --port 8765\n" in text
    assert "KillMode=process\n" in text and "RestartPreventExitStatus=78\n" in text
    refused = run_cli("install", "--target", "serve-unit")
    assert refused.returncode == 2


def test_the_serve_unit_passes_systemd_analyze_verify(run_cli: RunCli, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        need("systemd-analyze", "apt-get install systemd")
    assert analyze is not None
    config = tmp_path / "cronkit.toml"
    config.write_text('[systemd]\nuser = "root"\nenvironment_file = "/etc/default/cronkit"\n')
    executable = shutil.which("python3") or "/usr/bin/python3"  # verify wants an executable that exists
    units = tmp_path / "units"
    proc = run_cli("--config", str(config), "render", "--target", "serve-unit", "--executable", executable,
                   "--output", str(units))
    assert proc.returncode == 0, proc.stderr
    written = sorted(units.iterdir())
    assert [u.name for u in written] == ["cronkit-serve.service"]
    text = written[0].read_text()
    assert "User=root\n" in text and "EnvironmentFile=-/etc/default/cronkit\n" in text
    done = subprocess.run([analyze, "verify", "--man=no", str(written[0])], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", [["check", "rules", "cronkit-rules.yml"], ["test", "rules", "cronkit-rules.test.yml"]])
def test_prometheus_rules_pass_promtool(command: list[str]) -> None:
    if shutil.which("promtool") is None:
        need("promtool", "apt-get install prometheus")
    proc = subprocess.run(["promtool", *command], cwd=ROOT / "contrib" / "prometheus", capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_the_rules_use_only_metrics_the_service_exports() -> None:
    import re

    from cronkit.notify.families import FAMILIES, HISTOGRAM

    rules = (ROOT / "contrib" / "prometheus" / "cronkit-rules.yml").read_text()
    used = set(re.findall(r"\bcronkit_[a-z_]+\b", rules))
    assert used == {"cronkit_task_last_success_timestamp_seconds", "cronkit_task_last_failure_timestamp_seconds",
                    "cronkit_task_interval_seconds", "cronkit_task_running_since_timestamp_seconds",
                    "cronkit_task_last_duration_seconds", "cronkit_task_timeout_seconds",
                    "cronkit_task_missed_slots_total", "cronkit_start_failure_timestamp_seconds",
                    "cronkit_crontab_drift", "cronkit_dead_letters_open"}
    # Every one is a family both exports define (cronkit/notify/families.py), histograms with their suffixes.
    exported = set(FAMILIES) | {f"{name}_{suffix}" for name, (kind, _) in FAMILIES.items() if kind == HISTOGRAM
                                for suffix in ("bucket", "sum", "count")}
    assert used <= exported, used - exported
