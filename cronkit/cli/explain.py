"""`cronkit due --explain TASK`: each recent slot of a task and what became of it, or will."""

from __future__ import annotations

import sys
from datetime import UTC
from typing import TYPE_CHECKING

import typer

from cronkit.cli.common import get_registry, get_settings, print_json
from cronkit.clock import now
from cronkit.duties.catchup import explain_from_log, fold
from cronkit.errors import UsageError
from cronkit.runlog.times import parse_since

if TYPE_CHECKING:
    from cronkit.duties.catchup import Explained


def check_options(explain: str | None, since: str | None, at: str | None, until: str | None,
                  expect: list[str] | None, all_tasks: bool) -> None:
    """Refuse the options of `due` that do not go with --explain, and --since without it."""
    if explain is None:
        if since is not None:
            raise UsageError("--since: only with --explain TASK")
        return
    given = [name for name, value in (("--at", at), ("--until", until), ("--expect", expect), ("--all", all_tasks))
             if value]
    if given:
        names = ", ".join(given[:-1]) + " and " + given[-1] if len(given) > 1 else given[0]
        raise UsageError(f"{names}: not with --explain, which looks back from now (--since T sets how far)")


def print_explain(ctx: typer.Context, name: str, since: str | None, json: bool) -> None:
    """Print `due --explain`: a header, then a line per slot, or per run of alike slots."""
    settings, task = get_settings(ctx), get_registry(ctx)[name]
    at = now()
    explained = explain_from_log(settings, task, at, parse_since(since, at).astimezone(UTC) if since else None)
    if json:  # one entry per slot, as ever; the cut is said on stderr
        if explained.older:
            print(f"cronkit: warning: {cut_note(explained)}", file=sys.stderr)
        print_json([v.as_dict() for v in explained.verdicts])
        return
    window = f"{task.catchup_window / 3600:g}h"
    print(f"{task.name}: {task.schedule}"
          + (f" (resolved {task.resolved_schedule})" if task.resolved_schedule != task.schedule else "")
          + f" in {task.zone(settings.timezone)}; catchup={task.catchup}, catchup_window={window},"
          f" catchup_max={task.catchup_max}")
    for line in slot_lines(explained):
        print(line)


def cut_note(explained: Explained) -> str:
    """Say that the window had more slots than `explain` keeps."""
    return (f"the latest {len(explained.verdicts)} slots;"
            f" {explained.older} older {'one' if explained.older == 1 else 'ones'} not shown")


def slot_lines(explained: Explained) -> list[str]:
    """Return the slot lines: one per slot, or per run of consecutive slots alike (same verdict
    and reason, never a slot that ran), which names its first slot, its count and its last slot."""
    if not explained.verdicts:
        return ["no slot in the window"]
    lines = [f"  ({cut_note(explained)})"] if explained.older else []
    for run in fold(explained.verdicts):
        v = run.first
        what = v.reason if run.count == 1 else f"{run.count} slots to {run.last:%Y-%m-%d %H:%M}Z: {v.reason}"
        lines.append(f"  {v.slot:%Y-%m-%d %H:%M}Z  {v.verdict:<9}  {what}")
    return lines
