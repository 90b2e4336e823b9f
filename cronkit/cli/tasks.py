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
    print_json,
    print_table,
    state,
)


def task_rows() -> list[dict[str, Any]]:
    """Describe every task of the registry for `list`, with its next run and whether it runs here."""
    from ..clock import now
    from ..schedule import describe, next_run

    settings, registry = get_settings(), get_registry()
    current = now()
    rows = []
    for task in registry:
        zone = task.zone(settings.timezone)
        upcoming = next_run(task.resolved_schedule, zone, current)
        table = settings.for_task(task.name)
        if not task.runs_in(settings.environment):
            enabled, why = False, f"not scheduled in {settings.environment}"
        elif not table.get("enabled", True):
            enabled, why = False, f"enabled = false in [tasks.{task.name}]"
        else:
            enabled, why = True, ""
        from zoneinfo import ZoneInfo

        rows.append({
            "name": task.name,
            "schedule": task.schedule,
            "resolved_schedule": task.resolved_schedule,
            "schedule_text": describe(task.resolved_schedule),
            "description": task.description,
            "timezone": zone,
            "environments": list(task.environments),
            "next_run": upcoming.isoformat(timespec="seconds"),
            "next_run_local": upcoming.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds"),
            "enabled": enabled,
            "disabled_reason": why,
            "timeout_s": task.timeout,
            "retries": task.retries,
            "singleton": task.singleton,
        })
    return rows


def register(app: typer.Typer) -> None:
    @app.command("list")
    @cli_errors
    def list_(json: bool = JSON_OPTION) -> None:
        """List the registered tasks: schedule, what it means, zone, environments, next run.

        Example: cronkit --env production list
        """
        rows = task_rows()
        if json:
            print_json(rows)
            return
        settings = get_settings()
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
        print_table(f"{len(rows)} tasks · environment {settings.environment}", columns, table_rows)
        out = console()
        reasons: dict[str, list[str]] = {}
        for row in rows:
            if not row["enabled"]:
                reasons.setdefault(row["disabled_reason"], []).append(row["name"])
        for reason, names in reasons.items():
            out.print(f"[dim]not here ({reason}): {', '.join(names)}[/dim]")

    @app.command("run")
    def run(
        task: str = typer.Argument(..., help="Task name, as `cronkit list` shows it."),
        param: list[str] | None = typer.Option(None, "--param", help="KEY=VALUE passed to the task (repeatable)."),
        date: str | None = typer.Option(None, "--date", help="Compute the period of this day (YYYY-MM-DD): backfill."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Compute and report without changing anything."),
        trigger: str = typer.Option("manual", "--trigger", help="cron (used by the crontab line), manual or retry."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Run one task now: lock, attempts, timeout, record; exit 0 on success.

        Example: cronkit run daily-analytics-updates --date 2026-11-20 --dry-run
        """
        from .run import RunArgs, run_command

        code = run_command(state, RunArgs(task=task, params=list(param or []), date=date, dry_run=dry_run,
                                          trigger=trigger, json=json))
        raise typer.Exit(code)
