"""How `cronkit list` answers: the command body and its text.

The command table (cli/commands.py) names list_command; the fast path and the typer app run it alike.
"""

from __future__ import annotations

from typing import Any

from cronkit.cli.state import CliState
from cronkit.cli.tables import (
    console,
    escape,
    pause_text,
    plural,
    print_json,
    print_lines,
    print_table,
)
from cronkit.clock import now
from cronkit.health.listing import task_rows
from cronkit.runlog.pausing import read_pauses

DATES_TEXT = {"any": "any day (YYYY-MM-DD)", "past": "a day not in the future (YYYY-MM-DD)",
              "ended": "a day that has ended (YYYY-MM-DD)", "none": "not taken"}


def print_task(row: dict[str, Any]) -> None:
    """Print one task of `cronkit list TASK`: what it is, when it runs, what it takes."""
    lines = [row["name"] + (f": {row['description']}" if row["description"] else ""),
             f"  schedule      {row['schedule']} ({row['schedule_text']}, {row['timezone']})",
             f"  environments  {', '.join(row['environments'])}"
             + ("" if row["enabled"] else f" (not here: {row['disabled_reason']})"),
             f"  next run      {row['next_run']}"
             + (f" (paused by {row['paused_by']} until {row['paused_until'] or 'resumed'})" if row["paused"] else ""),
             f"  timeout       {row['timeout_s']:g}s, retries {row['retries']}",
             f"  --date        {DATES_TEXT.get(row['dates'], row['dates'])}"]
    if row["params"] is None:
        lines.append("  --param       undeclared: any KEY=VALUE is passed through")
    elif not row["params"]:
        lines.append("  --param       none")
    else:
        for index, (name, param) in enumerate(row["params"].items()):
            label = "--param" if index == 0 else ""
            lines.append(f"  {label:<13} {name}={param['text']}")
            if param["help"]:
                lines.append(f"{'':16}{param['help']}")
    if row["requires"]:
        lines.append(f"  requires      {', '.join(row['requires'])}")
    if row["command"] is not None:
        lines.append(f"  command       {row['command']['shell']} -c {row['command']['command']!r}")
    if row["source"]:
        lines.append(f"  defined in    {row['source']}")
    print("\n".join(lines))


def print_tasks(rows: list[dict[str, Any]], environment: str) -> None:
    """Print `cronkit list`'s table of tasks, then which are not scheduled here and why."""
    columns = [("task", "left", 0), ("schedule", "left", 0), ("when", "left", 3), ("zone", "left", 1),
               ("environments", "left", 4), ("next run", "left", 0), ("here", "left", 0)]
    several = len({row["source"] for row in rows}) > 1
    if several:  # where each task comes from, once there is more than one place (SPEC 17)
        columns.append(("from", "left", 2))
    table_rows = []
    for row in rows:
        local = row["next_run_local"][:16].replace("T", " ")
        nxt = f"{local}Z" if row["timezone"] == "UTC" else f"{local} ({row['next_run'][11:16]}Z)"
        table_rows.append({
            "task": row["name"], "when": row["schedule_text"],
            "schedule": row["schedule"] if row["schedule"] == row["resolved_schedule"]
            else f"{row['schedule']} → {row['resolved_schedule']}",
            "zone": row["timezone"], "environments": ", ".join(row["environments"]),
            "next run": "[yellow]paused[/yellow]" if row["paused"] else nxt,
            "here": "[green]yes[/green]" if row["enabled"] else "[dim]no[/dim]",
            "from": row["source"].replace("[", "\\["),
        })
    print_table(f"{plural(len(rows), 'task')} · environment {environment}", columns, table_rows)
    out = console()
    reasons: dict[str, list[str]] = {}
    for row in rows:
        if not row["enabled"]:
            reasons.setdefault(row["disabled_reason"], []).append(row["name"])
    for reason, names in reasons.items():
        print_lines(out, f"[dim]not here ({reason}): {', '.join(names)}[/dim]")
    for row in rows:
        if row["paused"]:
            print_lines(out, f"[yellow]paused:[/yellow] {escape(pause_text(row))}", highlight=False)


def list_command(state: CliState, *, task: str | None, json: bool) -> int:
    """List the registered tasks, or show one in full (`cronkit list [TASK]`); return the exit code."""
    registry = state.registry()
    if task is not None:
        registry[task]  # an unknown task is a usage error, with a hint
    at = now()
    pauses = read_pauses(state.settings(), at)
    rows = [row for row in task_rows(state.settings(), registry, at, pauses) if task is None or row["name"] == task]
    if json:
        print_json(rows[0] if task is not None else rows)
    elif task is not None:
        print_task(rows[0])
    else:
        print_tasks(rows, state.settings().environment)
    return 0
