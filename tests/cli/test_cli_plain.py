"""Output that is no terminal: plain.py writes what rich would, character for character, or leaves it to rich."""

from __future__ import annotations

import io
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronkit.cli import plain, tables

WORDS = st.sampled_from(["noop", "a-rather-long-task-name", "16:13:14", ":fire:", ":100:", "[green]ok[/green]",
                         "[bold red]3[/bold red]", "\\[x]", "\\", "x\\[y", "·", "→", "é", "日本", "[link]",
                         "a\tb", "", "  ", "-", "0 3 * * *"])
CELL = st.lists(WORDS, max_size=4).map(" ".join)


def printed(columns: int, rich: bool, func: object) -> str:
    """Return what func() writes to a stdout that is no terminal, `columns` wide, through rich or not."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdout", out)
        patch.setenv("COLUMNS", str(columns))
        for name in plain.FORCING:
            patch.delenv(name, raising=False)
        if rich:
            patch.setenv("TTY_COMPATIBLE", "0")  # rich's own switch for "no terminal": plain.py steps aside
        func()  # type: ignore[operator]
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(CELL, CELL, CELL), max_size=4), columns=st.integers(10, 120),
       title=st.sampled_from(["", "3 runs, newest first", "last 7 days"]),
       options=st.sampled_from([{}, {"tight": 1}, {"wrap": "c"}, {"shrink": ("a", 5, 1)}]))
def test_a_table_prints_as_rich_prints_it(rows: list[tuple[str, str, str]],
                                          columns: int, title: str, options: dict[str, object]) -> None:
    layout = [("a", "left", 0), ("b", "right", 1), ("c", "left", 2)]
    cells = [dict(zip("abc", row, strict=True)) for row in rows]

    def show() -> None:
        tables.print_table(title, layout, cells, **options)  # type: ignore[arg-type]

    assert printed(columns, False, show) == printed(columns, True, show)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(CELL, min_size=1, max_size=6).map(lambda parts: " · ".join(parts)),
       columns=st.integers(10, 120), soft_wrap=st.booleans(), markup=st.booleans())
def test_lines_print_as_rich_prints_them(text: str, columns: int,
                                         soft_wrap: bool, markup: bool) -> None:
    def show() -> None:
        tables.print_lines(tables.console(soft_wrap), text, markup=markup)
        tables.console(soft_wrap).print(text, markup=markup)

    assert printed(columns, False, show) == printed(columns, True, show)


def test_the_plain_path_takes_the_common_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """A table of ASCII cells and markup that fits, and a line that wraps between words, print plain."""
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    out = tables.console()
    assert isinstance(out, plain.Out) and out.width == 40
    assert plain.table("t", [("a", "left", 0)], [{"a": "x"}], 2, 40) == ["t", "", " a", " ─", " x", ""]
    assert out.lines("[green]yes[/green] and \\[no] " + "word " * 10) == [
        "yes and [no] word word word word word ", "word word word word word "]
    assert out.lines("a :fire: b") is None and out.lines("日本") is None
    assert plain.text("at 16:13:14 [bold red]x[/bold red]") == "at 16:13:14 x"
    assert plain.escape("[bold]x\\") == "\\[bold]x\\\\"
