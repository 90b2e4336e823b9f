"""Secrets never reach what cronkit stores or prints: the Redactor, and a leaky task end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronkit.safe.redact import MASK, Redactor, redactor_for
from tests.fixturetypes import RunCli
from tests.runhelpers import SECRETS, letters, make_registry, runs


@pytest.mark.parametrize(("text", "expected"), [
    ("password=hunter2", "password=***"),
    ("DB_PASSWORD: 'hunter2'", "DB_PASSWORD: '***'"),
    ('{"api_key": "abc123"}', '{"api_key": "***"}'),
    ("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x"),
    ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
    ("GET /v1?access_token=tok_abc&page=2", "GET /v1?access_token=***&page=2"),
    ("Authorization: Bearer eyJabc.def.ghi", "Authorization: Bearer ***"),
    ("nothing to see here: 42 rows", "nothing to see here: 42 rows"),
    ("https://example.com/path", "https://example.com/path"),
])
def test_patterns(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


def test_known_values_are_replaced_wherever_they_appear() -> None:
    redact = Redactor.from_sources(
        {"STRIPE_SECRET_KEY": "sk-live-xyz", "APP_DB_URL": "postgresql://u:urlpass1@h/db", "DEBUG": "true",
         "SHORT_TOKEN": "abc"},
    )
    assert redact("key sk-live-xyz and urlpass1 alone") == f"key {MASK} and {MASK} alone"
    assert redact("true abc") == "true abc"  # short and non-secret values are left alone


def test_values_inside_structures() -> None:
    redact = Redactor(["sk-live-xyz"])
    assert redact.value({"token": "anything", "n": 3, "note": ["sk-live-xyz"]}) == {
        "token": MASK, "n": 3, "note": [MASK]}


def test_settings_and_task_tables_feed_the_redactor() -> None:
    from cronkit.config.settings import load_settings

    settings = load_settings({"home": "/tmp/cronkit-redact-test", "db_url": "postgresql://u:dbpass99@h/x"}, environ={})
    redact = redactor_for(settings, {"SERVICE_CREDENTIAL": "cred-12345"})
    assert redact("dbpass99 cred-12345") == f"{MASK} {MASK}"


@pytest.mark.slow
def test_a_leaky_task_stores_and_prints_no_secret(cronkit_env: dict[str, str], home: Path, tmp_path: Path, run_cli: RunCli) -> None:
    env = {**cronkit_env, "CRONKIT_TASKS": str(make_registry(tmp_path)), "PLATFORM_API_KEY": SECRETS[-1]}
    param_secret = "param-s3cret-value"
    outputs = []

    ran = run_cli("run", "leaky", "--param", f"db_password={param_secret}", env=env)
    assert ran.returncode == 1
    assert ran.stderr.startswith("leaky failed: RuntimeError: upstream rejected key *** (run 1;")
    outputs += [ran.stdout, ran.stderr]
    for args in (("show", "1"), ("show", "1", "--json"), ("history", "--json"), ("dlq", "show", "1"),
                 ("dlq", "show", "1", "--json"), ("dlq", "list", "--json")):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        outputs += [result.stdout, result.stderr]

    [run] = runs(home / "cronkit.db")
    [letter] = letters(home / "cronkit.db")
    log = (home / "logs" / "cronkit" / "leaky.log").read_text()
    stored = [str(v) for v in run.values()] + [str(v) for v in letter.values()] + [log]
    # What was captured is there, masked: printed lines, a log record, a child process's output.
    assert "connecting with password=***" in run["output"]
    assert "access_token=***" in run["output"] and "deploy:***@git.example.com" in run["output"]
    assert "Authorization: Bearer ***" in run["output"]
    assert "WARNING cronkit.task.leaky: retrying with key ***" in run["output"]
    assert "child sees ***" in run["output"]
    assert run["error"] == "RuntimeError: upstream rejected key ***"
    assert "RuntimeError: upstream rejected key ***" in run["traceback"] and letter["traceback"] == run["traceback"]
    assert '"db_password": "***"' in run["params"]
    raw = b"".join(p.read_bytes() for p in home.glob("cronkit.db*"))  # the database file and its WAL
    for secret in (*SECRETS, param_secret):
        for text in stored + outputs:
            assert secret not in text
        assert secret.encode() not in raw
