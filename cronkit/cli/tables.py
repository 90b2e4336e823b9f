"""Output helpers of the read commands: rich tables that fit, times, durations, plurals.

Free of typer (and of rich until a table is printed): the fast path (cli/fastpath.py) prints through them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cronkit.cli import plain
from cronkit.runlog.status import RunStatus
from cronkit.safe import jsontext
from cronkit.safe.terminal import printable


def print_json(data: Any) -> None:
    """Print `data` as JSON: valid JSON always (a NaN or infinite float as a string, never bare)."""
    sys.stdout.write(jsontext.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def console(soft_wrap: bool = False) -> Any:
    """Return a console for stdout (rich's, or plain.Out where stdout is no terminal); with
    `soft_wrap`, one that prints each line whole.

    rich wraps a long line at the terminal's width and leaves a space at the end of the first part:
    a note that names a path, or a run's error, output or traceback, is printed whole instead
    (the terminal folds it, a copy of it stays one line).
    """
    width = plain.width()
    if width is not None:
        return plain.Out(width, soft_wrap, lambda: _rich_console(soft_wrap))
    return _rich_console(soft_wrap)


def _rich_console(soft_wrap: bool) -> Any:
    # lazy: cli -> rich, only for what plain.py cannot print (a terminal, wide or control characters)
    from rich.console import Console

    return Console(highlight=False, soft_wrap=soft_wrap)


def print_lines(out: Any, text: Any, **options: Any) -> None:
    """Print rich markup (or a renderable) through `out`, without the trailing spaces rich leaves
    where it wraps or pads a line."""
    if isinstance(out, plain.Out):
        lines = out.lines(text, options.get("markup", True))
        if lines is not None:
            sys.stdout.write("".join(line.rstrip() + "\n" for line in lines))
            return
        out = out.rich()
    with out.capture() as captured:
        out.print(text, **options)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def _cell_len(markup: str) -> int:
    """Return the cells `markup`'s text takes on a terminal."""
    shown = plain.text(markup)
    if shown is not None:
        return len(shown)
    from rich.text import Text  # lazy: as _rich_console

    return int(Text.from_markup(markup).cell_len)


def packed(parts: list[str], width: int, indent: str = "  ") -> str:
    """Join rich-markup parts with " · ", breaking between parts so that no line is wider than `width`.

    A line that fits stays one line; a narrow terminal gets the rest on lines indented by `indent`.
    """
    lines: list[str] = []
    line, size = "", 0
    for part in parts:
        cells = _cell_len(part)
        if line and size + 3 + cells > width:
            lines.append(line)
            line, size = indent + part, len(indent) + cells
        else:
            line, size = (f"{line} · {part}", size + 3 + cells) if line else (part, cells)
    lines.append(line)
    return "\n".join(lines)


def plural(count: int, noun: str) -> str:
    """Return `1 run`, `2 runs`, `1 open dead letter`: the count and the noun, plural when not 1."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def short_time(iso: str | None) -> str:
    """Show an ISO instant compactly: `2026-11-28 22:36:05Z` in UTC, the offset kept otherwise."""
    if not iso:
        return "-"
    text = iso.replace("T", " ")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 120:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


STATUS_STYLE: dict[str, str] = {
    RunStatus.SUCCEEDED: "green", RunStatus.FAILED: "bold red", RunStatus.TIMED_OUT: "bold red",
    RunStatus.LOST: "bold red", RunStatus.INTERRUPTED: "yellow", RunStatus.SKIPPED: "dim",
    RunStatus.RUNNING: "cyan",
}


def styled_status(status: str | None) -> str:
    style = STATUS_STYLE.get(status or "", "")
    return f"[{style}]{status}[/{style}]" if style else str(status)


# rich draws a table's outer edges (spaces in box.SIMPLE_HEAD) even with pad_edge=False: a cell each side.
EDGES = 2


def print_table(title: str, columns: list[tuple[str, str, int]], rows: list[dict[str, str]],
                wrap: str | None = None, tight: int = -1, shrink: tuple[str, int, int] | None = None) -> None:
    """Print rows as a compact rich table that fits the terminal.

    `columns` holds (name, justify, priority); when the natural widths do not fit, columns of the
    lowest priority (highest number) go first, so a narrow terminal keeps what an operator scans
    for. Before a column of priority `tight` or less goes, the gaps between columns narrow from
    two spaces to one. `wrap` names the one column allowed to fold instead (it fills what is left).
    `shrink` is (column, least width, priority): before a column of that priority or less goes,
    that column is cut (with an ellipsis) to what is left, down to its least width.
    """
    total = plain.width()
    shown = plain.cells(rows) if total is not None else None
    if total is not None and shown is not None:
        kept, gap, cut = _layout(columns, shown, total, len, wrap, tight, shrink)
        lines = None if cut or any(name == wrap for name, _, _ in kept) else plain.table(title, kept, shown, gap, total)
        if lines is not None:
            sys.stdout.write("".join(line.rstrip() + "\n" for line in lines))
            return
    _print_rich_table(title, columns, rows, wrap, tight, shrink)


def _layout(columns: list[tuple[str, str, int]], rows: list[dict[str, str]], total: int, cell_len: Callable[[str], int],
            wrap: str | None, tight: int, shrink: tuple[str, int, int] | None,
            ) -> tuple[list[tuple[str, str, int]], int, bool]:
    """Return the columns that fit in `total` cells, the gap between them, and whether `shrink`'s is cut."""

    def width(name: str) -> int:
        return max([len(name), *(cell_len(row.get(name, "")) for row in rows)])

    def used(kept: list[tuple[str, str, int]], gap: int, cut: bool) -> int:
        """Return the cells the kept columns take, the shrinking one at its least width when `cut`."""
        least = {shrink[0]: min(shrink[1], width(shrink[0]))} if cut and shrink else {}
        fixed = sum(least.get(name, width(name)) for name, _, _ in kept if name != wrap)
        room = 20 if any(name == wrap for name, _, _ in kept) else 0
        return fixed + room + gap * (len(kept) - 1) + EDGES

    kept, gap, cut = list(columns), 2, False
    while len(kept) > 1 and used(kept, gap, cut) > total:
        last = max(kept, key=lambda column: column[2])
        if gap == 2 and last[2] <= tight:
            gap = 1
        elif shrink is not None and not cut and last[2] <= shrink[2] and any(n == shrink[0] for n, _, _ in kept):
            cut = True
        else:
            kept.remove(last)
    return kept, gap, cut


def _print_rich_table(title: str, columns: list[tuple[str, str, int]], rows: list[dict[str, str]],
                      wrap: str | None, tight: int, shrink: tuple[str, int, int] | None) -> None:
    """Print the table of print_table through rich: a terminal, or cells plain.py cannot lay out."""
    # lazy: cli -> rich, as _rich_console
    from rich import box
    from rich.table import Table

    out = _rich_console(False)
    kept, gap, cut = _layout(columns, rows, out.width, _cell_len, wrap, tight, shrink)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True, padding=(0, 1 if gap == 2 else 0))
    for name, justify, _ in kept:
        if name == wrap:
            table.add_column(name, overflow="fold", ratio=1)
        elif cut and shrink is not None and name == shrink[0]:
            # What the others leave it, never less than its least width (_layout made sure it fits).
            others = sum(max([len(n), *(_cell_len(row.get(n, "")) for row in rows)])
                         for n, _, _ in kept if n not in (wrap, name))
            room = out.width - (others + (20 if any(n == wrap for n, _, _ in kept) else 0)
                                + gap * (len(kept) - 1) + EDGES)
            table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=max(room, shrink[1]),
                             justify=justify)  # type: ignore[arg-type]
        else:
            table.add_column(name, no_wrap=True, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(row.get(name, "") for name, _, _ in kept))
    # rich pads every line to the table's width: print it without the trailing spaces.
    with out.capture() as captured:
        out.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


escape = plain.escape


def minute(iso: str | None) -> str:
    """Show an ISO instant as `2026-06-12 03:00` (UTC; the column header says so)."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def pause_text(row: dict[str, Any]) -> str:
    """Say a task's pause in one line: `name by WHO until T (or until resumed): why`."""
    end = f"until {minute(row['paused_until'])}" if row.get("paused_until") else "until resumed"
    why = f": {row['pause_reason']}" if row.get("pause_reason") else ""
    return f"{row.get('name') or row.get('task')} by {row['paused_by']} {end}{why}"


def print_history(runs: list[dict[str, Any]]) -> None:
    """Print `cronkit history`'s table of runs (newest first)."""
    # At 80 columns the table keeps what answers "did it run, how did it go": id (for `cronkit
    # show`, typed next), task, status, trigger (did cron run it?), started, took; tries, error and
    # exit go first, and a long task name is cut (to 20 cells at least) before took goes.
    columns = [("id", "right", 0), ("task", "left", 0), ("status", "left", 0), ("trigger", "left", 1),
               ("started", "left", 1), ("took", "left", 2), ("tries", "right", 7), ("exit", "right", 3),
               ("error", "left", 6)]
    rows = [{
        "id": str(run["id"]), "task": run["task"], "status": styled_status(run["status"]),
        "trigger": run["trigger"], "started": short_time(run["started_at"]),
        "took": duration(run["duration_ms"]), "tries": str(run["attempts"]),
        "exit": "-" if run["exit_code"] is None else str(run["exit_code"]),
        "error": escape(printable((run["error"] or "")[:200])),
    } for run in runs]
    print_table(f"{plural(len(runs), 'run')}, newest first", columns, rows, wrap="error", tight=3,
                shrink=("task", 20, 2))


def resources_text(row: dict[str, Any]) -> str | None:
    """Return "cpu 1.2 s user + 0.1 s system, peak RSS 45.3 MiB" of a run or attempt; None when unrecorded."""
    user, system, rss = row.get("cpu_user_ms"), row.get("cpu_system_ms"), row.get("max_rss_kb")
    if user is None and rss is None:
        return None
    parts = []
    if user is not None:
        parts.append(f"cpu {user / 1000:.2f} s user + {(system or 0) / 1000:.2f} s system")
    if rss is not None:
        parts.append(f"peak RSS {rss / 1024:.1f} MiB")
    return ", ".join(parts)


def print_run(run: dict[str, Any]) -> None:
    """Print `cronkit show`'s view of one run (its JSON form, as runlog.reader.run_record returns it)."""
    out = console(soft_wrap=True)
    out.print(f"[bold]run {run['id']}[/bold]  {run['task']}  {styled_status(run['status'])}")
    fields = [
        ("trigger", run["trigger"]), ("scheduled for", short_time(run["scheduled_for"])),
        ("started", short_time(run["started_at"])), ("finished", short_time(run["finished_at"])),
        ("duration", duration(run["duration_ms"])), ("attempts", run["attempts"]),
        ("exit code", run["exit_code"]), ("host / pid", f"{run['host']} / {run['pid']}"),
        ("user", run["user"]), ("params", run["params"]), ("dry run", run["dry_run"]),
        ("resources", resources_text(run)),
    ]
    for label, value in fields:
        if value not in (None, "-", "", {}):
            out.print(f"  {label:<14} {value}", markup=False)
    if run["dead_letter"]:
        letter = run["dead_letter"]
        state_ = f"resolved {short_time(letter['resolved_at'])}" if letter["resolved_at"] else "open"
        out.print(f"  {'dead letter':<14} {letter['id']} ({state_})", markup=False)
    if run["error"]:
        out.print(f"\n[bold]error[/bold]\n  {escape(printable(run['error']))}", markup=True, highlight=False)
    if len(run["attempt_log"]) > 1 or any(a["error"] for a in run["attempt_log"]):
        out.print("\n[bold]attempts[/bold]")
        for a in run["attempt_log"]:
            used = resources_text(a)
            used = f"  ({used})" if used else ""
            out.print(f"  #{a['number']} {a['status']:<10} {short_time(a['started_at'])}{used}  {printable(a['error'] or '')}",
                      markup=False)
    if run["result"] is not None:
        out.print("\n[bold]result[/bold]")
        out.print(jsontext.dumps(run["result"], indent=2, sort_keys=True, default=str), markup=False)
    if run["traceback"]:
        out.print("\n[bold]traceback[/bold]")
        out.print(printable(run["traceback"].rstrip()), markup=False)
    if run["output"]:
        out.print("\n[bold]output[/bold] (last 64 KiB)")
        out.print(printable(run["output"].rstrip()), markup=False)
