"""Help as Unix help reads: conventional placeholders, text as written, no line ending in spaces.

typer shows click's type names (`INTEGER`, `TEXT`, `<text>` beside an argument, `{task}` in the
usage line); this swaps them, once, for the placeholders Unix help uses (`--limit LIMIT`, `[TASK]`,
nothing after a flag). typer's rich help also reads help texts as rich markup (`[notify.<name>]`
vanished), keeps a docstring's hard line breaks inside a paragraph (a line broken mid-sentence)
and pads every line with spaces to the terminal's width: help text here is plain text, each
paragraph reflowed to the terminal's width, and the padding dropped. Written against typer 0.28
(pyproject pins `typer<0.29`: 0.29 validates every parameter through pydantic, a quarter of a
second more on every command line).
"""

from __future__ import annotations

import copy
import inspect
import re
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


def reflow(text: str | None) -> str | None:
    """Return help text with each paragraph on one line, for rich to wrap to the terminal's width.

    As in a docstring, a single newline inside a paragraph is a space and a blank line separates
    paragraphs. A line of an example or of code keeps its own line: one that is indented or starts
    with `Example:` or `$ `, and every line of a paragraph that starts with click's `\\b`.
    """
    if not text:
        return text
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        if paragraph.startswith("\b"):
            paragraphs.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.split("\n"):
            if lines and not _own_line(line) and not _own_line(lines[-1]):
                lines[-1] = f"{lines[-1]} {line.strip()}"
            else:
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def _own_line(line: str) -> bool:
    return line[:1].isspace() or line.startswith(("Example:", "$ "))


def _reflowing(init: Any) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.help = reflow(self.help)

    return __init__


# Spaces (and the style codes after them) at the end of a line: rich's padding to the full width.
_PADDING = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$", re.MULTILINE)


class _Unpadded:
    """The file behind typer's help console: what rich writes, less the spaces that pad each line."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def write(self, text: str) -> int:
        self._file.write(_PADDING.sub(r"\1", text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _plain_rich_text(*, text: str, style: str = "", markup_mode: Any) -> Any:
    """Return help text as rich Text, as written: brackets are text, not rich markup."""
    # lazy: cli -> rich, only when help is shown
    from rich.text import Text
    from typer import rich_utils

    if markup_mode != rich_utils.MARKUP_MODE_RICH:
        return _rich_text(text=text, style=style, markup_mode=markup_mode)
    return rich_utils.highlighter(Text(inspect.cleandoc(text), style=style))


def _unpadded_console(stderr: bool = False) -> Any:
    console = _rich_console(stderr)
    console.file = _Unpadded(console.file)
    return console


_rich_text: Any = None
_rich_console: Any = None


def _patch_rich_help() -> None:
    """Patch typer's rich help, once, when help is first shown (rich is not imported before)."""
    global _rich_text, _rich_console
    from typer import rich_utils  # lazy: cli -> rich, only when help is shown

    if _rich_text is None:
        _rich_text, _rich_console = rich_utils._make_rich_text, rich_utils._get_rich_console
        rich_utils._make_rich_text = _plain_rich_text
        rich_utils._get_rich_console = _unpadded_console


def _patching_help(format_help: Any) -> Any:
    def _format_help(self: Any, ctx: Any, formatter: Any) -> None:
        _patch_rich_help()
        format_help(self, ctx, formatter)

    return _format_help


def install() -> None:
    core.TyperOption.make_metavar = _option_metavar  # type: ignore[method-assign]
    core.TyperArgument.make_metavar = _argument_metavar  # type: ignore[method-assign]
    core.TyperArgument.__init__ = _init_argument  # type: ignore[method-assign]
    for cls in (core.TyperCommand, core.TyperGroup):
        cls.__init__ = _reflowing(cls.__init__)  # type: ignore[method-assign]
        cls.format_help = _patching_help(cls.format_help)  # type: ignore[method-assign]
