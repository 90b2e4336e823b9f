"""What every typer command shares: global options, settings, one-line errors, output helpers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from cronkit.cli.state import CliState, report_error
from cronkit.cli.tables import (
    STATUS_STYLE,
    console,
    duration,
    plural,
    print_json,
    print_table,
    short_time,
    styled_status,
)
from cronkit.config.settings import Settings
from cronkit.errors import CronkitError, UsageError
from cronkit.registry import Registry
from cronkit.safe.inputs import text_problem

__all__ = ["JSON_OPTION", "STATUS_STYLE", "CliState", "cli_errors", "console", "duration", "get_registry",
           "get_settings", "plural", "print_json", "print_table", "short_time", "state_of", "styled_status"]

F = TypeVar("F", bound=Callable[..., Any])

JSON_OPTION = typer.Option(False, "--json", help="Print JSON with stable keys instead of a table.")


def state_of(ctx: typer.Context) -> CliState:
    """Return the state of this command line (a default one when the app's callback did not run)."""
    return ctx.ensure_object(CliState)


def get_settings(ctx: typer.Context) -> Settings:
    """Return the settings of this command line, resolved once."""
    return state_of(ctx).settings()


def get_registry(ctx: typer.Context) -> Registry:
    """Return the task registry named by the settings, its [tasks.*] tables checked."""
    return state_of(ctx).registry()


def task_filter(value: str | None, name: str = "--task") -> str | None:
    """Return a task filter of a read command; UsageError for one no task name can be.

    A byte that is not UTF-8 reaches Python as a lone surrogate, which the database driver
    cannot encode (a traceback); a NUL neither.
    """
    problem = text_problem(value) if value is not None else None
    if problem is not None:
        raise UsageError(f"{name}: {value!r} {problem}")
    return value


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


