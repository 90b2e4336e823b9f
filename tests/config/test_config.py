"""Settings (SPEC 2): option > environment > config file > default, and errors that name the key."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cronkit.config.settings import (
    DEFAULT_CRON_D,
    DEFAULT_LEASE_TTL,
    DEFAULT_STOP_GRACE,
    ENV_VARS,
    RUNTIME_ENV_VARS,
    debug_requested,
    load_settings,
)
from cronkit.config.values import DEFAULT_CRONTAB_COMMAND
from cronkit.errors import ConfigError
from tests.conftest import write_registry
from tests.fixturetypes import RunCli

# setting -> (option value, env value, file value, expected default given home=/h)
VALUES: dict[str, tuple[Any, str, Any, Any]] = {
    "home": ("/opt/o", "/opt/e", "/opt/f", None),
    "db_url": ("sqlite:////o.db", "sqlite:////e.db", "sqlite:////f.db", "sqlite:////h/cronkit.db"),
    "app_db_url": ("sqlite:////o.db", "postgresql://e/db", "sqlite:////f.db", "sqlite:////h/platform.db"),
    "redis_url": ("redis://o:1/0", "redis://e:2/0", "redis://f:3/0", None),
    "environment": ("opt", "envv", "filev", "development"),
    "registry": ("a.opt", "a.env", "a.file:registry", None),  # none configured: only `cronkit demo` runs
    "log_dir": ("/opt/lo", "/opt/le", "/opt/lf", "/h/logs"),
    "reports_dir": ("/opt/ro", "/opt/re", "/opt/rf", "/h/reports"),
    "timezone": ("Europe/Paris", "Asia/Tokyo", "America/New_York", "UTC"),
    "secret_key": ("k-opt", "k-env", "k-file", None),
    "previous_secret_key": ("p-opt", "p-env", "p-file", None),
    "runlog_retention_days": (5, "6", 7, 90),
    "serve_host": ("0.0.0.0", "::1", "10.0.0.5", "127.0.0.1"),
    "serve_port": (9001, "9002", 9003, 8765),
    "health_public": (True, "false", True, False),
    "public_url": ("https://o.example", "https://e.example", "https://f.example", None),
    "registry_path": ("/opt/po", "/opt/pe", "/opt/pf", None),
    "metrics_dir": ("/opt/mo", "/opt/me", "/opt/mf", "/h/metrics"),
    "spread_seed": ("s-opt", "s-env", "s-file", ""),
    "check_schedule": ("* * * * *", "*/10 * * * *", "7 * * * *", "*/5 * * * *"),
    "adopted": ("/opt/o.py", "/opt/e.py", "/opt/f.py", "/h/adopted.py"),
    "auto_sync": (True, "false", True, False),
    "encrypt_payloads": (True, "false", True, False),
    "insights_critical_unhealthy": (True, "false", True, False),
}


def toml_value(value: Any) -> str:
    return json.dumps(value)  # a JSON string or integer is valid TOML


def plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def test_every_setting_is_covered() -> None:
    assert set(VALUES) == set(ENV_VARS)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_precedence_option_env_file_default(name: str, tmp_path: Path) -> None:
    opt, env, file_value, default = VALUES[name]
    config = tmp_path / "cronkit.toml"
    config.write_text(f"{name} = {toml_value(file_value)}\n")
    base = {"CRONKIT_HOME": "/h"} if name != "home" else {}
    if name == "encrypt_payloads":  # sealing needs the key to seal with
        base["CRONKIT_SECRET_KEY"] = "k"
    environ = {**base, ENV_VARS[name]: env}

    def get(**kwargs: Any) -> Any:
        return plain(getattr(load_settings(**kwargs), name))

    expect = {"runlog_retention_days": (5, 6, 7), "serve_port": (9001, 9002, 9003),
              "health_public": (True, False, True), "auto_sync": (True, False, True),
              "encrypt_payloads": (True, False, True),
              "insights_critical_unhealthy": (True, False, True)}.get(name, (opt, env, file_value))
    assert get(options={name: opt}, environ=environ, config_path=str(config)) == expect[0]
    assert load_settings(options={name: opt}, environ=environ, config_path=str(config)).sources[name] == "option"
    assert get(environ=environ, config_path=str(config)) == expect[1]
    assert get(environ=base, config_path=str(config)) == expect[2]
    assert load_settings(environ=base, config_path=str(config)).sources[name] == "file"
    if name == "home":
        assert get(environ={"HOME": "/u"}) == "/u/.local/state/cronkit"
        assert get(environ={"HOME": "/u", "XDG_STATE_HOME": "/x"}) == "/x/cronkit"
    else:
        empty = tmp_path / "empty.toml"
        empty.write_text("")
        assert get(environ=base, config_path=str(empty)) == default


ALL_VARS = {**ENV_VARS, **RUNTIME_ENV_VARS}


@pytest.mark.parametrize(("name", "value", "error"), [
    ("serve_port", "0", "serve_port: must be a port number (1-65535)"),
    ("serve_port", "http", "serve_port: must be a port number (1-65535)"),
    ("health_public", "maybe", "health_public: must be true or false"),
    ("public_url", "ftp://x", "public_url: 'ftp://x' must start with http:// or https://"),
    ("check_schedule", "@reboot", "check_schedule: '@reboot': give five cron fields (the block adds its own @reboot line)"),
    ("check_schedule", "61 * * * *", "check_schedule: minute: 61 is out of range 0-59"),
    ("auto_sync", "maybe", "auto_sync: 'maybe' is not a boolean (1/0, true/false, yes/no, on/off)"),
    ("serve_refresh", "0.5", "serve_refresh: '0.5' is not a number of seconds between 1 and 3600"),
    ("serve_refresh", "soon", "serve_refresh: 'soon' is not a number of seconds between 1 and 3600"),
])
def test_serve_settings_name_the_bad_key(name: str, value: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"CRONKIT_HOME": "/h", ALL_VARS[name]: value})
    assert str(caught.value) == f"{error} (set by {ALL_VARS[name]})"  # where to look for it


def test_postgres_urls_are_read_as_postgresql_and_a_bad_port_is_named() -> None:
    settings = load_settings(environ={"CRONKIT_HOME": "/h", "CRONKIT_DB_URL": "postgres://app:pw@db:5432/x",
                                      "CRONKIT_APP_DB_URL": "postgres+psycopg2://app@db/y"})
    assert (settings.db_url, settings.app_db_url) == ("postgresql://app:pw@db:5432/x", "postgresql+psycopg2://app@db/y")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"CRONKIT_HOME": "/h", "CRONKIT_DB_URL": "postgresql://app:s3cret@db:notaport/x"})
    assert str(caught.value) == ("db_url: postgresql://app:***@db:notaport/x: the port is not a number from 1 to 65535"
                                 " (set by CRONKIT_DB_URL)")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"CRONKIT_HOME": "/h", "CRONKIT_DB_URL": "postgresql://postgres:pa ss/x@127.0.0.1/db"})
    assert str(caught.value) == ("db_url: postgresql://postgres:***@127.0.0.1/db: the password holds '/', '?'"
                                 " or '#'; percent-encode it (%2F, %3F, %23) (set by CRONKIT_DB_URL)")


def test_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('environment = "staging"\n')
    settings = load_settings(environ={"CRONKIT_HOME": "/h", "CRONKIT_ENV": ""}, config_path=str(config))
    assert settings.environment == "staging"


def test_paths_in_the_file_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "cronkit.toml"
    config.write_text('home = "state"\nlog_dir = "../logs"\n')
    settings = load_settings(environ={}, config_path=str(config))
    assert settings.home == tmp_path / "etc" / "state"
    assert settings.log_dir == tmp_path / "logs"
    assert settings.db_url == f"sqlite:///{tmp_path / 'etc' / 'state' / 'cronkit.db'}"
    assert settings.config_file == config


def test_config_file_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cronkit.toml").write_text('environment = "local"\n')
    (tmp_path / "env.toml").write_text('environment = "fromenv"\n')
    (tmp_path / "opt.toml").write_text('environment = "fromopt"\n')
    environ = {"CRONKIT_HOME": "/h", "CRONKIT_CONFIG": str(tmp_path / "env.toml")}
    assert load_settings(environ=environ, config_path=str(tmp_path / "opt.toml")).environment == "fromopt"
    assert load_settings(environ=environ).environment == "fromenv"
    assert load_settings(environ={"CRONKIT_HOME": "/h"}).environment == "local"
    (tmp_path / "cronkit.toml").unlink()
    assert load_settings(environ={"CRONKIT_HOME": "/h"}).config_file is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("bogus = 1", "'bogus'"),
        ('timezone = "Mars/Base"', "timezone"),
        ('timezone = ""', "timezone"),
        ('environment = "Prod uction"', "environment"),
        ("environment = 3", "environment"),
        ('db_url = "cronkit.db"', "db_url"),
        ('app_db_url = "nope"', "app_db_url"),
        ('redis_url = "http://localhost:6379"', "redis_url"),
        ("runlog_retention_days = 0", "runlog_retention_days"),
        ("runlog_retention_days = 1.5", "runlog_retention_days"),
        ('runlog_retention_days = "ninety"', "runlog_retention_days"),
        ("runlog_retention_days = true", "runlog_retention_days"),
        ("home = 5", "home"),
        ("log_dir = []", "log_dir"),
        ("tasks = 3", "tasks"),
        ("[tasks]\nx = 1", "tasks"),
        ("environment = ", "cronkit.toml"),  # a TOML syntax error names the file
    ],
)
def test_bad_file_values_name_the_key(text: str, key: str, tmp_path: Path) -> None:
    config = tmp_path / "cronkit.toml"
    config.write_text(text + "\n")
    with pytest.raises(ConfigError, match=key) as info:
        load_settings(environ={"HOME": "/u"}, config_path=str(config))
    assert info.value.exit_code == 78


@pytest.mark.parametrize(
    ("var", "value", "key"),
    [
        ("CRONKIT_TIMEZONE", "Not/AZone", "timezone"),
        ("CRONKIT_ENV", "PROD", "environment"),
        ("CRONKIT_DB_URL", "/var/lib/cronkit.db", "db_url"),
        ("CRONKIT_REDIS_URL", "localhost:6379", "redis_url"),
        ("CRONKIT_RUNLOG_RETENTION_DAYS", "-3", "runlog_retention_days"),
        ("CRONKIT_RUNLOG_RETENTION_DAYS", "2.5", "runlog_retention_days"),
    ],
)
def test_bad_environment_values_name_the_key(var: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_settings(environ={"CRONKIT_HOME": "/h", var: value})


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"CRONKIT_HOME": "/h"}, config_path=str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"CRONKIT_HOME": "/h", "CRONKIT_CONFIG": str(tmp_path / "nope.toml")})


def test_task_tables_reach_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[tasks.a]\nbatch_size = 10\nenabled = false\n")
    settings = load_settings(environ={"CRONKIT_HOME": "/h"}, config_path=str(config))
    assert settings.for_task("a") == {"batch_size": 10, "enabled": False}
    assert settings.for_task("b") == {}


def test_secret_key_is_not_in_the_repr() -> None:
    settings = load_settings(environ={"CRONKIT_HOME": "/h", "CRONKIT_SECRET_KEY": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)


# -- settings SPEC 2 does not list (runner tuning, host name, clock pin, crontab access, debug) -----

# setting -> (option value, env value, file value as TOML, expected option/env/file/default)
RUNTIME_VALUES: dict[str, tuple[Any, str, str, tuple[Any, Any, Any, Any]]] = {
    "stop_grace": (1.5, "2.5", "3", (1.5, 2.5, 3.0, DEFAULT_STOP_GRACE)),
    "lease_ttl": ("5", "6.5", "7", (5.0, 6.5, 7.0, DEFAULT_LEASE_TTL)),
    "finish_retry": ("5", "6.5", "7", (5.0, 6.5, 7.0, 30.0)),
    "heartbeat_interval": ("5", "6.5", "7", (5.0, 6.5, 7.0, 30.0)),
    "hostname": ("host-o", "host-e", '"host-f"', ("host-o", "host-e", "host-f", socket.gethostname())),
    "now": ("2026-01-01T00:00:00+01:00", "2026-02-01T00:00:00Z", "2026-03-01T10:00:00Z",
            (datetime(2025, 12, 31, 23, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC),
             datetime(2026, 3, 1, 10, tzinfo=UTC), None)),
    "crontab_command": ("sudo crontab", "/opt/bin/crontab -n", '"fake-crontab"',
                        (("sudo", "crontab"), ("/opt/bin/crontab", "-n"), ("fake-crontab",), DEFAULT_CRONTAB_COMMAND)),
    "cron_d": ("/o/cron.d", "/e/cron.d", '"/f/cron.d"', (Path("/o/cron.d"), Path("/e/cron.d"), Path("/f/cron.d"), DEFAULT_CRON_D)),
    "debug": (True, "1", "true", (True, True, True, False)),
    "environments": ("qa,prod", "qa, prod ,qa", '["prod"]', (("qa", "prod"), ("qa", "prod"), ("prod",), ())),
    "serve_header_timeout": ("5", "6.5", "7", (5.0, 6.5, 7.0, 10.0)),
    "serve_refresh": ("5", "6.5", "7", (5.0, 6.5, 7.0, 15.0)),
}


def test_every_runtime_setting_is_covered() -> None:
    assert set(RUNTIME_VALUES) == set(RUNTIME_ENV_VARS)
    assert not set(RUNTIME_ENV_VARS) & set(ENV_VARS)


@pytest.mark.parametrize("name", sorted(RUNTIME_VALUES))
def test_runtime_settings_precedence_option_env_file_default(name: str, tmp_path: Path) -> None:
    opt, env, file_text, expect = RUNTIME_VALUES[name]
    config = tmp_path / "cronkit.toml"
    config.write_text(f"{name} = {file_text}\n")
    base = {"CRONKIT_HOME": "/h"}
    environ = {**base, RUNTIME_ENV_VARS[name]: env}
    by_option = load_settings(options={name: opt}, environ=environ, config_path=str(config))
    assert (getattr(by_option, name), by_option.sources[name]) == (expect[0], "option")
    by_env = load_settings(environ=environ, config_path=str(config))
    assert (getattr(by_env, name), by_env.sources[name]) == (expect[1], "env")
    by_file = load_settings(environ=base, config_path=str(config))
    assert (getattr(by_file, name), by_file.sources[name]) == (expect[2], "file")
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    by_default = load_settings(environ={**base, RUNTIME_ENV_VARS[name]: ""}, config_path=str(empty))
    assert getattr(by_default, name) == expect[3] and name not in by_default.sources


def test_runtime_settings_derived_values(tmp_path: Path) -> None:
    settings = load_settings(environ={"CRONKIT_HOME": "/h", "CRONKIT_LEASE_TTL": "2.5", "CRONKIT_NOW": "2026-11-28T10:00:20"})
    assert settings.lease_ttl_ms == 2500
    assert settings.now == datetime(2026, 11, 28, 10, 0, 20, tzinfo=UTC)  # no offset: UTC
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "cronkit.toml"
    config.write_text('cron_d = "../cron.d"\nnow = 2026-11-28T11:00:00+01:00\n')
    settings = load_settings(environ={"CRONKIT_HOME": "/h"}, config_path=str(config))
    assert settings.cron_d == tmp_path / "cron.d"  # relative to the file, like the other paths
    assert settings.now == datetime(2026, 11, 28, 10, tzinfo=UTC)  # a TOML date-time


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("CRONKIT_STOP_GRACE", "soon", "stop_grace: 'soon' is not a number of seconds between 0 and 3600"),
        ("CRONKIT_STOP_GRACE", "-1", "stop_grace: '-1' is not a number of seconds between 0 and 3600"),
        ("CRONKIT_STOP_GRACE", "nan", "stop_grace: 'nan' is not a number of seconds"),
        ("CRONKIT_LEASE_TTL", "0.5", "lease_ttl: '0.5' is not a number of seconds between 1 and 86400"),
        ("CRONKIT_LEASE_TTL", "inf", "lease_ttl: 'inf' is not a number of seconds"),
        ("CRONKIT_HOSTNAME", "web 1", "hostname: 'web 1' is not a host name"),
        ("CRONKIT_HOSTNAME", "  ", "hostname: must be a non-empty string"),
        ("CRONKIT_NOW", "yesterday", "now: 'yesterday' is not an ISO 8601 instant"),
        ("CRONKIT_CRONTAB_COMMAND", "  ", "crontab_command: must be a non-empty string"),
        ("CRONKIT_CRONTAB_COMMAND", "crontab 'unclosed", "crontab_command: \"crontab 'unclosed\": No closing quotation"),
        ("CRONKIT_CRON_D", " ", "cron_d: must be a non-empty string"),
        ("CRONKIT_DEBUG", "maybe", "debug: 'maybe' is not a boolean"),
    ],
)
def test_bad_runtime_values_name_the_key(var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"CRONKIT_HOME": "/h", var: value})
    assert str(info.value).startswith(message)
    assert info.value.exit_code == 78


@pytest.mark.parametrize(
    ("text", "key"),
    [("stop_grace = true", "stop_grace"), ('lease_ttl = "a minute"', "lease_ttl"), ("hostname = 3", "hostname"),
     ("now = 2026-11-28", "now"), ("crontab_command = []", "crontab_command"), ("cron_d = 1", "cron_d"),
     ('debug = "sometimes"', "debug")],
)
def test_bad_runtime_file_values_name_the_key(text: str, key: str, tmp_path: Path) -> None:
    config = tmp_path / "cronkit.toml"
    config.write_text(text + "\n")
    with pytest.raises(ConfigError, match=f"^{key}: "):
        load_settings(environ={"CRONKIT_HOME": "/h"}, config_path=str(config))


def test_debug_requested_reads_only_a_valid_environment_flag() -> None:
    assert debug_requested({"CRONKIT_DEBUG": "yes"}) is True
    assert debug_requested({"CRONKIT_DEBUG": "0"}) is False
    assert debug_requested({"CRONKIT_DEBUG": ""}) is False
    assert debug_requested({}) is False
    assert debug_requested({"CRONKIT_DEBUG": "maybe"}) is False  # load_settings reports it


# -- through the CLI -------------------------------------------------------------------------------

REGISTRY = """
@registry.task("0 * * * *", environments=["production"], defaults={"batch_size": 100, "label": "x"})
def only_prod(ctx: TaskContext) -> dict:
    return {"batch_size": ctx.config["batch_size"], "label": ctx.config["label"]}
"""


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    return write_registry(tmp_path / "cfg_registry.py", REGISTRY)


def test_cli_precedence_of_env_and_tasks(run_cli: RunCli, registry_file: Path, tmp_path: Path) -> None:
    (tmp_path / "cronkit.toml").write_text('environment = "staging"\n')

    def enabled(*args: str, env: dict[str, str] | None = None) -> bool:
        proc = run_cli(*args, "list", "--json", env={"CRONKIT_TASKS": str(registry_file), **(env or {})})
        assert proc.returncode == 0, proc.stderr
        return bool(json.loads(proc.stdout)[0]["enabled"])

    assert enabled() is False  # file: staging
    assert enabled(env={"CRONKIT_ENV": "production"}) is True  # env beats file
    assert enabled("--env", "staging", env={"CRONKIT_ENV": "production"}) is False  # option beats env
    assert enabled("--env", "production") is True


def test_cli_precedence_of_home_and_db_url(run_cli: RunCli, registry_file: Path, tmp_path: Path, home: Path) -> None:
    env = {"CRONKIT_TASKS": str(registry_file)}
    (tmp_path / "cronkit.toml").write_text(f'home = "{tmp_path / "filehome"}"\n')
    assert run_cli("run", "only-prod", env=env).returncode == 0  # CRONKIT_HOME beats the file
    assert (home / "cronkit.db").exists() and not (tmp_path / "filehome").exists()
    assert run_cli("--home", str(tmp_path / "opthome"), "run", "only-prod", env=env).returncode == 0
    assert (tmp_path / "opthome" / "cronkit.db").exists()
    db = tmp_path / "explicit.db"
    proc = run_cli("--db-url", f"sqlite:///{db}", "run", "only-prod", env={**env, "CRONKIT_DB_URL": "sqlite:////nonexistent/x.db"})
    assert proc.returncode == 0, proc.stderr
    assert db.exists()


def test_cli_config_option_env_and_local_file(run_cli: RunCli, registry_file: Path, tmp_path: Path) -> None:
    (tmp_path / "cronkit.toml").write_text("[tasks.only-prod]\nbatch_size = 1\n")
    (tmp_path / "env.toml").write_text("[tasks.only-prod]\nbatch_size = 2\n")
    (tmp_path / "opt.toml").write_text("[tasks.only-prod]\nbatch_size = 3\n")
    base = {"CRONKIT_TASKS": str(registry_file)}

    def batch(*args: str, env: dict[str, str]) -> int:
        proc = run_cli(*args, "run", "only-prod", "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        return int(json.loads(proc.stdout)["result"]["batch_size"])

    assert batch(env=base) == 1
    assert batch(env={**base, "CRONKIT_CONFIG": str(tmp_path / "env.toml")}) == 2
    assert batch("--config", str(tmp_path / "opt.toml"), env={**base, "CRONKIT_CONFIG": str(tmp_path / "env.toml")}) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1", "unknown key 'bogus'"),
        ('timezone = "Mars/Base"', "timezone: unknown timezone 'Mars/Base'"),
        ('environment = "Prod"', "environment: 'Prod' is not a lowercase name"),
        ('db_url = "x.db"', "db_url: 'x.db' is not a database URL"),
        ('redis_url = "http://r"', "redis_url: must start with redis://"),
        ("runlog_retention_days = 0", "runlog_retention_days: must be a whole number"),
        ("[tasks.ghost]\nbatch_size = 1", "tasks.ghost: no such task in the registry"),
        ("[tasks.only-prod]\nbatchsize = 1", "tasks.only-prod.batchsize: unknown setting"),
        ('[tasks.only-prod]\nbatch_size = "many"', "tasks.only-prod.batch_size: expected int"),
        ('[tasks.only-prod]\nenabled = "no"', "tasks.only-prod.enabled: must be true or false"),
    ],
)
def test_cli_config_errors_exit_78_naming_the_key(run_cli: RunCli, registry_file: Path, tmp_path: Path, home: Path,
                                                  text: str, message: str) -> None:
    (tmp_path / "cronkit.toml").write_text(text + "\n")
    # `run` parses its command line by hand; the other commands go through typer (three cases suffice)
    command = ("list",) if text.startswith(("bogus", "[tasks.ghost]", '[tasks.only-prod]\nenabled')) else ("run", "only-prod")
    proc = run_cli(*command, env={"CRONKIT_TASKS": str(registry_file)})
    assert proc.returncode == 78, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("cronkit: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (home / "cronkit.db").exists()  # nothing recorded


def test_cli_missing_config_file_exits_78(run_cli: RunCli, registry_file: Path, tmp_path: Path) -> None:
    for args, env in [(("--config", str(tmp_path / "no.toml")), {}), ((), {"CRONKIT_CONFIG": str(tmp_path / "no.toml")})]:
        proc = run_cli(*args, "run", "only-prod", env={"CRONKIT_TASKS": str(registry_file), **env})
        assert proc.returncode == 78
        assert proc.stderr == f"cronkit: error: config: file not found: {tmp_path / 'no.toml'}\n"


def test_cli_bad_env_option_exits_78(run_cli: RunCli, registry_file: Path) -> None:
    proc = run_cli("--env", "Prod!", "list", env={"CRONKIT_TASKS": str(registry_file)})
    assert proc.returncode == 78
    assert proc.stderr == "cronkit: error: environment: 'Prod!' is not a lowercase name\n"


def test_cli_run_checks_every_task_table(run_cli: RunCli, registry_file: Path, tmp_path: Path, home: Path) -> None:
    (tmp_path / "cronkit.toml").write_text("[tasks.ghost]\nbatch_size = 1\n")
    proc = run_cli("run", "only-prod", env={"CRONKIT_TASKS": str(registry_file)})
    assert proc.returncode == 78
    assert proc.stderr == "cronkit: error: tasks.ghost: no such task in the registry\n"
    assert not (home / "cronkit.db").exists()
