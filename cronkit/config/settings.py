"""Settings: command-line options > environment > cronkit.toml > defaults, validated once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from cronkit import clock, host
from cronkit.config.insights import Rules, insight_settings
from cronkit.config.tables import (
    KubernetesSettings,
    SystemdSettings,
    kubernetes_settings,
    notify_fields,
    systemd_settings,
)
from cronkit.config.values import (
    DEFAULT_CHECK_SCHEDULE,
    DEFAULT_CRONTAB_COMMAND,
    ENV_NAME,
    check_timezone,
    checked_check_schedule,
    checked_command,
    checked_db_url,
    checked_encryption,
    checked_environments,
    checked_flag,
    checked_hostname,
    checked_instant,
    checked_redis_url,
    checked_retention_days,
    checked_seconds,
    checked_text,
    serve_settings,
)
from cronkit.errors import ConfigError
from cronkit.plain import TYPE_CHECKING, field, record
from cronkit.safe import encrypt as payloads

if TYPE_CHECKING:
    from typing import Any

    from cronkit.config.notify import Notifier, TaskNotify

DEFAULT_ENVIRONMENT = "development"
DEMO_REGISTRY = "cronkit.tasks"  # `cronkit demo ...` only: every other command needs a registry set
DEFAULT_TIMEZONE = "UTC"
DEFAULT_RUNLOG_RETENTION_DAYS = 90
CONFIG_FILE_NAME = "cronkit.toml"
ADOPTED_FILE_NAME = "adopted.py"
DEFAULT_STOP_GRACE = 10.0  # seconds between asking a task to stop and killing it
STOP_GRACE_RANGE = (0.0, 3600.0)
DEFAULT_LEASE_TTL = 60.0  # seconds a Redis lease outlives its last renewal, so a vanished owner frees it
LEASE_TTL_RANGE = (1.0, 86400.0)
DEFAULT_DB_NAME = "cronkit.db"  # the run log's file in the home, by default
DEFAULT_FINISH_RETRY = 30.0  # seconds the end of a run retries the run log before journaling it
FINISH_RETRY_RANGE = (0.0, 3600.0)
DEFAULT_HEARTBEAT_INTERVAL = 30.0  # seconds between a run's heartbeats (lost-marking waits 4 of them)
HEARTBEAT_INTERVAL_RANGE = (0.1, DEFAULT_HEARTBEAT_INTERVAL)  # shorter only: other hosts assume 30 s
DEFAULT_SERVE_HEADER_TIMEOUT = 10.0  # seconds; web/guard.py closes a connection whose request head is later
SERVE_HEADER_TIMEOUT_RANGE = (0.1, 600.0)
DEFAULT_SERVE_REFRESH = 15.0  # seconds between the dashboard's refreshes of a page's live part
SERVE_REFRESH_RANGE = (1.0, 3600.0)
DEFAULT_CRON_D = Path("/etc/cron.d")

# setting name -> environment variable; the file uses the setting name as its key.
ENV_VARS: dict[str, str] = {
    "home": "CRONKIT_HOME",
    "db_url": "CRONKIT_DB_URL",
    "app_db_url": "CRONKIT_APP_DB_URL",
    "redis_url": "CRONKIT_REDIS_URL",
    "environment": "CRONKIT_ENV",
    "registry": "CRONKIT_TASKS",
    "log_dir": "CRONKIT_LOG_DIR",
    "reports_dir": "CRONKIT_REPORTS_DIR",
    "timezone": "CRONKIT_TIMEZONE",
    "secret_key": "CRONKIT_SECRET_KEY",
    # Encrypted payloads (issue 31): runs' params, results, errors, tracebacks and output sealed at
    # rest under secret_key; the previous key opens what was sealed before a key change (rekey).
    "encrypt_payloads": "CRONKIT_ENCRYPT_PAYLOADS",
    "previous_secret_key": "CRONKIT_PREVIOUS_SECRET_KEY",
    "runlog_retention_days": "CRONKIT_RUNLOG_RETENTION_DAYS",
    # `cronkit serve` (the HTTP service)
    "serve_host": "CRONKIT_SERVE_HOST",
    "serve_port": "CRONKIT_SERVE_PORT",
    "health_public": "CRONKIT_HEALTH_PUBLIC",
    "public_url": "CRONKIT_PUBLIC_URL",
    # Registry lookup (issue 13): the directory `install` records for cron runs to import the same module.
    "registry_path": "CRONKIT_TASKS_PATH",
    "metrics_dir": "CRONKIT_METRICS_DIR",  # notifications and metrics files (issue 15)
    # Deterministic spread (issue 16): mixed into the hash that resolves `H` schedule parts.
    "spread_seed": "CRONKIT_SPREAD_SEED",
    # Catch-up (issue 16): how often the block's `cronkit check` line runs (host's zone, as cron reads it).
    "check_schedule": "CRONKIT_CHECK_SCHEDULE",
    # Adopted crontab jobs (issue 30): the registry file `cronkit adopt` writes, loaded whenever it exists.
    "adopted": "CRONKIT_ADOPTED",
    # Runtime control (issue 28): the block's `cronkit check` reinstalls it when the registry's lines change.
    "auto_sync": "CRONKIT_AUTO_SYNC",
    "insights_critical_unhealthy": "CRONKIT_INSIGHTS_CRITICAL_UNHEALTHY",  # issue 29: critical insights fail health
}
# Settings SPEC section 2 does not list: runner tuning, the host name of runs and locks, the clock pin
# of tests and "what if" checks, how the crontab is reached, tracebacks. Same precedence as the others.
RUNTIME_ENV_VARS: dict[str, str] = {
    "stop_grace": "CRONKIT_STOP_GRACE",
    "lease_ttl": "CRONKIT_LEASE_TTL",
    "hostname": "CRONKIT_HOSTNAME",
    "now": "CRONKIT_NOW",
    "crontab_command": "CRONKIT_CRONTAB_COMMAND",
    "cron_d": "CRONKIT_CRON_D",
    "debug": "CRONKIT_DEBUG",
    "finish_retry": "CRONKIT_FINISH_RETRY",
    "heartbeat_interval": "CRONKIT_HEARTBEAT_INTERVAL",
    "environments": "CRONKIT_ENVIRONMENTS",  # known besides the tasks' own: install refuses others (issue 26)
    # `cronkit serve` (issue 25): seconds a request's line and headers may take to arrive.
    "serve_header_timeout": "CRONKIT_SERVE_HEADER_TIMEOUT",
    "serve_refresh": "CRONKIT_SERVE_REFRESH",
}
FILE_ONLY_KEYS = {"tasks", "kubernetes", "systemd", "notify", "emf_file", "secret_env"}
PATH_SETTINGS = {"home", "log_dir", "reports_dir", "cron_d", "registry_path", "metrics_dir", "adopted"}
# Kubernetes object names: a DNS-1123 label (namespace) or subdomain (Secret, ServiceAccount).
DEFAULT_SERVE_HOST = "127.0.0.1"
DEFAULT_SERVE_PORT = 8765


@record(frozen=True)
class Settings:
    """Every setting cronkit reads, resolved and validated; built once per command."""

    home: Path
    db_url: str
    app_db_url: str
    redis_url: str | None
    environment: str
    registry: str | None  # None: not configured, an error for every command but `cronkit demo`
    log_dir: Path
    reports_dir: Path
    timezone: str
    secret_key: str | None = field(default=None, repr=False)
    encrypt_payloads: bool = False
    previous_secret_key: str | None = field(default=None, repr=False)
    runlog_retention_days: int = DEFAULT_RUNLOG_RETENTION_DAYS
    task_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    systemd: SystemdSettings = field(default_factory=SystemdSettings)
    # Notifications and metrics files (issue 15, SPEC section 11): `notify` is the default list of
    # notifiers, `notifiers` the [notify.<name>] tables, `task_notify` each task's notify,
    # max_duration and min_duration (kept out of task_config, which is the task's own ctx.config).
    notify: tuple[str, ...] = ()
    notifiers: Mapping[str, Notifier] = field(default_factory=dict)
    task_notify: Mapping[str, TaskNotify] = field(default_factory=dict)
    # The file's own notification tables, as written: `install` copies them into the run settings file.
    notify_source: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # `[secret_env]`: values for the variables the notifiers name (secret_env, password_env), which
    # install writes into the 0600 run settings file; the process environment wins over them.
    secret_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    metrics_dir: Path | None = None  # None: <home>/metrics
    emf_file: Path | None = None
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    stop_grace: float = DEFAULT_STOP_GRACE
    lease_ttl: float = DEFAULT_LEASE_TTL
    hostname: str = field(default_factory=lambda: os.uname().nodename)  # socket.gethostname's answer
    now: datetime | None = None  # a pinned clock (UTC), None for the real one
    crontab_command: tuple[str, ...] = DEFAULT_CRONTAB_COMMAND
    cron_d: Path = DEFAULT_CRON_D
    debug: bool = False
    finish_retry: float = DEFAULT_FINISH_RETRY
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    serve_header_timeout: float = DEFAULT_SERVE_HEADER_TIMEOUT
    serve_refresh: float = DEFAULT_SERVE_REFRESH
    # `cronkit serve` (the HTTP service, SPEC 10)
    serve_host: str = DEFAULT_SERVE_HOST
    serve_port: int = DEFAULT_SERVE_PORT
    health_public: bool = False  # /health/deep without a token, details reduced to up/down
    public_url: str | None = None  # the service's address in links sent out
    # Registry lookup (issue 13): an absolute directory put first on sys.path before the registry
    # module is imported; None: the current directory, then the interpreter's path.
    registry_path: Path | None = None
    # Deterministic spread (issue 16): `H` parts resolve from a hash of the task name and this.
    spread_seed: str = ""
    check_schedule: str = DEFAULT_CHECK_SCHEDULE  # the block's periodic `cronkit check` line
    environments: tuple[str, ...] = ()  # known besides the tasks' own (issue 26)
    # Adopted crontab jobs (issue 30): the registry file `cronkit adopt` writes; None: <home>/adopted.py.
    adopted: Path | None = None
    auto_sync: bool = False  # `cronkit check` reinstalls the block when the registry renders other lines
    task_insights: Mapping[str, Rules] = field(default_factory=dict)  # issue 29: [tasks.NAME.insights]
    insights_critical_unhealthy: bool = False

    def for_task(self, name: str) -> Mapping[str, Any]:
        """Return the `[tasks.<name>]` table, empty when there is none."""
        return self.task_config.get(name, {})

    @property
    def task_log_dir(self) -> Path:
        return self.log_dir / "cronkit"

    @property
    def lease_ttl_ms(self) -> int:
        """Return the Redis lease TTL in whole milliseconds."""
        return int(self.lease_ttl * 1000)

    @property
    def metrics_path(self) -> Path:
        """Return where the .prom files go: metrics_dir, else <home>/metrics."""
        return self.metrics_dir or self.home / "metrics"

    def notify_environ(self, environ: Mapping[str, str]) -> Mapping[str, str]:
        """Return the environment the notifiers read their secrets from: `[secret_env]` under `environ`."""
        return {**self.secret_env, **environ} if self.secret_env else environ

    def notifiers_for(self, task: str) -> tuple[Notifier, ...]:
        """Return the notifiers a task uses: its own `notify` list, else the default list."""
        own = self.task_notify.get(task)
        names = own.notify if own is not None and own.notify is not None else self.notify
        return tuple(self.notifiers[name] for name in names)


def default_home(environ: Mapping[str, str]) -> Path:
    """Return `$XDG_STATE_HOME/cronkit`, else `~/.local/state/cronkit`."""
    state = environ.get("XDG_STATE_HOME")
    base = Path(state) if state else Path(environ.get("HOME") or Path.home()) / ".local" / "state"
    return base / "cronkit"


def find_config_file(option: str | None, environ: Mapping[str, str]) -> Path | None:
    """Return the config file to read: --config, else $CRONKIT_CONFIG, else ./cronkit.toml."""
    explicit = option or environ.get("CRONKIT_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            raise ConfigError(f"config: {path} is a directory, not a TOML file")
        if not path.exists():
            raise ConfigError(f"config: file not found: {path}")
        return path.resolve()  # a file, or what reads as one: `--config /dev/null` is an empty config
    local = Path(CONFIG_FILE_NAME)
    return local.resolve() if local.is_file() else None


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML config file, naming the file and line of a syntax error."""
    import tomllib  # lazy: only when there is a config file

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: {exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8; tomllib decodes before it parses
        raise ConfigError(f"config: {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
                          ) from None
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
    known = set(ENV_VARS) | set(RUNTIME_ENV_VARS) | FILE_ONLY_KEYS
    for key in data:
        if key not in known:
            raise ConfigError(f"config: unknown key {key!r} in {path}")
    tasks = data.get("tasks", {})
    if not isinstance(tasks, dict) or not all(isinstance(v, dict) for v in tasks.values()):
        raise ConfigError(f"config: 'tasks' must hold [tasks.<name>] tables in {path}")
    for table in ("kubernetes", "systemd"):
        if not isinstance(data.get(table, {}), dict):
            raise ConfigError(f"config: {table!r} must be a [{table}] table in {path}")
    return data


def activate(settings: Settings) -> Settings:
    """Apply the settings this whole process shares: the clock pin (`now`) and the host name.

    Called once by each command line after it resolved its settings; library callers that
    want CRONKIT_NOW or CRONKIT_HOSTNAME honoured call it too.
    """
    clock.pin(settings.now)
    host.set_hostname(settings.hostname)
    payloads.configure(settings.secret_key, settings.previous_secret_key, encrypt=settings.encrypt_payloads)
    return settings


def load_settings(
    options: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: str | None = None,
) -> Settings:
    """Resolve every setting by precedence and validate it; raise ConfigError naming the key."""
    environ = os.environ if environ is None else environ
    path = find_config_file(config_path, environ)
    file_data = read_config_file(path) if path else {}
    raw = RawSettings.gather(options or {}, environ, file_data, path)
    try:
        home = raw.directory("home", default_home(environ))
        raw.sources.setdefault("home", "default")
        return Settings(
            home=home,
            **_place_fields(raw, home),
            **notify_fields(file_data, raw.values, path, home),
            kubernetes=kubernetes_settings(file_data.get("kubernetes", {})),
            systemd=systemd_settings(file_data.get("systemd", {})),
            config_file=path,
            sources=raw.sources,
            **_runtime_fields(raw),
            **serve_settings(raw.values),
            **insight_settings(raw.get("insights_critical_unhealthy", False), file_data.get("tasks", {})),
        )
    except ConfigError as exc:
        raise raw.named(exc) from None


@record
class RawSettings:
    """Each setting's raw value by precedence (option > environment > file), and where it came from."""

    values: dict[str, Any]
    sources: dict[str, str]

    @classmethod
    def gather(cls, options: Mapping[str, Any], environ: Mapping[str, str], file_data: Mapping[str, Any],
               path: Path | None) -> RawSettings:
        raw = cls({}, {})
        for name, var in (ENV_VARS | RUNTIME_ENV_VARS).items():
            if options.get(name) is not None:
                raw.values[name], raw.sources[name] = options[name], "option"
            elif environ.get(var, "") != "":
                raw.values[name], raw.sources[name] = environ[var], "env"
            elif name in file_data:
                raw.values[name], raw.sources[name] = file_data[name], "file"
                # A relative path in the file means relative to the file; a non-string is left for text() to reject.
                value = file_data[name]
                # A NUL is left for text() to reject too: resolve() would raise on it.
                if (name in PATH_SETTINGS and path is not None and isinstance(value, str) and value.strip()
                        and "\x00" not in value):
                    raw.values[name] = str((path.parent / Path(value.strip()).expanduser()).resolve())
        return raw

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def named(self, error: ConfigError) -> ConfigError:
        """Add the environment variable to an error about a setting that came from one, which
        is where to look (a unit file, a cron line), not the config file the key names."""
        name = str(error).split(":", 1)[0]
        if self.sources.get(name) != "env":
            return error
        return ConfigError(f"{error} (set by {(ENV_VARS | RUNTIME_ENV_VARS)[name]})")

    def text(self, name: str) -> str | None:
        """Return a string setting stripped, None when unset; refuse an empty or non-string value."""
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{name}: must be a non-empty string")
        return checked_text(name, value.strip())

    def directory(self, name: str, default: Path) -> Path:
        value = self.text(name)
        return Path(value).expanduser().absolute() if value else default


def _place_fields(raw: RawSettings, home: Path) -> dict[str, Any]:
    """Return where cronkit keeps and finds things: databases, Redis, registry, zone, directories."""
    redis_url = raw.text("redis_url")
    if redis_url is not None:
        checked_redis_url("redis_url", redis_url)
    environment = raw.text("environment") or DEFAULT_ENVIRONMENT
    if not ENV_NAME.fullmatch(environment):
        raise ConfigError(f"environment: {environment!r} is not a lowercase name")
    tz = raw.text("timezone") or DEFAULT_TIMEZONE
    check_timezone("timezone", tz)
    return {
        "db_url": checked_db_url("db_url", raw.text("db_url") or f"sqlite:///{home / DEFAULT_DB_NAME}"),
        "app_db_url": checked_db_url("app_db_url", raw.text("app_db_url") or f"sqlite:///{home / 'platform.db'}"),
        "redis_url": redis_url,
        "environment": environment,
        "registry": raw.text("registry"),
        "registry_path": raw.directory("registry_path", Path()) if raw.text("registry_path") else None,
        "log_dir": raw.directory("log_dir", home / "logs"),
        "reports_dir": raw.directory("reports_dir", home / "reports"),
        "timezone": tz,
        "secret_key": raw.text("secret_key"),
        "encrypt_payloads": checked_encryption(raw.get("encrypt_payloads", False), raw.text("secret_key")),
        "previous_secret_key": raw.text("previous_secret_key"),
        "runlog_retention_days": checked_retention_days(raw.get("runlog_retention_days", DEFAULT_RUNLOG_RETENTION_DAYS)),
        "spread_seed": raw.text("spread_seed") or "",
        "check_schedule": checked_check_schedule(raw.text("check_schedule")),
        "adopted": raw.directory("adopted", home / ADOPTED_FILE_NAME),
        "auto_sync": checked_flag("auto_sync", raw.get("auto_sync", False)),
    }


def _runtime_fields(raw: RawSettings) -> dict[str, Any]:
    """Return the runner tuning, host name, clock pin, crontab access and debug settings."""
    return {
        "stop_grace": checked_seconds("stop_grace", raw.get("stop_grace", DEFAULT_STOP_GRACE), STOP_GRACE_RANGE),
        "lease_ttl": checked_seconds("lease_ttl", raw.get("lease_ttl", DEFAULT_LEASE_TTL), LEASE_TTL_RANGE),
        "hostname": checked_hostname(raw.text("hostname")),
        "now": checked_instant("now", raw.get("now")),
        "crontab_command": checked_command("crontab_command", raw.text("crontab_command")),
        "cron_d": raw.directory("cron_d", DEFAULT_CRON_D),
        "debug": checked_flag("debug", raw.get("debug", False)),
        "finish_retry": checked_seconds("finish_retry", raw.get("finish_retry", DEFAULT_FINISH_RETRY), FINISH_RETRY_RANGE),
        "environments": checked_environments(raw.get("environments")),
        "heartbeat_interval": checked_seconds("heartbeat_interval", raw.get("heartbeat_interval", DEFAULT_HEARTBEAT_INTERVAL),
                                       HEARTBEAT_INTERVAL_RANGE),
        "serve_header_timeout": checked_seconds("serve_header_timeout", raw.get(
            "serve_header_timeout", DEFAULT_SERVE_HEADER_TIMEOUT), SERVE_HEADER_TIMEOUT_RANGE),
        "serve_refresh": checked_seconds("serve_refresh", raw.get("serve_refresh", DEFAULT_SERVE_REFRESH),
                                         SERVE_REFRESH_RANGE),
    }


def debug_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Return whether CRONKIT_DEBUG asks for tracebacks, False when it is unset or unreadable.

    For the CLI to report an error raised before the settings exist (a bad setting, a broken
    config file); afterwards `Settings.debug` answers, and a bad value is its config error.
    """
    environ = os.environ if environ is None else environ
    try:
        return checked_flag("debug", environ.get(RUNTIME_ENV_VARS["debug"], "") or False)
    except ConfigError:
        return False
