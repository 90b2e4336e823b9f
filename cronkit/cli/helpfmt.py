"""Conventional placeholders in help: `--limit LIMIT`, `[TASK]`, nothing after a flag.

typer shows click's type names (`INTEGER`, `TEXT`, `<text>` beside an argument, `{task}` in the
usage line); this swaps them, once, for the placeholders Unix help uses. Written against typer
0.28 (pyproject pins `typer<0.29`: 0.29 validates every parameter through pydantic, a quarter of a
second more on every command line).
"""

from __future__ import annotations

import copy
from typing import Any

from typer import core


def _option_metavar(self: Any, ctx: Any) -> str:
    if self.is_flag or self.count:
        return ""  # a flag takes no value: help shows none (and typer's rich help skips "")
    if self.metavar is not None:
        return str(self.metavar)
    choices = getattr(self.type, "choices", None)
    if choices:
        return "[" + "|".join(str(c) for c in choices) + "]"
    name = (self.name or "value").upper()
    return name + "..." if self.nargs != 1 else name


def _argument_metavar(self: Any, ctx: Any, *, usage: bool = False) -> str:
    name = str(self.metavar) if self.metavar is not None else str(self.name).upper()
    if usage and not self.required:
        name = f"[{name}]"
    return name + "..." if self.nargs != 1 else name


_argument_init = core.TyperArgument.__init__


def _init_argument(self: Any, *args: Any, **kwargs: Any) -> None:
    _argument_init(self, *args, **kwargs)
    if self.metavar is None and self.name:
        self.metavar = self.name.upper()  # the name column of rich help: TASK, not task
    # The type column beside an argument: its name says it (no `<text>`). A copy: click's types
    # are shared instances.
    self.type = copy.copy(self.type)
    self.type.get_metavar = lambda param, ctx: ""


def install() -> None:
    core.TyperOption.make_metavar = _option_metavar  # type: ignore[method-assign]
    core.TyperArgument.make_metavar = _argument_metavar  # type: ignore[method-assign]
    core.TyperArgument.__init__ = _init_argument  # type: ignore[method-assign]
