"""Render the systemd service that keeps `cronkit serve` running: `<prefix>serve.service`.

The same settings as the task units (`[systemd]`: unit prefix, EnvironmentFile= for secrets;
User= as theirs), a restart on failure, and a stop by SIGTERM, which `cronkit serve` answers by finishing
its requests. Runs it started are processes of their own and go on: KillMode=process stops the
server alone, where the default would kill every process of the unit, runs included.
"""

from __future__ import annotations

from cronkit.config.settings import Settings
from cronkit.registry import Registry
from cronkit.targets.systemd import service_lines, unit_user

SERVE_UNIT = "serve"


def render(registry: Registry, settings: Settings, executable: str, user: str | None = None,
           user_units: bool = False) -> dict[str, str]:
    """Return {unit file name: text} for `cronkit serve` with the settings' host and port; the
    registry is found the way the task units and the cron lines find it, User= as theirs."""
    lines = [
        f"# Rendered by cronkit (`cronkit render --target serve-unit`), environment {settings.environment}.",
        *service_lines(settings, "cronkit HTTP service (health, status, runs, triggers, metrics)", "exec",
                       ["serve", "--host", settings.serve_host, "--port", str(settings.serve_port)], executable,
                       registry, unit_user(settings, user, user_units)),
    ]
    lines += [
        "Restart=on-failure",
        "RestartSec=5",
        # 78: a configuration error (e.g. a public address and no token): restarting will not fix it.
        "RestartPreventExitStatus=78",
        "KillMode=process",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=20",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return {f"{settings.systemd.unit_prefix}{SERVE_UNIT}.service": "\n".join(lines) + "\n"}


__all__ = ["render"]
