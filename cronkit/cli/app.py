"""The typer application: the global options and every command, those of the command table built from it.

main() answers a plain command line of the table on the fast path (cli/fastpath.py); this app
answers `--help`, usage errors and every other command. A usage error is one line on stderr and
exit 2, as SPEC asks.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption

from cronkit import __version__
from cronkit.cli import (
    adopt,
    check,
    crontab,
    demo,
    dlq,
    helpfmt,
    locks,
    logs,
    migrate,
    notify,
    pause,
    rekey,
    secrets_cmd,
    serve,
    usage,
)
from cronkit.cli.commands import COMMANDS, GLOBAL_OPTIONS, Argument, Command, Option, global_option
from cronkit.cli.common import state_of
from cronkit.cli.fastpath import call
from cronkit.cli.state import CliState, GlobalOptions

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
for module in (dlq, locks, crontab, adopt, check):
    module.register(app)
app.add_typer(demo.app, name="demo")
serve.register(app)
app.add_typer(notify.app, name="notify")
for module in (pause, secrets_cmd, migrate, rekey, logs):
    module.register(app)


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
