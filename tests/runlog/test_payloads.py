"""Encrypted payloads (SPEC section 18): params, result, error, traceback and output sealed at rest
in the run log; opened by `show`, `history`, `dlq` and the API with the key, `(encrypted)` without
it; `cronkit rekey` after a key change, resumable when interrupted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cronkit.config.settings import activate, load_settings
from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.rekey import rekey
from cronkit.safe import encrypt as payloads
from tests.conftest import write_registry
from tests.fixturetypes import RunCli

KEY, NEW_KEY = "first secret key 0123456789", "second secret key 9876543210"
CUSTOMER = "Ada Lovelace, card 4111-1111-1111-1111"
TASKS = f'''
@registry.task("0 3 * * *", name="export", environments=["*"])
def export(ctx):
    print("exporting", {CUSTOMER!r})
    if ctx.params.get("fail") == "1":
        raise RuntimeError("could not export " + {CUSTOMER!r})
    return {{"customer": {CUSTOMER!r}}}
'''


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CRONKIT_TASKS": str(write_registry(tmp_path / "enc_registry.py", TASKS)),
            "CRONKIT_SECRET_KEY": KEY, "CRONKIT_ENCRYPT_PAYLOADS": "true"}


def raw_bytes(home: Path) -> bytes:
    data = b""
    for path in home.glob("cronkit.db*"):
        data += path.read_bytes()
    return data


def test_payloads_are_sealed_at_rest_and_opened_with_the_key(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    assert run_cli("run", "export", "--param", "who=ada", env=env).returncode == 0
    assert run_cli("run", "export", "--param", "fail=1", env=env).returncode == 1
    with sqlite3.connect(home / "cronkit.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        stored = conn.execute("SELECT params, result, error, traceback, output FROM runs ORDER BY id").fetchall()
    assert all(value is None or value.startswith("ckenc1:") for row in stored for value in row)
    assert CUSTOMER.encode() not in raw_bytes(home) and b"who" not in raw_bytes(home)

    shown = json.loads(run_cli("show", "1", "--json", env=env).stdout)
    assert shown["result"] == {"customer": CUSTOMER} and shown["params"] == {"who": "ada"}
    assert CUSTOMER in shown["output"]
    failed = json.loads(run_cli("show", "2", "--json", env=env).stdout)
    assert failed["error"] == f"RuntimeError: could not export {CUSTOMER}"
    assert failed["attempt_log"][0]["error"] == failed["error"]
    letters = json.loads(run_cli("dlq", "list", "--json", env=env).stdout)
    assert letters[0]["error"] == failed["error"] and letters[0]["params"]["fail"] == "1"

    keyless = {**env, "CRONKIT_SECRET_KEY": "", "CRONKIT_ENCRYPT_PAYLOADS": "false"}
    blind = run_cli("show", "2", "--json", env=keyless)
    assert blind.returncode == 0
    record = json.loads(blind.stdout)
    assert (record["error"], record["output"], record["params"]) == ("(encrypted)",) * 3
    history = json.loads(run_cli("history", "--json", env=keyless).stdout)
    assert {run["result"] for run in history} <= {"(encrypted)", None}
    assert CUSTOMER not in run_cli("show", "2", env=keyless).stdout

    # The task's log file holds sealed lines only; `cronkit logs` opens them with the key.
    log = (home / "logs" / "cronkit" / "export.log").read_text()
    assert CUSTOMER not in log and all(line.startswith("ckenc1:") for line in log.splitlines())
    opened = run_cli("logs", "export", env=env)
    assert opened.returncode == 0 and opened.stdout.count(f"exporting {CUSTOMER}") == 2
    assert "--- run 1 " in opened.stdout
    blind_log = run_cli("logs", "export", env=keyless)
    assert blind_log.returncode == 0 and CUSTOMER not in blind_log.stdout and "(encrypted)" in blind_log.stdout


def test_encryption_needs_a_key(run_cli: RunCli, env: dict[str, str]) -> None:
    done = run_cli("list", env={**env, "CRONKIT_SECRET_KEY": ""})
    assert done.returncode == 78
    assert done.stderr == ("cronkit: error: encrypt_payloads: needs secret_key (CRONKIT_SECRET_KEY), the key"
                           " payloads are sealed with (set by CRONKIT_ENCRYPT_PAYLOADS)\n")


def test_rekey_after_a_key_change_goes_on_where_it_stopped(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    plain = {**env, "CRONKIT_ENCRYPT_PAYLOADS": "false"}
    assert run_cli("run", "export", env=plain).returncode == 0  # stored clear, before encryption was on
    for _ in range(4):
        assert run_cli("run", "export", "--param", "fail=1", env=env).returncode == 1
    rotated = {**env, "CRONKIT_SECRET_KEY": NEW_KEY, "CRONKIT_PREVIOUS_SECRET_KEY": KEY}

    # Interrupted after its first batch: the next rekey goes on from there.
    settings = activate(load_settings(environ={**rotated, "CRONKIT_HOME": str(home)}))
    engine = create_engine_for(settings.db_url)

    def stop(table: str, rows: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rekey(engine, batch=2, progress=stop)
    done = run_cli("rekey", "--json", env=rotated)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # The first batch (runs 1 and 2, the clear one among them) was done before the interruption:
    # runs 3-5 are left, 4 sealed values each (params, error, traceback, output), under the old key.
    assert (report["tables"]["runs"]["sealed"], report["tables"]["runs"]["resealed"]) == (0, 12)
    assert report["unopenable"] == 0
    new_id = payloads.derive(NEW_KEY)[0]
    with sqlite3.connect(home / "cronkit.db") as conn:
        values = [v for row in conn.execute("SELECT params, result, error, traceback, output FROM runs") for v in row
                  if v is not None]
    assert values and all(v.startswith(f"ckenc1:{new_id}:") for v in values)
    only_new = {**env, "CRONKIT_SECRET_KEY": NEW_KEY}
    assert json.loads(run_cli("show", "1", "--json", env=only_new).stdout)["result"] == {"customer": CUSTOMER}
    again = json.loads(run_cli("rekey", "--json", env=only_new).stdout)
    assert all(c["sealed"] == c["resealed"] == 0 for c in again["tables"].values())
    engine.dispose()
    payloads.configure(None)


def test_notifications_and_the_audit_are_sealed_too(run_cli: RunCli, env: dict[str, str], home: Path, tmp_path: Path) -> None:
    """The outbox holds a run's error and output tail; an audit row a trigger's params: sealed as the run is."""
    (tmp_path / "cronkit.toml").write_text('[notify]\ndefault = ["hook"]\n\n[notify.hook]\nkind = "webhook"\n'
                                           'url = "http://127.0.0.1:9/hook"\ntimeout = 1\n')
    with_hook = {**env, "CRONKIT_CONFIG": str(tmp_path / "cronkit.toml")}
    assert run_cli("run", "export", "--param", "fail=1", env=with_hook).returncode == 1
    from cronkit.web.audit import record_alone

    settings = activate(load_settings(environ={**env, "CRONKIT_HOME": str(home)}))
    engine = create_engine_for(settings.db_url)
    record_alone(engine, at=1, action="trigger", result="accepted", params={"customer": CUSTOMER})
    with sqlite3.connect(home / "cronkit.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        payloads_stored = [row[0] for row in conn.execute("SELECT payload FROM notifications")]
        audit_params = [row[0] for row in conn.execute("SELECT params FROM audit WHERE params IS NOT NULL")]
    assert payloads_stored and all(p.startswith("ckenc1:") for p in payloads_stored)
    assert audit_params and all(p.startswith("ckenc1:") for p in audit_params)
    assert CUSTOMER.encode() not in raw_bytes(home)
    from cronkit.web.audit import list_audit

    assert list_audit(engine)[0]["params"] == {"customer": CUSTOMER}
    engine.dispose()
    payloads.configure(None)
