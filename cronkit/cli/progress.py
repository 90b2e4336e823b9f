"""Progress on long work at a terminal: a rich bar (or a spinner with counts), silent elsewhere.

Shown only when stdout is a terminal and the command was not asked for `--json`, so a pipe, a
file, cron's mail and a script never see it; the bar goes away when the work is done
(`transient`), so the terminal keeps the same lines a pipe gets. Never on the cron path:
`cronkit run` does not import this module, and rich is imported only once a bar is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Reporter:
    """What a long command tells its progress: what it is doing now, and how much more is done."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar = bar
        self._task = task
        self._doing = ""

    @property
    def shown(self) -> bool:
        """Tell whether a bar is on screen (False in a pipe, with --json, or when not a terminal)."""
        return self._bar is not None

    def __call__(self, doing: str, advance: int = 1) -> None:
        """Say what is being done now (a new `doing` replaces the old) and advance by `advance`."""
        if self._bar is None:
            return
        if doing != self._doing:
            self._doing = doing
            self._bar.update(self._task, doing=doing)
        self._bar.advance(self._task, advance)


def wanted(as_json: bool = False) -> bool:
    """Tell whether a person is watching: stdout is a terminal and no --json was asked for."""
    if as_json:
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


@contextmanager
def progress(label: str, total: int | None = None, *, unit: str = "", as_json: bool = False) -> Iterator[Reporter]:
    """Show a bar of `total` steps (or, without a total, a spinner with a count) while the block runs."""
    if not wanted(as_json):
        yield Reporter()
        return
    # lazy: cli -> rich; rich costs import time, and only a command at a terminal draws a bar.
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    if total is not None:
        count: Any = MofNCompleteColumn()
    else:  # a spinner: with a count of `unit`s when the work counts them, else its time alone
        count = TextColumn("{task.completed:,} " + unit if unit else "")
    columns: list[Any] = [SpinnerColumn(), TextColumn(label), BarColumn() if total is not None else TextColumn(""),
                          count, TextColumn("[dim]{task.fields[doing]}"), TimeElapsedColumn()]
    with Progress(*columns, transient=True) as bar:
        yield Reporter(bar, bar.add_task(label, total=total, doing=""))
