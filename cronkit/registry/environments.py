"""Which environments a registry knows, and the refusal of any other: `--env prod` where the tasks
say `production` would render an empty block and `install` would empty the crontab's (issue 26)."""

from __future__ import annotations

from cronkit.config.settings import DEFAULT_ENVIRONMENT, Settings
from cronkit.errors import ConfigError
from cronkit.registry import Registry

ALLOW_EMPTY_FLAG = "--allow-empty"
_SET_BY = {"option": "--env", "env": "CRONKIT_ENV"}


def known_environments(registry: Registry, settings: Settings) -> list[str] | None:
    """Return the environments the tasks declare, the `environments` setting lists and the default
    one (`development`, where nothing is scheduled by default), sorted; None when a task runs in
    every environment (`"*"`), which makes any name known."""
    names = {DEFAULT_ENVIRONMENT, *settings.environments}
    for task in registry:
        if "*" in task.environments:
            return None
        names.update(task.environments)
    return sorted(names)


def check_environment(registry: Registry, settings: Settings, *, allow_empty: bool = False,
                      rendering: bool = True) -> None:
    """Refuse (ConfigError, exit 78) an environment the registry does not know, unless `allow_empty`.

    `rendering`: the command writes a block (its advice names --allow-empty); `status` and `health`
    refuse it too, since every verdict they would give about an unknown environment is wrong.
    """
    known = known_environments(registry, settings)
    if allow_empty or known is None or settings.environment in known:
        return
    source = settings.sources.get("environment", "default")
    where = _SET_BY.get(source) or (f"set in {settings.config_file}" if settings.config_file else source)
    advice = f", or pass {ALLOW_EMPTY_FLAG} to render an empty block on purpose" if rendering else ""
    raise ConfigError(
        f"environment {settings.environment!r} ({where}) is not one this registry knows: {', '.join(known)};"
        f" list it in the `environments` setting{advice}")
