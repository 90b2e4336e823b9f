"""`cronkit due`: which tasks fire at a minute or in a window, and `--explain` of a task's recent slots."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from cronkit.cli.common import (
    JSON_OPTION,
    cli_errors,
    console,
    get_registry,
    get_settings,
    print_json,
)
from cronkit.cli.explain import check_options, print_explain
from cronkit.cli.progress import progress
from cronkit.cli.tables import print_lines
from cronkit.errors import CheckFailed, UsageError
from cronkit.runlog.times import bounded_utc
from cronkit.schedule import fires_at, slots_between

MAX_WINDOW = timedelta(days=366)


@cli_errors
def due(
    ctx: typer.Context,
    at: str | None = typer.Option(None, "--at", help="ISO time; without an offset it is UTC. The minute it falls in."),
    until: str | None = typer.Option(None, "--until", help="End of a window (inclusive): list every slot from --at to here."),
    expect: list[str] | None = typer.Option(None, "--expect", help="Exit 1 unless this task is due (repeatable): a CI check."),
    all_tasks: bool = typer.Option(False, "--all", help="Include tasks not scheduled in this environment."),
    explain: str | None = typer.Option(
        None, "--explain", metavar="TASK",
        help="For each recent slot of TASK (the latest 200): whether it ran, will be caught up, or is skipped,"
        " and why. Not with --at, --until, --expect or --all."),
    since: str | None = typer.Option(
        None, "--since", help="--explain: start here: a date, an instant or a duration ago such as 6h"
        " (default: two catchup windows and a day back)."),
    json: bool = JSON_OPTION,
) -> None:
    """Show which tasks fire at a minute, or in a window, in the task's zone and UTC.

    Example: cronkit --env production due --at 2026-03-29T05:00+02:00 --expect daily-session-cleanup

    Example: cronkit due --explain daily-analytics-updates --since 2026-11-18
    """
    check_options(explain, since, at, until, expect, all_tasks)
    if explain is not None:
        print_explain(ctx, explain, since, json)
        return
    if at is None:
        raise UsageError("--at: required (or --explain TASK)")
    rows = due_rows(ctx, at, until, all_tasks, quiet=json)
    settings, registry = get_settings(ctx), get_registry(ctx)
    missing = []
    for name in expect or []:
        registry[name]  # an unknown task is a usage error
        if not any(row["task"] == name for row in rows):
            missing.append(name)
    if json:
        print_json(rows)
    elif not rows:
        scope = "registered" if all_tasks else f"scheduled in {settings.environment}"
        print(f"no task {scope} fires {_window_text(at, until)}")
    else:
        _print_due(rows)
    if missing:
        raise CheckFailed(f"not due {_window_text(at, until)}: {', '.join(missing)}")


def parse_time(value: str, option: str) -> datetime:
    """Parse an ISO time; naive means UTC. Raise UsageError naming the option."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not an ISO time such as 2026-03-29T03:00+02:00") from None
    return bounded_utc(parsed, option, value)


def _window_text(at: str, until: str | None) -> str:
    start = parse_time(at, "--at").replace(second=0, microsecond=0)
    if until is None:
        return f"at {start.isoformat(sep=' ', timespec='minutes')}"
    end = parse_time(until, "--until")
    return f"from {start.isoformat(sep=' ', timespec='minutes')} to {end.isoformat(sep=' ', timespec='minutes')}"


def due_rows(ctx: typer.Context, at: str, until: str | None, all_tasks: bool, quiet: bool = False,
             ) -> list[dict[str, Any]]:
    """Return the slots of the window (or the minute of --at), ordered by time then task.

    A window shows a bar of the tasks done at a terminal (a year of a per-minute task takes seconds).
    """
    settings, registry = get_settings(ctx), get_registry(ctx)
    start = parse_time(at, "--at").replace(second=0, microsecond=0)
    end = parse_time(until, "--until") if until is not None else None
    if end is not None and end < start:
        raise UsageError("--until: must not be before --at")
    if end is not None and end - start > MAX_WINDOW:
        raise UsageError("--until: the window is limited to 366 days")
    here = {t.name for t in registry.enabled_in(settings.environment, settings.task_config)}
    tasks = [t for t in registry if all_tasks or t.name in here]
    rows = []
    with progress("Finding slots", total=len(tasks), as_json=quiet or end is None) as note:
        for task in tasks:
            note(task.name, 0)
            zone = task.zone(settings.timezone)
            if end is None:
                slots = [start] if fires_at(task.resolved_schedule, zone, start) else []
            else:
                slots = list(slots_between(task.resolved_schedule, zone, start - timedelta(seconds=1), end))
            for slot in slots:
                rows.append({
                    "task": task.name,
                    "schedule": task.schedule,
                    "timezone": zone,
                    "slot": slot.isoformat(),
                    "slot_local": slot.astimezone(ZoneInfo(zone)).isoformat(),
                    "enabled": task.name in here,
                })
            note(f"{len(rows):,} slots")
    rows.sort(key=lambda row: (row["slot"], row["task"]))
    return rows


def _print_due(rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{len(rows)} slots", title_justify="left")
    table.add_column("task", no_wrap=True)
    table.add_column("slot in the task's zone", no_wrap=True)
    table.add_column("slot (UTC)", no_wrap=True)
    for row in rows:
        local = row["slot_local"][:16].replace("T", " ")
        if row["timezone"] == "UTC":
            local += " UTC"
        else:
            local += f"{row['slot_local'][19:]} {row['timezone']}"
        table.add_row(row["task"], local, row["slot"][:16].replace("T", " "))
    print_lines(console(), table)


def register(app: typer.Typer) -> None:
    """Add due to `app`."""
    app.command("due")(due)
