"""Every URL and number setting is checked when it is read (issue 25): one line, exit 78, no password.

Each case is a value that used to pass the settings and fail later as a traceback (a port that is
not a number, a database path redis-py reads as 0, a count past what its consumer holds, an
instant past datetime's range, a NUL that the OS refuses), from the config file or from the
environment, read by a real `cronkit` command line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_registry
from tests.fixturetypes import RunCli

SECRET = "s3cretpw"
REGISTRY = '@registry.task("0 3 * * *", name="t1")\ndef t1(ctx): return {}\n'

# (config file text, what the one line names)
FILE_CASES = [
    (f'redis_url = "redis://:{SECRET}@localhost:abc/0"', "redis_url: redis://:***@localhost:abc/0: the port"),
    ('redis_url = "redis://localhost:0/0"', "redis_url: redis://localhost:0/0: the port"),
    ('redis_url = "redis://localhost:6379/abc"', "is not a database number"),
    ('redis_url = "redis://localhost/0?socket_timeout=soon"', "socket_timeout='soon' is not a number of seconds"),
    ('redis_url = "redis://localhost/0?max_connections=-1"', "max_connections='-1' is not a whole number"),
    ('redis_url = "redis://localhost/0?db=x"', "db='x' is not a whole number"),
    (f'db_url = "postgresql://u:{SECRET}@h:5x/db"', "db_url: postgresql://u:***@h:5x/db: the port"),
    (f'app_db_url = "postgresql://u:{SECRET}@h:99999/db"', "app_db_url: postgresql://u:***@h:99999/db: the port"),
    ('db_url = "sqlite:////tmp/a\\u0000b.db"', "db_url: holds a NUL character"),
    ('home = "/tmp/a\\u0000b"', "home: holds a NUL character"),
    ('log_dir = "/tmp/a\\u0000b"', "log_dir: holds a NUL character"),
    ('serve_host = "local\\u0000host"', "serve_host: holds a NUL character"),
    (f'public_url = "https://u:{SECRET}@h:port"', "public_url: https://u:***@h:port: the port"),
    ("serve_port = 0", "serve_port: must be a port number"),
    ("serve_port = 99999999999999999", "serve_port: must be a port number"),
    ("runlog_retention_days = 99999999999999999", "runlog_retention_days: must be a whole number of days from 1"),
    ("stop_grace = inf", "stop_grace: inf is not a number of seconds"),
    ("lease_ttl = nan", "lease_ttl: nan is not a number of seconds"),
    ("finish_retry = 1e300", "finish_retry: 1e+300 is not a number of seconds"),
    ("heartbeat_interval = -1", "heartbeat_interval: -1 is not a number of seconds"),
    ('now = "9999-12-31T23:59:59-01:00"', "now: '9999-12-31T23:59:59-01:00' is out of range"),
    ("now = 0001-01-01T00:00:00+01:00", "is out of range"),
    ('[secret_env]\nHOOK = "a\\u0000b"', "secret_env.HOOK: holds a NUL character"),
    (f'[notify.h]\nkind = "webhook"\nurl = "https://u:{SECRET}@h:abc/x"', "notify.h.url: https://u:***@h:abc/x: the port"),
    ('[notify.h]\nkind = "webhook"\nurl = "https://h/x"\nrepeat_after = "99999999999999999999d"',
     "notify.h.repeat_after: '99999999999999999999d' is longer than 100 years"),
    ('[notify.h]\nkind = "webhook"\nurl = "https://h/x"\nrepeat_after = 1e300', "notify.h.repeat_after"),
    ('[notify.h]\nkind = "webhook"\nurl = "https://h/x"\ntimeout = inf', "notify.h.timeout"),
    ('[notify.h]\nkind = "webhook"\nurl = "https://h/x"\nfailures_before_alert = 9999999999',
     "notify.h.failures_before_alert: must be a whole number from 1 to 10000"),
    ('[notify.m]\nkind = "email"\nto = ["a@b.c"]\nsmtp_port = 70000', "notify.m.smtp_port: must be a port number"),
    ('[notify.m]\nkind = "email"\nto = ["a@b.c"]\nsmtp_host = "h\\u0000"', "notify.m.smtp_host: holds a NUL"),
    ('[notify.a]\nkind = "apprise"\nurls = ["json://h/\\u0000"]', "notify.a.urls: holds a NUL"),
    ('[tasks.t1]\nmax_duration = "99999999999999999999999999d"', "tasks.t1.max_duration"),
    ("[kubernetes]\nsuccessful_jobs_history_limit = 9999999999",
     "kubernetes.successful_jobs_history_limit: must be a whole number from 0 to 2147483647"),
    ('[kubernetes]\nimage = "app\\u0000"', "kubernetes.image"),
]

# (environment variable, value, what the one line names)
ENV_CASES = [
    ("CRONKIT_REDIS_URL", f"redis://:{SECRET}@localhost:abc/0", "redis_url: redis://:***@localhost:abc/0: the port"),
    ("CRONKIT_REDIS_URL", "redis://localhost/db1", "is not a database number"),
    ("CRONKIT_DB_URL", f"postgresql://u:{SECRET}@h:x/db", "db_url: postgresql://u:***@h:x/db: the port"),
    ("CRONKIT_APP_DB_URL", "sqlite:////tmp/\udcff.db", "app_db_url: is not valid UTF-8 text"),
    ("CRONKIT_HOME", "/tmp/h\udcff", "home: is not valid UTF-8 text"),  # install wrote it into a file: a traceback
    ("CRONKIT_TASKS", "/tmp/t\udcff.py", "registry: is not valid UTF-8 text"),
    ("CRONKIT_PUBLIC_URL", "http://h:-1", "public_url: http://h:-1: the port"),
    ("CRONKIT_SERVE_PORT", "99999999999999999999999", "serve_port: must be a port number"),
    ("CRONKIT_RUNLOG_RETENTION_DAYS", "99999999999999999999999", "runlog_retention_days"),
    ("CRONKIT_LEASE_TTL", "1e400", "lease_ttl: '1e400' is not a number of seconds"),
    ("CRONKIT_STOP_GRACE", "nan", "stop_grace: 'nan' is not a number of seconds"),
    ("CRONKIT_NOW", "0001-01-01T00:00:00+05:00", "now: '0001-01-01T00:00:00+05:00' is out of range"),
]


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    return write_registry(tmp_path / "edge_registry.py", REGISTRY)


def _one_line_78(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith("cronkit: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr
    assert SECRET not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(("text", "message"), FILE_CASES, ids=[c[1].split(":")[0] for c in FILE_CASES])
def test_bad_file_value_is_one_line_78(run_cli: RunCli, registry_file: Path, tmp_path: Path,
                                       text: str, message: str) -> None:
    (tmp_path / "cronkit.toml").write_text(text + "\n")
    env = {"CRONKIT_TASKS": str(registry_file), **({"CRONKIT_HOME": ""} if text.startswith("home") else {})}
    _one_line_78(run_cli("status", env=env), message)


@pytest.mark.parametrize(("var", "value", "message"), ENV_CASES, ids=[c[0] for c in ENV_CASES])
@pytest.mark.parametrize("command", [("status",), ("run", "t1")])
def test_bad_environment_value_is_one_line_78(run_cli: RunCli, registry_file: Path, var: str, value: str,
                                              message: str, command: tuple[str, ...]) -> None:
    proc = run_cli(*command, env={"CRONKIT_TASKS": str(registry_file), var: value})
    _one_line_78(proc, message)
    assert f"(set by {var})" in proc.stderr


@pytest.mark.parametrize("command", [("status",), ("run", "t1")])
def test_config_file_not_utf8_is_one_line_78(run_cli: RunCli, registry_file: Path, tmp_path: Path,
                                             command: tuple[str, ...]) -> None:
    (tmp_path / "cronkit.toml").write_bytes(b'environment = "caf\xe9"\n')
    proc = run_cli(*command, env={"CRONKIT_TASKS": str(registry_file)})
    _one_line_78(proc, "cronkit.toml: not UTF-8 text (byte 0xe9 at offset 18)")
