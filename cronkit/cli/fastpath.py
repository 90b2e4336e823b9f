"""The fast way in: a plain command line of the command table, parsed by the table and run, no typer.

cron starts `cronkit run` every tick and scripts poll `status` and `health`: typer, click and
rich would cost more than the command itself. main() tries this parser first; a command line
it does not take (another command, `--help`, an unknown option, a missing or bad value) returns
None and the typer app, built from the same table, answers it with its help or usage error.
"""

from __future__ import annotations

import importlib
import math

from cronkit.cli.commands import BY_NAME, GLOBAL_OPTIONS, Command, Option
from cronkit.cli.state import CliState, GlobalOptions, report_error
from cronkit.errors import CronkitError
from cronkit.plain import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Words that always go to typer: help, and the end of options (a task named like an option).
TYPER_WORDS = frozenset({"--help", "-h", "--"})


class NotPlain(Exception):
    """A command line this parser leaves to typer, which says what is wrong with it."""


def main(argv: list[str]) -> int | None:
    """Run a plain command line of the table; None hands any other to typer."""
    parsed = parse(argv)
    if parsed is None:
        return None
    command, options, values = parsed
    return call(command, CliState(options), values)


def parse(argv: list[str]) -> tuple[Command, GlobalOptions, dict[str, Any]] | None:
    """Parse `[global options] COMMAND [ARGUMENT] [options]` by the table; None for anything else.

    Global options may also follow the command, as typer takes them there too (main.py).
    """
    if TYPER_WORDS.intersection(argv):
        return None
    args, found = list(argv), _defaults(GLOBAL_OPTIONS)
    try:
        while args and args[0].startswith("-"):
            if not _take(args, GLOBAL_OPTIONS, found):
                return None
        command = BY_NAME.get(args.pop(0)) if args else None
        if command is None:
            return None
        values = _defaults(command.options)
        while args:
            if args[0].startswith("-"):
                if not (_take(args, command.options, values) or _take(args, GLOBAL_OPTIONS, found)):
                    return None
                continue
            argument = command.argument
            if argument is None or argument.dest in values:
                return None
            values[argument.dest] = _convert(argument.kind, argument.low, argument.high, args.pop(0))
        if command.argument is not None and command.argument.dest not in values:
            if command.argument.required:
                return None
            values[command.argument.dest] = None
    except NotPlain:
        return None
    return command, GlobalOptions(**found), values


def call(command: Command, state: CliState, values: dict[str, Any]) -> int:
    """Run a command's body with the values of its command line; return the exit code.

    Unless the body reports its own errors, a CronkitError is one line on stderr (a traceback
    too with --debug) and its exit code, and Ctrl-C is exit 130.
    """
    body = load_body(command)
    if command.own_errors:
        return int(body(state, **values))
    try:
        return int(body(state, **values))
    except CronkitError as exc:
        return report_error(exc, state.debug)
    except KeyboardInterrupt:
        return 130


def load_body(command: Command) -> Callable[..., int]:
    """Return the function that runs `command`, importing its module."""
    module, _, name = command.body.partition(":")
    # lazy: a body (and what it reads: the runner, the run log, the health checks) only for its command
    found: Callable[..., int] = getattr(importlib.import_module(module), name)
    return found


def _defaults(table: tuple[Option, ...]) -> dict[str, Any]:
    return {option.dest: [] if option.repeat else _default(option) for option in table}


def _default(option: Option) -> Any:
    """Return an option's value when not given, as typer converts it (a float option's 7 is 7.0)."""
    return option.kind(option.default) if option.default is not None and option.kind in (int, float) \
        else option.default


def _take(args: list[str], table: tuple[Option, ...], into: dict[str, Any]) -> bool:
    """Pop the option at the front of args into `into` if `table` knows it (False, args intact, if not).

    Takes `--name value`, `--name=value` and flags; a flag given a value, or a valued option
    without one, raises NotPlain.
    """
    name, sep, value = args[0].partition("=")
    option = next((o for o in table if o.name == name), None)
    if option is None:
        return False
    args.pop(0)
    if option.flag:
        if sep:
            raise NotPlain
        into[option.dest] = True
        return True
    if not sep:
        if not args:
            raise NotPlain
        value = args.pop(0)
    value = _convert(option.kind, option.low, option.high, value)
    if option.repeat:
        into[option.dest].append(value)
    else:
        into[option.dest] = value
    return True


def _convert(kind: type, low: float | None, high: float | None, text: str) -> Any:
    """Return `text` as `kind`; NotPlain for what typer refuses (no number, not finite, out of range)."""
    if kind is str:
        return text
    try:
        number = kind(text)
    except (ValueError, OverflowError):
        raise NotPlain from None
    if not math.isfinite(number) or (low is not None and number < low) or (high is not None and number > high):
        raise NotPlain
    return number
