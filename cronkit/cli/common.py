"""What every typer command shares: global options, settings, one-line errors, output helpers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import typer

from ..config import Settings
from ..errors import CronkitError
from ..registry import Registry
from .run import GlobalOptions, report_error
from .tables import (
    STATUS_STYLE,
    console,
    duration,
    plural,
    print_json,
    print_table,
    short_time,
    styled_status,
)

__all__ = ["JSON_OPTION", "STATUS_STYLE", "CliState", "cli_errors", "console", "duration", "get_registry",
           "get_settings", "plural", "print_json", "print_table", "short_time", "state_of", "styled_status"]

F = TypeVar("F", bound=Callable[..., Any])

JSON_OPTION = typer.Option(False, "--json", help="Print JSON with stable keys instead of a table.")


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
            from ..registry import check_task_tables
            from ..registry_loader import load_registry

            settings = self.settings()
            registry = load_registry(settings.registry, settings.registry_path)
            registry.apply_spread_seed(settings.spread_seed)
            check_task_tables(registry, settings.task_config)
            self._registry = registry
        return self._registry

    @property
    def debug(self) -> bool:
        return self.options.wants_debug(self._settings)


def state_of(ctx: typer.Context) -> CliState:
    """Return the state of this command line (a default one when the app's callback did not run)."""
    return ctx.ensure_object(CliState)


def get_settings(ctx: typer.Context) -> Settings:
    """Return the settings of this command line, resolved once."""
    return state_of(ctx).settings()


def get_registry(ctx: typer.Context) -> Registry:
    """Return the task registry named by the settings, its [tasks.*] tables checked."""
    return state_of(ctx).registry()


def cli_errors(func: F) -> F:
    """Turn a CronkitError into one line on stderr and its exit code (a traceback with --debug).

    The command takes `ctx: typer.Context` (by keyword, as typer passes it): it holds the state.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CronkitError as exc:
            raise typer.Exit(report_error(exc, state_of(kwargs["ctx"]).debug)) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


