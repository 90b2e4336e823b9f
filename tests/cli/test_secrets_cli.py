"""`cronkit secrets` (SPEC section 14) and preflight: no value ever shown except with --reveal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixturetypes import RunCli

KEY = "correct horse battery staple"
VALUE = "s3cr3t-value-from-stdin-0123456789"


@pytest.fixture
def env(cronkit_env: dict[str, str], home: Path) -> dict[str, str]:
    return {"CRONKIT_SECRET_KEY": KEY, "CRONKIT_APP_DB_URL": f"sqlite:///{home / 'platform.db'}"}


def test_secrets_never_print_a_value_without_reveal(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    added = run_cli("secrets", "add", "webhook-secret", "--stdin", env=env, input=VALUE + "\n")
    assert added.returncode == 0, added.stderr
    assert "version 1" in added.stdout
    generated = run_cli("secrets", "add", "api-key", "--generate", env=env)
    assert generated.returncode == 0, generated.stderr
    again = run_cli("secrets", "add", "api-key", "--generate", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr

    listed = run_cli("secrets", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["version"], r["status"]) for r in rows] == [("api-key", 1, "active"),
                                                                     ("webhook-secret", 1, "active")]
    assert set(rows[0]) == {"name", "version", "status", "created_at", "rotate_after", "previous_until",
                            "retired_at"}
    table = run_cli("secrets", "list", env=env)
    assert "webhook-secret" in table.stdout

    refused = run_cli("secrets", "show", "webhook-secret", env=env)
    assert refused.returncode == 2 and "--reveal" in refused.stderr
    shown = run_cli("secrets", "show", "webhook-secret", "--reveal", env=env)
    assert shown.returncode == 0 and shown.stdout.strip() == VALUE
    generated_value = run_cli("secrets", "show", "api-key", "--reveal", env=env).stdout.strip()
    assert len(generated_value) >= 40

    dry = run_cli("secrets", "rotate", "webhook-secret", "--dry-run", env=env)
    assert dry.returncode == 0 and "would rotate" in dry.stdout
    assert run_cli("secrets", "show", "webhook-secret", "--reveal", env=env).stdout.strip() == VALUE
    rotated = run_cli("secrets", "rotate", "webhook-secret", env=env)
    assert rotated.returncode == 0, rotated.stderr
    after = json.loads(run_cli("secrets", "list", "--json", env=env).stdout)
    assert [(r["version"], r["status"]) for r in after if r["name"] == "webhook-secret"] == [(1, "previous"),
                                                                                         (2, "active")]
    new = run_cli("secrets", "show", "webhook-secret", "--reveal", env=env).stdout.strip()
    assert new and new != VALUE

    wrong = run_cli("secrets", "show", "webhook-secret", "--reveal", env={**env, "CRONKIT_SECRET_KEY": "nope"})
    assert wrong.returncode == 78 and "Traceback" not in wrong.stderr
    missing = run_cli("secrets", "rotate", "nosuch", env=env)
    assert missing.returncode == 1 and "nosuch" in missing.stderr
    for secret in (VALUE, new, generated_value):
        for out in (added, generated, listed, table, refused, dry, rotated, wrong):
            assert secret not in out.stdout + out.stderr
    assert VALUE.encode() not in (home / "platform.db").read_bytes()


def test_preflight_install_warns_health_and_status_report(run_cli: RunCli, tmp_path: Path) -> None:
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    env = {"CRONKIT_ENV": "production", "CRONKIT_CRON_D": str(cron_d), "CRONKIT_TASKS": "cronkit.tasks"}
    installed = run_cli("install", "--target", "cron.d", env=env)
    assert installed.returncode == 0, installed.stderr
    warnings = [line for line in installed.stderr.splitlines() if "secret-rotation" in line]
    assert warnings == ["cronkit: warning: task secret-rotation will refuse to run here: "
                        "needs setting:secret_key (CRONKIT_SECRET_KEY is not set)"]
    health = run_cli("health", env=env)
    assert "task secret-rotation will refuse to run here" in health.stdout
    status = run_cli("status", "--json", env=env)
    assert [item["task"] for item in json.loads(status.stdout)["preflight"]] == ["secret-rotation"]
    assert "secret-rotation will refuse" in run_cli("status", env=env).stdout

    keyed = {**env, "CRONKIT_SECRET_KEY": KEY}
    again = run_cli("install", "--target", "cron.d", env=keyed)
    assert again.returncode == 0 and "refuse" not in again.stderr
    assert json.loads(run_cli("status", "--json", env=keyed).stdout)["preflight"] == []


def test_reading_secrets_creates_nothing(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    """`secrets list`, `show` and `rotate` on a home without a platform database leave none behind."""
    listed = run_cli("secrets", "list", env=env)
    assert (listed.returncode, listed.stdout) == (0, "no secrets stored\n")
    assert json.loads(run_cli("secrets", "list", "--json", env=env).stdout) == []
    shown = run_cli("secrets", "show", "api-key", "--reveal", env=env)
    assert shown.returncode != 0 and "no active secret named 'api-key'" in shown.stderr
    rotated = run_cli("secrets", "rotate", "api-key", env=env)
    assert rotated.returncode != 0 and "no active secret named 'api-key'" in rotated.stderr
    assert not (home / "platform.db").exists()
