"""Plain text where stdout is no terminal: what rich would print there, without importing rich.

Importing rich is a fifth of a read command's start, and output to a pipe or a file has no colours:
rich prints the text of the markup laid out. This writes the same characters in the common case
(ASCII text, no emoji code, lines that fit, a table with no column to fold or cut) and answers None
for anything else, which rich then prints. The markup and escape rules are rich's (markup.py).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

# rich's markup tags and emoji codes (rich/markup.py, rich/_emoji_replace.py).
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
_WORD = re.compile(r"\s*\S+\s*")
_EMOJI = re.compile(r"(:(\S*?)(?:(?:\-)(emoji|text))?:)")
# Emoji names without a letter; any name with one may be an emoji (`:13:` of a time is none).
_UNLETTERED_EMOJI = frozenset({"100", "1234", "+1", "-1", "__1"})
# The styles cronkit's output uses: any other tag is left to rich.
STYLES = frozenset({"bold", "bold red", "cyan", "dim", "green", "red", "yellow"})
# Settings that make rich treat a pipe as a terminal (colours, widths): rich prints then.
FORCING = ("FORCE_COLOR", "TTY_COMPATIBLE", "JUPYTER_COLUMNS", "JUPYTER_LINES")
# A column of a laid-out table: (name, justify, priority), as tables.print_table takes them.
Column = tuple[str, str, int]


def escape(text: str) -> str:
    """Return text with markup's brackets escaped, so that it prints as written (rich.markup.escape)."""
    text = _ESCAPE.sub(lambda match: f"{match[1]}{match[1]}\\{match[2]}", text)
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


def width() -> int | None:
    """Return the width rich gives stdout when it is no terminal; None when rich must print."""
    try:
        if sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    if any(name in os.environ for name in FORCING):
        return None
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        return int(columns) or None
    for stream in (sys.__stdin__, sys.__stdout__, sys.__stderr__):
        try:
            return os.get_terminal_size(stream.fileno()).columns or 80  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            continue
    return 80


# Characters of one cell each besides printable ASCII: the summary's dot, `list`'s arrow, the rule.
_NARROW = frozenset("·→─\n")


def _plain_chars(text: str) -> bool:
    return all(" " <= char <= "~" or char in _NARROW for char in text)


def _no_emoji(text: str) -> bool:
    for match in _EMOJI.finditer(text):
        name = match[2].lower()
        if name in _UNLETTERED_EMOJI or re.search("[a-z]", name):
            return False
    return True


def verbatim(text: str) -> str | None:
    """Return `text` as rich prints it without markup; None when only rich can tell (emoji, control codes)."""
    return text if _plain_chars(text) and _no_emoji(text) else None


def text(markup: str) -> str | None:
    """Return the text rich prints for `markup`: its tags gone, `\\[` a bracket; None when only rich can tell."""
    if not _plain_chars(markup):
        return None
    pieces, stack, position = [], [], 0
    for match in _TAG.finditer(markup):
        full, escapes, tag = match.groups()
        pieces.append(markup[position:match.start()])
        position = match.end()
        backslashes, escaped = divmod(len(escapes), 2)
        pieces.append("\\" * backslashes)
        if escaped:
            pieces.append(full[len(escapes):])
        elif tag in STYLES:
            stack.append(tag)
        elif tag == "/" and stack:
            stack.pop()
        elif tag.startswith("/") and tag[1:] in stack:
            stack.reverse()
            stack.remove(tag[1:])
            stack.reverse()
        else:
            return None
    pieces.append(markup[position:])
    # rich reads `\[` outside a tag as a bracket too (markup.render)
    pieces = [piece.replace("\\[", "[") for piece in pieces]
    return "".join(pieces) if all(_no_emoji(piece) for piece in pieces) else None


def wrap(line: str, width: int) -> list[str] | None:
    """Return `line` broken between words as rich breaks it at `width` (rich/_wrap.py divide_line);
    None for a word wider than `width` (rich folds it)."""
    breaks, offset = [], 0
    for match in _WORD.finditer(line):
        word = match[0]
        size = len(word.rstrip())
        if size > width:
            return None
        if width - offset >= size:
            offset += len(word)
        elif offset and match.start():
            breaks.append(match.start())
            offset = len(word)
    parts = [line[start:end] for start, end in zip([0, *breaks], [*breaks, len(line)], strict=True)]
    # rich drops the spaces that end a part past the width (Text.rstrip_end)
    return [part if len(part) <= width else part[:width] + part[width:].rstrip() for part in parts]


def table(title: str, kept: list[Column], rows: list[dict[str, str]], gap: int, total: int) -> list[str] | None:
    """Return the lines of rich's compact table (box SIMPLE_HEAD, no edge padding) of plain cells;
    None when rich must lay it out (a cell or title that does not fit on one line)."""
    widths = [max([len(name), *(len(row.get(name, "")) for row in rows)]) for name, _, _ in kept]
    inner = sum(widths) + gap * (len(kept) - 1)
    if inner + 2 > total or len(title) > inner + 2:
        return None
    sep = " " * gap

    def line(cells: list[str]) -> str:
        return " " + sep.join(cell.rstrip().rjust(size) if justify == "right" else cell.ljust(size)
                              for cell, size, (_, justify, _) in zip(cells, widths, kept, strict=True))

    lines = [title] if title else []
    lines += ["", line([name for name, _, _ in kept]), " " + "─" * inner]
    lines += [line([row.get(name, "") for name, _, _ in kept]) for row in rows]
    return [*lines, ""]


def cells(rows: list[dict[str, str]]) -> list[dict[str, str]] | None:
    """Return rows with each cell's markup as its text; None when only rich can tell one."""
    out: list[dict[str, str]] = []
    for row in rows:
        shown: dict[str, str] = {}
        for name, value in row.items():
            said = text(value)
            if said is None:
                return None
            shown[name] = said
        out.append(shown)
    return out


class Out:
    """stdout where it is no terminal: prints markup as plain text, else through a rich console.

    `soft_wrap`: a line is printed whole, never folded at the width.
    """

    def __init__(self, width: int, soft_wrap: bool, make_rich: Callable[[], Any]) -> None:
        self.width = width
        self.soft_wrap = soft_wrap
        self._make_rich = make_rich
        self._rich: Any = None

    def rich(self) -> Any:
        """Return the rich console that prints what this cannot."""
        if self._rich is None:
            self._rich = self._make_rich()
        return self._rich

    def lines(self, shown: Any, markup: bool = True) -> list[str] | None:
        """Return the lines rich prints for a string; None when rich must print it."""
        if not isinstance(shown, str):
            return None
        said = text(shown) if markup else verbatim(shown)
        if said is None:
            return None
        lines = said.split("\n")
        if self.soft_wrap:
            return lines
        wrapped = [wrap(line, self.width) for line in lines]
        return None if any(part is None for part in wrapped) else [part for parts in wrapped for part in parts or ()]

    def print(self, shown: Any, *, markup: bool = True, **options: Any) -> None:
        lines = self.lines(shown, markup)
        if lines is None:
            self.rich().print(shown, markup=markup, **options)
        else:
            sys.stdout.write("".join(line + "\n" for line in lines))
