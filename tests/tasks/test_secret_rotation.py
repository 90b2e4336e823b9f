"""secret-rotation on real SQLite files: grace periods, races, a wrong key, no plaintext anywhere."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from cronkit.config.settings import load_settings
from cronkit.context import TaskContext
from cronkit.errors import ConfigError
from cronkit.registry import task_config
from cronkit.tasks import platform, registry
from cronkit.tasks.platform import secrets as secrets_table
from cronkit.tasks.secret_rotation import (
    Keyring,
    active_value,
    add_secret,
    secret_rotation,
    seed_demo_secrets,
)
from tests.fixturetypes import RunCli

NOW = datetime(2024, 6, 1, 5, 0, tzinfo=UTC)
KEY = "correct horse battery staple, but longer and random: 8d1f0c"
HOUR = timedelta(hours=1)


def make_ctx(home: Path, key: str | None = KEY, *, now: datetime = NOW, dry_run: bool = False,
             **config: Any) -> TaskContext:
    task = registry["secret-rotation"]
    env = {"CRONKIT_HOME": str(home)}
    if key is not None:
        env["CRONKIT_SECRET_KEY"] = key
    return TaskContext(task=task.name, settings=load_settings(environ=env),
                       config=task_config(task, config), now=now, dry_run=dry_run)


def rows(ctx: TaskContext) -> dict[tuple[str, int], dict[str, Any]]:
    with ctx.app_db.connect() as conn:
        return {(r.name, r.version): dict(r._mapping) for r in conn.execute(select(secrets_table))}


def plaintexts(ctx: TaskContext) -> set[str]:
    """Decrypt every stored value (the test's view; the task never exposes them)."""
    keyring = Keyring(KEY)
    return {keyring.decrypt(n, v, r["value_encrypted"]) for (n, v), r in rows(ctx).items()
            if r["value_encrypted"] is not None}


def seeded(home: Path) -> TaskContext:
    ctx = make_ctx(home)
    assert seed_demo_secrets(ctx.app_db, ctx.settings, NOW) == 6
    assert seed_demo_secrets(ctx.app_db, ctx.settings, NOW) == 0  # idempotent
    return ctx


def search(haystacks: list[bytes], needles: set[str]) -> list[str]:
    return [n for n in needles for h in haystacks if n.encode() in h]


def files_under(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_refuses_without_a_key_before_touching_anything(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, key=None)
    with pytest.raises(ConfigError) as err:
        secret_rotation(ctx)
    assert str(err.value) == "secret-rotation: CRONKIT_SECRET_KEY is not set"
    assert err.value.exit_code == 78
    assert not (tmp_path / "platform.db").exists()
    assert seed_demo_secrets(ctx.app_db, ctx.settings, NOW) == 0


def test_rotates_due_secrets_and_retires_previous_versions_after_grace(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    ctx = seeded(tmp_path)
    old_payments = active_value(ctx.app_db, ctx.settings, "payments-api-key")
    old_webhook = active_value(ctx.app_db, ctx.settings, "webhook-signing-secret")
    before = plaintexts(ctx)

    caplog.set_level(logging.DEBUG)
    result = secret_rotation(ctx)

    assert result["rotated"] == 2 and result["rotated_names"] == ["payments-api-key", "smtp-password"]
    assert result["retired"] == 1 and result["retired_names"] == ["jwt-signing-key@v1"]
    assert result["secrets_checked"] == 5
    after = rows(ctx)
    new_payments = active_value(ctx.app_db, ctx.settings, "payments-api-key")
    assert new_payments != old_payments and len(new_payments) >= 40
    assert active_value(ctx.app_db, ctx.settings, "webhook-signing-secret") == old_webhook
    prev = after[("payments-api-key", 1)]
    assert prev["status"] == "previous" and prev["previous_until"] == NOW + 24 * HOUR
    assert Keyring(KEY).decrypt("payments-api-key", 1, prev["value_encrypted"]) == old_payments
    new = after[("payments-api-key", 2)]
    assert new["status"] == "active" and new["rotate_after"] == NOW + timedelta(days=30)
    assert after[("smtp-password", 3)]["status"] == "active"
    jwt1 = after[("jwt-signing-key", 1)]
    assert jwt1["status"] == "retired" and jwt1["value_encrypted"] is None and jwt1["retired_at"] == NOW

    # Within the grace period: previous versions stay usable, nothing is due.
    within = secret_rotation(make_ctx(tmp_path, now=NOW + 23 * HOUR))
    assert within["rotated"] == 0 and within["retired"] == 0
    # Past it: they are retired and their values erased.
    past = secret_rotation(make_ctx(tmp_path, now=NOW + 24 * HOUR))
    assert past["retired_names"] == ["payments-api-key@v1", "smtp-password@v2"]
    final = rows(ctx)
    assert final[("payments-api-key", 1)]["value_encrypted"] is None
    assert sorted(k for k, r in final.items() if r["status"] == "active") == [
        ("jwt-signing-key", 2), ("payments-api-key", 2), ("smtp-password", 3), ("webhook-signing-secret", 1)]

    # No plaintext anywhere: database files, logs, results.
    every_value = before | plaintexts(ctx) | {new_payments}
    produced = files_under(tmp_path) + [json.dumps([result, within, past]).encode(), caplog.text.encode()]
    assert search(produced, every_value) == []


def test_dry_run_reports_and_changes_nothing(tmp_path: Path) -> None:
    ctx = seeded(tmp_path)
    before = rows(ctx)
    result = secret_rotation(make_ctx(tmp_path, dry_run=True))
    assert rows(ctx) == before
    assert (result["rotated"], result["retired"]) == (2, 1)
    assert result["rotated_names"] == ["payments-api-key", "smtp-password"]


def test_wrong_key_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    ctx = seeded(tmp_path)
    before = rows(ctx)
    with pytest.raises(ConfigError, match="CRONKIT_SECRET_KEY does not decrypt the stored value of "
                                          "'payments-api-key'.*nothing was changed"):
        secret_rotation(make_ctx(tmp_path, key="not the key"))
    assert rows(ctx) == before
    with pytest.raises(ConfigError):
        seed_demo_secrets(ctx.app_db, make_ctx(tmp_path, key="other").settings, NOW)


def test_a_value_moved_to_another_row_does_not_decrypt(tmp_path: Path) -> None:
    ctx = seeded(tmp_path)
    blob = rows(ctx)[("payments-api-key", 1)]["value_encrypted"]
    with ctx.app_db.begin() as conn:
        conn.execute(update(secrets_table).where(secrets_table.c.name == "webhook-signing-secret")
                     .values(value_encrypted=blob))
    with pytest.raises(ConfigError, match="webhook-signing-secret"):
        secret_rotation(ctx)


def test_two_concurrent_rotations_make_one_new_version_each(tmp_path: Path) -> None:
    setup = make_ctx(tmp_path)
    platform.create_all(setup.app_db)
    keyring = Keyring(KEY)
    names = [f"service-{i:02d}" for i in range(30)]
    with setup.app_db.begin() as conn:
        for name in names:
            add_secret(conn, keyring, name, 1, f"initial value of {name}",
                       created_at=NOW - timedelta(days=40), rotate_after=NOW - HOUR)
    setup.app_db.dispose()

    barrier = threading.Barrier(2)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def rotate() -> None:
        ctx = make_ctx(tmp_path)  # its own engine, its own connections
        try:
            barrier.wait()
            results.append(secret_rotation(ctx))
        except BaseException as exc:
            errors.append(exc)
        finally:
            ctx.app_db.dispose()

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(r["rotated"] for r in results) == 30
    assert sum(r["rotated"] + r["already_rotated"] for r in results) >= 30
    final = rows(setup)
    for name in names:
        assert final[(name, 1)]["status"] == "previous"
        assert final[(name, 2)]["status"] == "active"
        assert (name, 3) not in final


@pytest.mark.slow
def test_cli_run_refuses_without_key_and_leaves_no_plaintext(run_cli: RunCli, cronkit_env: dict[str, str],
                                                             home: Path) -> None:
    missing = run_cli("run", "secret-rotation")
    assert missing.returncode == 78
    assert "is not set" in missing.stderr

    env = {"CRONKIT_SECRET_KEY": KEY, "CRONKIT_ENV": "production"}
    settings = load_settings(environ={**cronkit_env, **env})
    engine = platform.engine_for(settings)
    now = datetime.now(UTC)
    seed_demo_secrets(engine, settings, now)
    before = {Keyring(KEY).decrypt(r.name, r.version, r.value_encrypted)
              for r in engine.connect().execute(select(secrets_table)) if r.value_encrypted is not None}
    engine.dispose()

    proc = run_cli("run", "secret-rotation", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"]["rotated"] == 2
    shown = run_cli("show", "2", "--json", env=env)
    history = run_cli("history", "--json", env=env)
    engine = platform.engine_for(settings)
    after = {Keyring(KEY).decrypt(r.name, r.version, r.value_encrypted)
             for r in engine.connect().execute(select(secrets_table)) if r.value_encrypted is not None}
    engine.dispose()
    assert len(after - before) == 2
    produced = files_under(home) + [p.stdout.encode() + p.stderr.encode() for p in (missing, proc, shown, history)]
    assert search(produced, before | after | {KEY}) == []
