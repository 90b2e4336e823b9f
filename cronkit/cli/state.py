"""What one command line resolved: its global options, then its settings and registry, once each.

Free of typer: the typer commands (cli/common.py) and the lean read paths (cli/lean.py,
cli/leanops.py) share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cronkit.cli.run import GlobalOptions
from cronkit.config.settings import Settings
from cronkit.registry import Registry


@dataclass
class CliState:
    """What one command line resolved: its global options, then its settings and registry, once each.

    The app's callback puts a fresh one in the root context's `obj` for every invocation, so
    the app can run in-process again and again without one command line leaking into the next.
    """

    options: GlobalOptions = field(default_factory=GlobalOptions)
    _settings: Settings | None = None
    _registry: Registry | None = None

    def settings(self) -> Settings:
        """Return the settings of this command line, resolved once."""
        if self._settings is None:
            self._settings = self.options.settings()
        return self._settings

    def registry(self) -> Registry:
        """Return the task registry named by the settings, its [tasks.*] tables checked."""
        if self._registry is None:
            from cronkit.registry import check_task_tables
            from cronkit.registry.sets import load_registries

            settings = self.settings()
            registry = load_registries(settings)
            registry.apply_spread_seed(settings.spread_seed)
            check_task_tables(registry, settings.task_config)
            self._registry = registry
        return self._registry

    @property
    def debug(self) -> bool:
        return self.options.wants_debug(self._settings)
