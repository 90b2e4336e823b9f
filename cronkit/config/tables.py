"""The tables of cronkit.toml: `[kubernetes]` and `[systemd]` (their settings and checks), and the
notification and metrics fields (`[notify]`, the tasks' notify keys, `[secret_env]`, metrics files)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from cronkit.config.values import checked_text
from cronkit.errors import ConfigError
from cronkit.plain import TYPE_CHECKING, field, fields, record

if TYPE_CHECKING:
    from typing import Any

# Patterns as text: re compiles (and caches) one when a table that has the key is read, not on every tick.
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_DNS_SUBDOMAIN = r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_QUANTITY = r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?"
_UNIT_PREFIX = r"[A-Za-z0-9:_.-]{0,64}"
_USER = r"(?i)[a-z_][a-z0-9_.-]{0,31}"
DEFAULT_IMAGE = "cronkit:latest"
DEFAULT_NAMESPACE = "default"
DEFAULT_SECRET_NAME = "cronkit"
DEFAULT_UNIT_PREFIX = "cronkit-"
DEFAULT_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"memory": "512Mi"},
}
DEFAULT_SUCCESSFUL_JOBS_HISTORY = 3
DEFAULT_FAILED_JOBS_HISTORY = 5
MAX_INT32 = 2**31 - 1  # Kubernetes' integer fields are int32


@record(frozen=True)
class KubernetesSettings:
    """The `[kubernetes]` table: what every rendered CronJob shares."""

    image: str = DEFAULT_IMAGE
    namespace: str = DEFAULT_NAMESPACE
    secret_name: str = DEFAULT_SECRET_NAME
    service_account: str | None = None
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_RESOURCES)
    env_from: tuple[str, ...] = ()  # "secret/NAME" or "configmap/NAME"
    successful_jobs_history_limit: int = DEFAULT_SUCCESSFUL_JOBS_HISTORY
    failed_jobs_history_limit: int = DEFAULT_FAILED_JOBS_HISTORY
    working_dir: str | None = None  # the project's directory in the image: workingDir and registry_path


@record(frozen=True)
class SystemdSettings:
    """The `[systemd]` table: unit names and what every rendered service shares."""

    unit_prefix: str = DEFAULT_UNIT_PREFIX
    user: str | None = None  # User= of system units; none runs them as root
    environment_file: str | None = None  # EnvironmentFile= holding secrets, never the unit itself


def _known(table: str, data: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            raise ConfigError(f"{table}.{key}: unknown setting (known: {', '.join(known)})")


def checked_str(name: str, value: Any, pattern: re.Pattern[str] | str | None = None, what: str = "") -> str:
    if not isinstance(value, str) or (pattern is None and not value.strip()):
        raise ConfigError(f"{name}: must be a non-empty string")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ConfigError(f"{name}: {value!r} is not {what}")
    return checked_text(name, value)


def _count(name: str, value: Any, low: int = 0, high: int = MAX_INT32) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name}: must be a whole number from {low} to {high}")
    return value


def kubernetes_settings(data: Mapping[str, Any]) -> KubernetesSettings:
    """Validate the `[kubernetes]` table; raise ConfigError naming the key."""
    defaults = KubernetesSettings()
    if isinstance(data, Mapping) and not data:  # no [kubernetes] table: the defaults, valid as written
        return defaults
    _known("kubernetes", data, tuple(f.name for f in fields(KubernetesSettings)))
    image = checked_str("kubernetes.image", data.get("image", defaults.image))
    if any(ch.isspace() for ch in image):
        raise ConfigError(f"kubernetes.image: {image!r} holds white space")
    namespace = checked_str("kubernetes.namespace", data.get("namespace", defaults.namespace), _DNS_LABEL,
                     "a namespace name (a DNS-1123 label: a-z, 0-9, '-', at most 63)")
    secret = checked_str("kubernetes.secret_name", data.get("secret_name", defaults.secret_name), _DNS_SUBDOMAIN,
                  "a Secret name (a DNS-1123 subdomain)")
    account = data.get("service_account")
    if account is not None:
        account = checked_str("kubernetes.service_account", account, _DNS_SUBDOMAIN,
                       "a ServiceAccount name (a DNS-1123 subdomain)")
    resources = _resources(data.get("resources", defaults.resources))
    env_from = data.get("env_from", [])
    if not isinstance(env_from, list):
        raise ConfigError('kubernetes.env_from: must be a list such as ["secret/app-env", "configmap/app"]')
    for item in env_from:
        kind, _, name = item.partition("/") if isinstance(item, str) else ("", "", "")
        if kind not in ("secret", "configmap") or not re.fullmatch(_DNS_SUBDOMAIN, name):
            raise ConfigError(f"kubernetes.env_from: {item!r} is not secret/NAME or configmap/NAME")
    working_dir = data.get("working_dir")
    if working_dir is not None:
        working_dir = checked_str("kubernetes.working_dir", working_dir)
        if not working_dir.startswith("/") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in working_dir):
            raise ConfigError(f"kubernetes.working_dir: {working_dir!r} must be an absolute path in the image")
    return KubernetesSettings(
        image=image,
        namespace=namespace,
        secret_name=secret,
        service_account=account,
        resources=resources,
        env_from=tuple(env_from),
        successful_jobs_history_limit=_count(
            "kubernetes.successful_jobs_history_limit",
            data.get("successful_jobs_history_limit", defaults.successful_jobs_history_limit)),
        failed_jobs_history_limit=_count(
            "kubernetes.failed_jobs_history_limit",
            data.get("failed_jobs_history_limit", defaults.failed_jobs_history_limit)),
        working_dir=working_dir,
    )


def _resources(raw_resources: Any) -> dict[str, dict[str, str]]:
    """Validate `kubernetes.resources`: requests and limits, each a table of quantities."""
    if not isinstance(raw_resources, Mapping):
        raise ConfigError("kubernetes.resources: must be a table with requests and/or limits")
    resources: dict[str, dict[str, str]] = {}
    for kind, table in raw_resources.items():
        name = f"kubernetes.resources.{kind}"
        if kind not in ("requests", "limits"):
            raise ConfigError(f"{name}: unknown setting (known: requests, limits)")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{name}: must be a table such as {{cpu = \"100m\", memory = \"128Mi\"}}")
        resources[kind] = {}
        for resource, quantity in table.items():
            if isinstance(quantity, bool) or not isinstance(quantity, (str, int, float)):
                raise ConfigError(f"{name}.{resource}: must be a quantity such as \"100m\" or \"128Mi\"")
            text = str(quantity)
            if not re.fullmatch(_QUANTITY, text):
                raise ConfigError(f"{name}.{resource}: {text!r} is not a quantity such as \"100m\" or \"128Mi\"")
            resources[kind][str(resource)] = text
    return resources


def systemd_settings(data: Mapping[str, Any]) -> SystemdSettings:
    """Validate the `[systemd]` table; raise ConfigError naming the key."""
    if isinstance(data, Mapping) and not data:  # no [systemd] table: the defaults, valid as written
        return SystemdSettings()
    _known("systemd", data, tuple(f.name for f in fields(SystemdSettings)))
    prefix = checked_str("systemd.unit_prefix", data.get("unit_prefix", DEFAULT_UNIT_PREFIX), _UNIT_PREFIX,
                  "a unit name prefix (letters, digits, ':', '_', '.', '-', at most 64)")
    user = data.get("user")
    if user is not None:
        user = checked_str("systemd.user", user, _USER, "a user name")
    env_file = data.get("environment_file")
    if env_file is not None:
        env_file = checked_str("systemd.environment_file", env_file)
        if not env_file.startswith("/") or any(ch.isspace() for ch in env_file):
            raise ConfigError(f"systemd.environment_file: {env_file!r} must be an absolute path without spaces")
    return SystemdSettings(unit_prefix=prefix, user=user, environment_file=env_file)


def notify_fields(file_data: Mapping[str, Any], raw: Mapping[str, Any], path: Path | None,
                  home: Path) -> dict[str, Any]:
    """Return task_config and the notification fields (issue 15); import their validation only if used."""
    tasks: Mapping[str, Mapping[str, Any]] = file_data.get("tasks", {})
    fields: dict[str, Any] = {"task_config": tasks, "metrics_dir": home / "metrics"}
    metrics_dir = raw.get("metrics_dir")
    if metrics_dir is not None:
        if not isinstance(metrics_dir, str) or not metrics_dir.strip():
            raise ConfigError("metrics_dir: must be a non-empty string")
        checked_text("metrics_dir", metrics_dir)
        fields["metrics_dir"] = Path(metrics_dir.strip()).expanduser().absolute()
    emf = file_data.get("emf_file")
    if emf is not None:
        if not isinstance(emf, str) or not emf.strip():
            raise ConfigError("emf_file: must be a file path")
        checked_text("emf_file", emf)
        base = path.parent if path is not None else Path.cwd()
        fields["emf_file"] = (base / Path(emf.strip()).expanduser()).absolute()
    secrets = file_data.get("secret_env", {})
    if not isinstance(secrets, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
        raise ConfigError("secret_env: must be a table of NAME = \"value\" strings")
    for key, value in secrets.items():  # an environment variable holds no NUL: exec would refuse it
        checked_text(f"secret_env.{key}", value)
    fields["secret_env"] = dict(secrets)
    from_tasks = any(key in table for table in tasks.values() for key in ("notify", "max_duration", "min_duration"))
    if "notify" not in file_data and not from_tasks:
        return fields
    # lazy: the notification settings, only when the config file has [notify] tables
    from cronkit.config.notify import TASK_KEYS, notify_settings, task_notify

    fields["notify_source"] = {
        "notify": file_data.get("notify", {}),
        "tasks": {name: {k: table[k] for k in TASK_KEYS if k in table} for name, table in tasks.items()},
    }

    fields["notify"], fields["notifiers"] = notify_settings(file_data)
    fields["task_notify"] = {name: task_notify(name, table, fields["notifiers"])
                             for name, table in tasks.items() if any(k in table for k in TASK_KEYS)}
    fields["task_config"] = {name: {k: v for k, v in table.items() if k not in TASK_KEYS}
                             for name, table in tasks.items()}
    return fields


__all__ = ["DEFAULT_UNIT_PREFIX", "KubernetesSettings", "SystemdSettings", "checked_str", "kubernetes_settings",
           "notify_fields", "systemd_settings"]
