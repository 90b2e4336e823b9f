"""Faults of configuration: database and Redis URLs must never leak their password in a message."""

from __future__ import annotations

import pytest

from cronkit.safe.redact import MASK, redact_url
from tests.fixturetypes import RunCli

URLS = [
    # (setting, url, secret pieces that must not appear, expected exit code)
    ("CRONKIT_DB_URL", "postgresql://u:p@ssw0rd@127.0.0.1:1/db", ["p@ss", "ssw0rd"], 78),
    ("CRONKIT_DB_URL", "postgresql://u:sec ret-pw@127.0.0.1:1/db", ["sec ret", "ret-pw"], 69),
    ("CRONKIT_DB_URL", "postgresql:/u:hunter2-pw@h/db", ["hunter2"], 78),
    ("CRONKIT_DB_URL", "mysql://u:hunter2-pw@h/db", ["hunter2"], 78),
    ("CRONKIT_DB_URL", "sqlite://u:hunter2-pw@h/x", ["hunter2"], 78),
    ("CRONKIT_DB_URL", "postgresql://u:hunter2-pw@h:notaport/db", ["hunter2"], 78),
    ("CRONKIT_DB_URL", "nosuchdb://u:hunter2-pw@h/db", ["hunter2"], 78),
    ("CRONKIT_DB_URL", "postgresql://u:hunter2-pw@127.0.0.1:1/db", ["hunter2"], 69),
    ("CRONKIT_REDIS_URL", "redis://:s3cr@t-pw@127.0.0.1:1/0", ["s3cr", "t-pw"], 78),
    ("CRONKIT_REDIS_URL", "redis//:hunter2-pw@h:1/0", ["hunter2"], 78),
    ("CRONKIT_DB_URL", "redis//:hunter2-pw@h:1/0", ["hunter2"], 78),
]


@pytest.mark.parametrize(("name", "url", "secrets", "code"), URLS)
@pytest.mark.parametrize("command", [("history",), ("stats",), ("health",), ("run", "daily-log-pruning", "--dry-run")])
def test_files_malformed_urls_never_leak_their_password(
    run_cli: RunCli, name: str, url: str, secrets: list[str], code: int, command: tuple[str, ...]
) -> None:
    """Scenario: malformed or unusable database/Redis URLs (a password holding `@` or a blank,
    `postgresql:/`, a missing driver, a bad port, an unknown dialect, nobody listening) given
    to history, stats, health and run.
    Promise: a one-line error (no traceback) with the URL's password masked whole, in every
    message; exit 78 for a URL to fix, 69 for a service that does not answer."""
    done = run_cli(*command, env={name: url, "CRONKIT_TASKS": "cronkit.tasks"}, timeout=120)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    for secret in secrets:
        assert secret not in output, output
    # health reports an unusable run log as a failed check (exit 1) unless the settings are wrong.
    assert done.returncode == code or (command[0] == "health" and done.returncode == 1), output
    if done.returncode in (69, 78):
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://u:p@ss@host/db", f"postgresql://u:{MASK}@host/db"),
    ("redis://:secret@h:1/0", f"redis://:{MASK}@h:1/0"),
    ("mysql://u:pw@h/db", f"mysql://u:{MASK}@h/db"),
    ("postgresql:/u:pw@h/db", f"postgresql:{MASK}@h/db"),
    ("redis//:pw@h:1/0", f"redis//:{MASK}@h:1/0"),
    ("postgresql://u:a/b c@h/db", f"postgresql://u:{MASK}@h/db"),
    ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"),
    ("sqlite:////srv/u@x/cronkit.db", "sqlite:////srv/u@x/cronkit.db"),
    ("postgresql://h/db?password=hunter2", f"postgresql://h/db?password={MASK}"),
])
def test_files_redact_url(url: str, expected: str) -> None:
    """Scenario: URLs well and badly formed. Promise: the password, whatever it holds, is masked
    whole; URLs without one are left as they are."""
    assert redact_url(url) == expected
