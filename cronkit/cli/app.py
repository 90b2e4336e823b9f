"""The typer application: the global options and every command, those of the command table built from it.

main() answers a plain command line of the table on the fast path (cli/fastpath.py); this app
answers `--help`, usage errors and every other command. A usage error is one line on stderr and
exit 2, as SPEC asks.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
import typer.main
from typer._click.core import Command as ClickCommand
from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption
from typer.core import TyperGroup

from cronkit.cli import helpfmt, usage
from cronkit.cli.commands import (
    COMMANDS,
    GLOBAL_OPTIONS,
    TYPER_ONLY,
    Argument,
    Command,
    Option,
    global_option,
)
from cronkit.cli.common import state_of
from cronkit.cli.fastpath import call
from cronkit.cli.state import CliState, GlobalOptions
from cronkit.version import __version__

MODULE_OF = dict(TYPER_ONLY)


class _Commands(MutableMapping[str, ClickCommand]):
    """The app's commands by name: those of the command table, then the typer-only ones, each loaded
    (its module imported, its commands built) when first looked up."""

    def __init__(self, built: MutableMapping[str, ClickCommand]) -> None:
        self._built = dict(built)

    def __getitem__(self, name: str) -> ClickCommand:
        if name not in self._built and name in MODULE_OF:
            sub = typer.Typer()
            # lazy: a typer-only command's module, named by the table, only when that command is asked for
            importlib.import_module(MODULE_OF[name]).register(sub)
            self._built.update(typer.main.get_group(sub).commands)
        return self._built[name]

    def __setitem__(self, name: str, command: ClickCommand) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*(name for name in self._built if name not in MODULE_OF), *MODULE_OF])

    def __len__(self) -> int:
        return len(list(iter(self)))


class _Group(TyperGroup):
    """The app's group: its commands load as they are looked up (_Commands)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)


helpfmt.install()
usage.install()

app = typer.Typer(
    name="cronkit",
    help="Run a backend's scheduled work with the host's own cron.\n\n"
    "Example: cronkit list; cronkit run hourly-metrics; cronkit history --limit 10",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=_Group,
)


def _parameter(item: Option | Argument) -> inspect.Parameter:
    """Return the typer parameter of a declared option or argument (its default says how typer reads it)."""
    if isinstance(item, Argument):
        info: Any = typer.Argument(... if item.required else None, help=item.help, min=item.low, max=item.high)
        annotation: Any = item.kind if item.required else item.kind | None
    else:
        info = typer.Option(item.default, item.name, help=item.help, min=item.low, max=item.high,
                            metavar=item.metavar)
        annotation = (bool if item.flag else list[str] | None if item.repeat
                      else item.kind if item.default is not None else item.kind | None)
    return inspect.Parameter(item.dest, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def _declared(func: Any, doc: str, items: list[inspect.Parameter]) -> Any:
    """Give `func` (taking ctx and **values) the signature and help typer reads."""
    ctx = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    func.__signature__ = inspect.Signature([ctx, *items])
    func.__annotations__ = {p.name: p.annotation for p in (ctx, *items)}
    func.__doc__ = doc
    return func


def add_command(command: Command) -> None:
    """Add a command of the table to the app: its help, argument and options, its body."""

    def answer(ctx: typer.Context, **values: Any) -> None:
        raise typer.Exit(call(command, state_of(ctx), values))

    items = ([command.argument] if command.argument else []) + list(command.options)
    app.command(command.name)(_declared(answer, command.help, [_parameter(item) for item in items]))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


def _global_options(ctx: typer.Context, *, version: bool = False, **values: Any) -> None:
    """Run a backend's scheduled work with the host's own cron."""
    # A fresh state for every invocation: nothing of one command line outlives it.
    ctx.obj = CliState(GlobalOptions(**values))


VERSION = inspect.Parameter("version", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
    False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."))
app.callback()(_declared(_global_options, _global_options.__doc__ or "",
                         [*(_parameter(option) for option in GLOBAL_OPTIONS), VERSION]))
for declared in COMMANDS:
    add_command(declared)


def run_app(args: list[str]) -> int:
    """Run the typer app; a usage error becomes one line on stderr and exit 2, as SPEC asks.

    A global option given after the command (`cronkit install --tasks x`) is taken as if it came
    before it, unless that command has an option of the same name.
    """
    args = _bare_user_flag(args or ["--help"])
    for _ in range(len(args) + 1):
        try:
            result: Any = app(args=args, prog_name="cronkit", standalone_mode=False)
        except NoSuchOption as exc:
            moved = usage.hoist_global_option(args, exc.option_name)
            if moved is not None:
                args = moved
                continue
            if global_option(exc.option_name) is not None:  # at the end, without its value
                print(f"cronkit: error: {exc.option_name}: needs a value (cronkit {exc.option_name} VALUE COMMAND ...)",
                      file=sys.stderr)
                return 2
            return _usage_error(exc)
        except (ClickException, typer.Abort) as exc:
            return _usage_error(exc)
        return result if isinstance(result, int) else 0
    return 2


def _usage_error(exc: ClickException | typer.Abort) -> int:
    """Answer an exception of the typer app's parsing: help, an abort, or one usage line (exit 2)."""
    if isinstance(exc, NoArgsIsHelpError):
        # `cronkit dlq`: that group's help, as `cronkit dlq --help` shows it. Building the
        # error already rendered the help (typer's rich help prints as it is built and
        # leaves the message empty; plain click help is the message): finish it the way
        # the --help option does, once.
        print(exc.format_message())
        return 0
    if isinstance(exc, typer.Abort):
        return 130
    print(f"cronkit: error: {usage.error_line(exc)}", file=sys.stderr)
    return int(exc.exit_code)


def _bare_user_flag(args: list[str]) -> list[str]:
    """Return args with a bare `--user` (systemd's user units, SPEC 13) written as `--user=`.

    `--user NAME` names a crontab's user elsewhere; click has no option whose value is optional.
    """
    out = list(args)
    for index, arg in enumerate(out):
        if arg == "--":
            break
        if arg == "--user" and (index + 1 == len(out) or out[index + 1].startswith("-")):
            out[index] = "--user="
    return out
