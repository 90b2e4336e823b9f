"""Conventional placeholders in help: `--limit LIMIT`, `[TASK]`, nothing after a flag.

typer shows Python types (`<bool>` on flags invites `--debug true`, `<int range>`, `<str>`);
this swaps them, once, for the placeholders Unix help uses.
"""

from __future__ import annotations

from typing import Any

from typer import core


def _option_type(self: Any, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None
    if self.metavar is not None:
        return str(self.metavar)
    if self.type_descriptor.is_choice:
        return "[" + "|".join(str(c) for c in self.type_descriptor.choices or ()) + "]"
    name = (self.name or "value").upper()
    return name + "..." if self.nargs != 1 else name


def _argument_type(self: Any, ctx: Any) -> str | None:
    return None  # the argument's name (TASK) says it


def _argument_name(self: Any) -> str:
    return str(self.metavar) if self.metavar is not None else str(self.name).upper()


def _usage_name(self: Any) -> str:
    name = _argument_name(self)
    name = name if self.required else f"[{name}]"
    return name + "..." if self.nargs != 1 else name


def install() -> None:
    core.TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]
    core.TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[assignment,method-assign]
    core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
