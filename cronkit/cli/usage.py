"""Usage errors in plain words: `--days: 'abc' is not a number`, `--days: must be between 0.01 and 3650, not 0`.

click (typer vendors a copy) words a bad number as `'abc' is not a valid float range.` and one out
of its range as `0.0 is not in the range 0.01<=x<=3650.`, after `Invalid value for '--days': `.
Its number types here say what the option takes, and main() prints a bad value as the commands
print theirs: the option, a colon, what is wrong.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from typer._click import types

from cronkit.cli.commands import GLOBAL_OPTIONS
from cronkit.safe.inputs import MAX_INT64, MIN_INT64


def _number(value: Any) -> str:
    """Show a bound or a value as a person writes it: 3650, not 3650.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_number(self: Any, value: Any, param: Any, ctx: Any) -> Any:
    """Read an int or a float; a finite one (`nan` and `inf` are not a number of days or users)."""
    try:
        number = self._number_class(value)
    except (ValueError, TypeError, OverflowError):
        number = None
    if number is None or (isinstance(number, float) and not math.isfinite(number)):
        what = "a whole number" if self._number_class is int else "a number"
        self.fail(f"{value!r} is not {what}", param, ctx)
    return number


def _convert_number(self: Any, value: Any, param: Any, ctx: Any) -> Any:
    """Read a number; a whole one within 64 bits, where no range of the option's own bounds it."""
    number = _read_number(self, value, param, ctx)
    if isinstance(number, int) and not MIN_INT64 <= number <= MAX_INT64:
        # past 64 bits no database or C call takes it (an OverflowError traceback)
        self.fail(f"must be between {MIN_INT64} and {MAX_INT64}, not {value}", param, ctx)
    return number


def range_text(kind: Any) -> str:
    """Say what a number range takes: `between 0.01 and 3650`, `at least 1`, `more than 0`."""
    low = None if kind.min is None else ("more than " if kind.min_open else "at least ") + _number(kind.min)
    high = None if kind.max is None else ("less than " if kind.max_open else "at most ") + _number(kind.max)
    if low and high and not (kind.min_open or kind.max_open):
        return f"between {_number(kind.min)} and {_number(kind.max)}"
    return " and ".join(part for part in (low, high) if part)


def _convert_range(self: Any, value: Any, param: Any, ctx: Any) -> Any:
    number = _read_number(self, value, param, ctx) if self.min is not None and self.max is not None else \
        _convert_number(self, value, param, ctx)
    below = self.min is not None and (operator.le if self.min_open else operator.lt)(number, self.min)
    above = self.max is not None and (operator.ge if self.max_open else operator.gt)(number, self.max)
    if self.clamp and (below or above):
        return self._clamp(self.min if below else self.max, 1 if below else -1,
                           self.min_open if below else self.max_open)
    if below or above:
        shown = value.strip() if isinstance(value, str) else _number(number)
        self.fail(f"must be {range_text(self)}, not {shown}", param, ctx)
    return number


def install() -> None:
    types._NumberParamTypeBase.convert = _convert_number  # type: ignore[method-assign]
    types._NumberRangeBase.convert = _convert_range  # type: ignore[method-assign]


def error_line(exc: Any) -> str:
    """Return the one line (without `cronkit: error: `) for a click usage error.

    A bad value names its option (or argument) and what is wrong, as the commands' own checks do;
    any other usage error (no such command or option, a missing argument) keeps click's words and
    points at the command's help.
    """
    param = getattr(exc, "param", None)
    if type(exc).__name__ == "BadParameter" and param is not None:
        if param.param_type_name == "option":
            name = next((opt for opt in param.opts if opt.startswith("--")), param.opts[0])
        else:
            name = param.human_readable_name
        return f"{name}: {exc.message.rstrip('.')}"
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"{exc.format_message()}{hint}"


def hoist_global_option(args: list[str], name: str) -> list[str] | None:
    """Return args with the global option `name` (and its value) moved from after the command to
    just before it, where the app reads it; None when `name` is no global option or is not there.

    For `cronkit install --tasks x`: click reads a group's options before its command only.
    """
    option = next((o for o in GLOBAL_OPTIONS if o.name == name), None)
    if option is None:
        return None
    command = _command_index(args)
    if command is None:
        return None
    for index in range(command + 1, len(args)):
        word = args[index]
        if word == "--":
            break
        if word == name and (option.flag or index + 1 < len(args)):
            taken = args[index:index + (1 if option.flag else 2)]
        elif word.startswith(name + "=") and not option.flag:
            taken = [word]
        else:
            continue
        rest = args[:index] + args[index + len(taken):]
        return rest[:command] + taken + rest[command:]
    return None


def _command_index(args: list[str]) -> int | None:
    """Return the index of the command's name: the first word that is no global option or its value."""
    index = 0
    while index < len(args):
        word = args[index]
        option = next((o for o in GLOBAL_OPTIONS if word == o.name or word.startswith(o.name + "=")), None)
        if option is None:
            return None if word.startswith("-") else index
        index += 1 if option.flag or "=" in word else 2
    return None
