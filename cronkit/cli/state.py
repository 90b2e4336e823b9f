"""What one command line resolved: its global options, then its settings and registry, once each; and
how a command says an error.

Free of typer: the fast path (cli/fastpath.py) and the typer app (cli/app.py) share it.
"""

from __future__ import annotations

import sys

from cronkit.config.settings import Settings, activate, debug_requested, load_settings
from cronkit.plain import TYPE_CHECKING, field, record
from cronkit.registry import Registry, check_task_tables
from cronkit.registry.sets import load_registries
from cronkit.safe.terminal import printable

if TYPE_CHECKING:
    from typing import Any


@record
class GlobalOptions:
    """Options every command takes before its name: they override environment and config file."""

    config: str | None = None
    home: str | None = None
    env: str | None = None
    db_url: str | None = None
    tasks: str | None = None
    debug: bool = False

    def setting_overrides(self) -> dict[str, Any]:
        return {"home": self.home, "environment": self.env, "db_url": self.db_url, "registry": self.tasks,
                "debug": True if self.debug else None}

    def settings(self) -> Settings:
        return activate(load_settings(self.setting_overrides(), config_path=self.config))

    def wants_debug(self, settings: Settings | None) -> bool:
        """Tell whether an error should show its traceback: --debug, else the settings' `debug`.

        Before the settings exist (the error may be theirs), CRONKIT_DEBUG alone decides.
        """
        if self.debug:
            return True
        if settings is not None:
            return settings.debug
        return debug_requested()


@record
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
            settings = self.settings()
            registry = load_registries(settings)
            registry.apply_spread_seed(settings.spread_seed)
            check_task_tables(registry, settings.task_config)
            self._registry = registry
        return self._registry

    @property
    def debug(self) -> bool:
        return self.options.wants_debug(self._settings)


def report_error(exc: BaseException, debug: bool) -> int:
    """Print one line for a CronkitError (with the traceback under --debug); return its exit code."""
    if debug:
        # The interpreter's own report (C), as traceback.print_exc() writes it: the traceback module
        # and what it imports (linecache, tokenize) stay off the path of every command.
        sys.__excepthook__(type(exc), exc, exc.__traceback__)
    print(f"cronkit: error: {printable(str(exc))}", file=sys.stderr)
    return int(getattr(exc, "exit_code", 1))
