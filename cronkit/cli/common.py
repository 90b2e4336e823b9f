"""What every typer command shares: global options, settings, one-line errors, output helpers."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import typer

from ..config import Settings
from ..errors import CronkitError
from ..registry import Registry
from ..status import RunStatus
from .run import GlobalOptions, report_error

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
            from ..registry import check_task_tables, load_registry

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


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def plural(count: int, noun: str) -> str:
    """Return `1 run`, `2 runs`, `1 open dead letter`: the count and the noun, plural when not 1."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def short_time(iso: str | None) -> str:
    """Show an ISO instant compactly: `2026-11-28 22:36:05Z` in UTC, the offset kept otherwise."""
    if not iso:
        return "-"
    text = iso.replace("T", " ")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 120:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


STATUS_STYLE: dict[str, str] = {
    RunStatus.SUCCEEDED: "green", RunStatus.FAILED: "bold red", RunStatus.TIMED_OUT: "bold red",
    RunStatus.LOST: "bold red", RunStatus.INTERRUPTED: "yellow", RunStatus.SKIPPED: "dim",
    RunStatus.RUNNING: "cyan",
}


def styled_status(status: str | None) -> str:
    style = STATUS_STYLE.get(status or "", "")
    return f"[{style}]{status}[/{style}]" if style else str(status)


def print_table(title: str, columns: list[tuple[str, str, int]], rows: list[dict[str, str]],
                wrap: str | None = None) -> None:
    """Print rows as a compact rich table that fits the terminal.

    `columns` holds (name, justify, priority); when the natural widths do not fit, columns of the
    lowest priority (highest number) go first, so a narrow terminal keeps what an operator scans
    for. `wrap` names the one column allowed to fold instead (it fills what is left).
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out = console()

    def width(name: str) -> int:
        cells = [Text.from_markup(row.get(name, "")).cell_len for row in rows]
        return max([len(name), *cells])

    kept = list(columns)
    budget = out.width - 1
    while len(kept) > 1:
        fixed = sum(width(name) for name, _, _ in kept if name != wrap) + 2 * (len(kept) - 1)
        room = 20 if any(name == wrap for name, _, _ in kept) else 0
        if fixed + room <= budget:
            break
        kept.remove(max(kept, key=lambda column: column[2]))
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for name, justify, _ in kept:
        if name == wrap:
            table.add_column(name, overflow="fold", ratio=1)
        else:
            table.add_column(name, no_wrap=True, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(row.get(name, "") for name, _, _ in kept))
    # rich pads every line to the table's width: print it without the trailing spaces.
    with out.capture() as captured:
        out.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
