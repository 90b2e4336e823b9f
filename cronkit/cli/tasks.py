"""`cronkit list` and `cronkit run`."""

from __future__ import annotations

from typing import Any

import typer

from .common import (
    JSON_OPTION,
    cli_errors,
    console,
    get_registry,
    get_settings,
    plural,
    print_json,
    print_table,
    state_of,
)
from .run import DEFAULT_TRIGGER, RUN_OPTIONS, TASK_HELP
from .tables import print_lines


def _help(name: str) -> str:
    return next(option.help for option in RUN_OPTIONS if option.name == name)


def task_rows(ctx: typer.Context) -> list[dict[str, Any]]:
    """Describe every task of the registry for `list`, with its next run and whether it runs here."""
    from ..clock import now
    from ..tasklist import task_rows as rows_of

    return rows_of(get_settings(ctx), get_registry(ctx), now())


DATES_TEXT = {"any": "any day (YYYY-MM-DD)", "past": "a day not in the future (YYYY-MM-DD)",
              "ended": "a day that has ended (YYYY-MM-DD)", "none": "not taken"}


def print_task(row: dict[str, Any]) -> None:
    """Print one task of `cronkit list TASK`: what it is, when it runs, what it takes."""
    lines = [row["name"] + (f": {row['description']}" if row["description"] else ""),
             f"  schedule      {row['schedule']} ({row['schedule_text']}, {row['timezone']})",
             f"  environments  {', '.join(row['environments'])}"
             + ("" if row["enabled"] else f" (not here: {row['disabled_reason']})"),
             f"  next run      {row['next_run']}",
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
    print("\n".join(lines))


def register(app: typer.Typer) -> None:
    @app.command("list")
    @cli_errors
    def list_(ctx: typer.Context,
              task: str | None = typer.Argument(None, help="Show this task in full: its parameters too."),
              json: bool = JSON_OPTION) -> None:
        """List the registered tasks: schedule, what it means, zone, environments, next run.

        Example: cronkit --env production list; cronkit list hourly-metrics
        """
        if task is not None:
            get_registry(ctx)[task]  # an unknown task is a usage error, with a hint
        rows = [row for row in task_rows(ctx) if task is None or row["name"] == task]
        if json:
            print_json(rows[0] if task is not None else rows)
            return
        if task is not None:
            print_task(rows[0])
            return
        settings = get_settings(ctx)
        columns = [("task", "left", 0), ("schedule", "left", 0), ("when", "left", 3), ("zone", "left", 1),
                   ("environments", "left", 4), ("next run", "left", 0), ("here", "left", 0)]
        table_rows = []
        for row in rows:
            local = row["next_run_local"][:16].replace("T", " ")
            nxt = f"{local}Z" if row["timezone"] == "UTC" else f"{local} ({row['next_run'][11:16]}Z)"
            table_rows.append({
                "task": row["name"], "when": row["schedule_text"],
                "schedule": row["schedule"] if row["schedule"] == row["resolved_schedule"]
                else f"{row['schedule']} → {row['resolved_schedule']}",
                "zone": row["timezone"], "environments": ", ".join(row["environments"]), "next run": nxt,
                "here": "[green]yes[/green]" if row["enabled"] else "[dim]no[/dim]",
            })
        print_table(f"{plural(len(rows), 'task')} · environment {settings.environment}", columns, table_rows)
        out = console()
        reasons: dict[str, list[str]] = {}
        for row in rows:
            if not row["enabled"]:
                reasons.setdefault(row["disabled_reason"], []).append(row["name"])
        for reason, names in reasons.items():
            print_lines(out, f"[dim]not here ({reason}): {', '.join(names)}[/dim]")

    # The options come from cli/run.py's RUN_OPTIONS, which the lean parser of main() reads: a
    # plain `cronkit run` never reaches this command; `run --help` and odd command lines do.
    @app.command("run")
    def run(
        ctx: typer.Context,
        task: str = typer.Argument(..., help=TASK_HELP),
        params: list[str] | None = typer.Option(None, "--param", metavar="KEY=VALUE", help=_help("--param")),
        date: str | None = typer.Option(None, "--date", help=_help("--date")),
        dry_run: bool = typer.Option(False, "--dry-run", help=_help("--dry-run")),
        trigger: str = typer.Option(DEFAULT_TRIGGER, "--trigger", help=_help("--trigger")),
        json: bool = typer.Option(False, "--json", help=_help("--json")),
        run_id: str | None = typer.Option(None, "--run-id", help=_help("--run-id")),
    ) -> None:
        """Run one task now: lock, attempts, timeout, record; exit 0 on success.

        Example: cronkit run daily-analytics-updates --date 2026-11-20 --dry-run
        """
        from .run import RunArgs, run_command

        code = run_command(state_of(ctx).options, RunArgs(task=task, params=list(params or []), date=date,
                                                          dry_run=dry_run, trigger=trigger, json=json,
                                                          run_id=run_id))
        raise typer.Exit(code)
