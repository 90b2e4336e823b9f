"""Dead letters: written when a run fails for good, listed, shown, retried after a fix, purged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixturetypes import RunCli
from tests.runhelpers import assert_unlocked, letters, make_registry, runs

SLOT = "2026-03-01T10:00:00+00:00"


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**cronkit_env, "CRONKIT_TASKS": str(make_registry(tmp_path)), "CRONKIT_NOW": SLOT}


@pytest.fixture
def db(home: Path) -> Path:
    return home / "cronkit.db"


@pytest.mark.slow
def test_a_permanent_error_writes_a_dead_letter_that_retry_resolves(env: dict[str, str], home: Path, db: Path, tmp_path: Path, run_cli: RunCli) -> None:
    flag, count = tmp_path / "flag", tmp_path / "count"
    failed = run_cli("run", "broken", "--trigger", "cron", "--param", f"flag={flag}", "--param", f"count={count}",
                     "--date", "2026-02-28", env=env)
    assert failed.returncode == 1
    assert failed.stdout == ""  # cron: quiet but for the failure summary on stderr
    assert failed.stderr.endswith("(run 1; cronkit show 1; dead letter 1)\n")

    [letter] = letters(db)
    assert letter["task"] == "broken" and letter["run_id"] == 1 and letter["attempts"] == 1
    assert json.loads(letter["params"]) == {"count": str(count), "date": "2026-02-28", "flag": str(flag)}
    assert letter["error"] == f"RuntimeError: flag file {flag} is missing"
    assert letter["traceback"].startswith("Traceback (most recent call last):")
    assert letter["traceback"].rstrip().endswith(f"RuntimeError: flag file {flag} is missing")
    assert letter["resolved_at"] is None

    listed = run_cli("dlq", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [{
        "id": 1, "run_id": 1, "task": "broken", "status": "open",
        "params": {"count": str(count), "date": "2026-02-28", "flag": str(flag)},
        "scheduled_for": SLOT, "error": f"RuntimeError: flag file {flag} is missing", "attempts": 1,
        "created_at": SLOT, "resolved_at": None, "resolved_by": None, "run_status": "failed",
    }]
    table = run_cli("dlq", "list", env=env)
    assert "1 open dead letter, newest first" in table.stdout and "broken" in table.stdout
    shown = run_cli("dlq", "show", "1", env=env)
    assert shown.returncode == 0
    assert shown.stdout.startswith("dead letter 1  broken  open\n")
    assert "  run        1 (failed; cronkit show 1)\n" in shown.stdout
    assert "Traceback (most recent call last):" in shown.stdout
    assert shown.stdout.endswith("Re-run it with: cronkit dlq retry 1\n")
    assert json.loads(run_cli("dlq", "show", "1", "--json", env=env).stdout)["traceback"] == letter["traceback"]
    assert json.loads(run_cli("show", "1", "--json", env=env).stdout)["dead_letter"] == {"id": 1, "resolved_at": None}

    # A retry before the cause is fixed fails again; the letter stays open and no second one appears.
    still = run_cli("dlq", "retry", "1", env=env)
    assert still.returncode == 1
    assert still.stderr.endswith("(run 2; cronkit show 2; dead letter 1 stays open)\n")
    assert len(letters(db)) == 1 and letters(db)[0]["resolved_at"] is None

    flag.touch()  # fix the cause
    fixed = run_cli("dlq", "retry", "1", "--json", env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout) == {"run_id": 3, "status": "succeeded", "exit_code": 0, "duration_ms": json.loads(fixed.stdout)["duration_ms"],
                                        "result": {"fixed": 1, "slot": "2026-03-01 10:00:00+00:00"},
                                        "dead_letter_id": 1, "resolved": True}
    retried = runs(db)[2]
    assert retried["trigger"] == "retry" and retried["status"] == "succeeded"
    assert retried["scheduled_for"] == runs(db)[0]["scheduled_for"]  # it served the original slot
    assert json.loads(retried["params"]) == {"count": str(count), "date": "2026-02-28", "flag": str(flag)}
    [letter] = letters(db)
    assert letter["resolved_by"] == 3 and letter["resolved_at"] is not None
    assert count.read_text().splitlines()[-1] == "3 - 2026-03-01 10:00:00+00:00"

    assert json.loads(run_cli("dlq", "list", "--json", env=env).stdout) == []
    [resolved] = json.loads(run_cli("dlq", "list", "--all", "--json", env=env).stdout)
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == 3
    twice = run_cli("dlq", "retry", "1", env=env)
    assert twice.returncode == 1
    assert twice.stderr.startswith("cronkit: error: dead letter 1 was resolved by run 3 at ")
    assert_unlocked(home, "broken")


@pytest.mark.slow
def test_purge_deletes_resolved_letters_and_open_ones_only_when_asked(env: dict[str, str], db: Path, tmp_path: Path, run_cli: RunCli) -> None:
    for _ in range(3):
        assert run_cli("run", "broken", "--param", f"flag={tmp_path / 'flag'}", env=env).returncode == 1
    (tmp_path / "flag").touch()
    assert run_cli("dlq", "retry", "2", env=env).returncode == 0

    preview = run_cli("dlq", "purge", "--dry-run", "--json", env=env)
    assert json.loads(preview.stdout) == {"deleted": 0, "ids": [2], "dry_run": True, "before": None}
    assert len(letters(db)) == 3
    none_old = run_cli("dlq", "purge", "--before", "2026-02-01", "--include-open", env=env)
    assert none_old.stdout == "deleted 0 dead letters created before 2026-02-01T00:00:00+00:00\n"
    purged = run_cli("dlq", "purge", env=env)
    assert purged.returncode == 0 and purged.stdout == "deleted 1 resolved dead letter\n"  # singular since issue 13
    assert [letter["id"] for letter in letters(db)] == [1, 3]
    everything = run_cli("dlq", "purge", "--include-open", "--before", "2026-03-02", "--json", env=env)
    assert json.loads(everything.stdout)["ids"] == [1, 3]
    assert letters(db) == []
    assert len(runs(db)) == 4  # the runs stay; the run log's retention prunes them


def test_dlq_usage_errors(env: dict[str, str], run_cli: RunCli) -> None:
    from cronkit import runlog
    from cronkit.config.settings import load_settings

    settings = load_settings(environ=env)
    runlog.open(settings.db_url, create=True, settle=settings).close()  # read commands create none
    missing = run_cli("dlq", "show", "9", env=env)
    assert missing.returncode == 2 and missing.stderr == "cronkit: error: no dead letter with id 9\n"
    assert run_cli("dlq", "retry", "9", env=env).returncode == 2
    bad = run_cli("dlq", "purge", "--before", "someday", env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("cronkit: error: --before: 'someday'")
    for command in ("list", "show", "retry", "purge"):
        helped = run_cli("dlq", command, "--help", env=env)
        assert helped.returncode == 0 and "Example: cronkit dlq" in helped.stdout
