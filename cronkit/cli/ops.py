"""`cronkit status`, `cronkit health` and `cronkit stats`: thin views over cronkit.health."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import typer

from .common import (
    JSON_OPTION,
    cli_errors,
    console,
    duration,
    get_registry,
    get_settings,
    print_json,
    print_table,
    short_time,
    styled_status,
)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


SERVICE_STYLE = {"up": "green", "down": "bold red", "unused": "dim"}


def _minute(iso: str | None) -> str:
    """Show an ISO instant as `2026-06-12 03:00` (UTC; the column header says so)."""
    if not iso:
        return "-"
    from datetime import datetime

    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _second(iso: str | None) -> str:
    """Show an ISO instant as `2026-06-12 03:00:05 UTC`."""
    if not iso:
        return "-"
    from datetime import datetime

    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _yes(value: bool) -> str:
    return "[green]yes[/green]" if value else "[bold red]no[/bold red]"


def _missed(missed: dict[str, Any] | None) -> str:
    if missed is None:
        return "-"
    if not missed["count"]:
        return "0"
    more = "+" if missed["capped"] else ""
    return f"[bold red]{missed['count']}{more}[/bold red], latest {_minute(missed['latest'])}"


def _drift(items: list[dict[str, Any]]) -> str:
    return ", ".join(f"[yellow]{item['kind']}[/yellow]" for item in items) or "-"


def print_status(report: dict[str, Any]) -> None:
    """Render a status report for people: summary, services, one row per task."""

    out = console()
    out.print(
        f"[bold]cronkit[/bold] · environment [bold]{report['environment']}[/bold] · zone {report['timezone']}"
        f" · checked {_second(report['checked_at'])}"
    )
    block = report["block"]
    block_text = f"block {block['id']} ({block['target']})" if block["id"] else "no install recorded"
    last_check = _second(report["last_health_check"])
    if report.get("last_health_result"):
        last_check += f" ({report['last_health_result']})"
    out.print(
        f"initialized {_yes(report['initialized'])} · enabled {_yes(report['enabled'])} · {block_text}\n"
        f"jobs {report['total_jobs']} scheduled of {report['registered_tasks']} registered · "
        f"{report['active_jobs']} running · failed {report['failed_jobs']} · last health check {last_check}"
    )
    parts = []
    for name, state in report["services"].items():
        style = SERVICE_STYLE.get(state, "")
        parts.append(f"{name} [{style}]{state}[/{style}]")
    out.print("services: " + " · ".join(parts))
    for name, error in report["service_errors"].items():
        out.print(f"  [red]{name}[/red]: {error}", highlight=False)
    if report.get("start_failure"):
        from ..health.verdict import start_failure_text

        out.print(f"[bold red]{escape(start_failure_text(report['start_failure']))}[/bold red]", highlight=False)
    for item in report.get("preflight", ()):
        out.print(f"[yellow]{escape(item['reason'])}[/yellow]", highlight=False)

    columns = [("task", "left", 0), ("schedule", "left", 1), ("zone", "left", 5), ("next run (UTC)", "left", 3),
               ("last run (UTC)", "left", 2), ("status", "left", 0), ("took", "left", 6), ("missed", "left", 0),
               ("drift", "left", 4)]
    rows = []
    for task in report["tasks"]:
        last = task["last_run"] or {}
        rows.append({
            "task": task["name"] if task["scheduled"] else f"[dim]{task['name']}[/dim]",
            "schedule": task["schedule"], "zone": task["timezone"],
            "next run (UTC)": _minute(task["next_run"]) if task["scheduled"] else "[dim]not here[/dim]",
            "last run (UTC)": _minute(last.get("started_at")),
            "status": styled_status(last["status"]) if last else "-",
            "took": duration(last.get("duration_ms")), "missed": _missed(task["missed"]),
            "drift": _drift(task["drift"]),
        })
    print_table("", columns, rows)
    orphans = [d for d in block["drift"] if d["task"] is None and d["kind"] != "host-zone"]
    for item in block["drift"]:
        if item["kind"] == "host-zone":
            out.print(f"[yellow]host zone changed:[/yellow] {item['installed'][0]} at install,"
                      f" {item['expected'][0]} now", highlight=False)
    for item in orphans:
        out.print(f"[yellow]block line naming no task ({item['kind']}):[/yellow] {' | '.join(item['installed'])}",
                  highlight=False)


def print_stats(rows: list[dict[str, Any]], days: float) -> None:
    right = "right"
    columns = [("task", "left", 0), ("runs", right, 0), ("ok", right, 3), ("failed", right, 0),
               ("skipped", right, 5), ("success", right, 0), ("p50", right, 2), ("p95", right, 1),
               ("last success", "left", 4), ("last failure", "left", 4), ("dead letters", right, 0)]
    table_rows = []
    for row in rows:
        table_rows.append({
            "task": row["task"], "runs": str(row["runs"]), "ok": str(row["successes"]),
            "failed": f"[red]{row['failures']}[/red]" if row["failures"] else "0",
            "skipped": str(row["skipped"]),
            "success": "-" if row["success_rate"] is None else f"{row['success_rate'] * 100:.1f}%",
            "p50": duration(row["p50_ms"]), "p95": duration(row["p95_ms"]),
            "last success": short_time(row["last_success"]), "last failure": short_time(row["last_failure"]),
            "dead letters": f"[bold red]{row['open_dead_letters']}[/bold red]" if row["open_dead_letters"] else "0",
        })
    print_table(f"last {days:g} days", columns, table_rows)


def register(app: typer.Typer) -> None:
    @app.command("status")
    @cli_errors
    def status(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
        """Show the scheduler's state: install, services, and per task next run, last run, missed slots, drift.

        Example: cronkit --env production status --json
        """
        from ..clock import now
        from ..health.status import status_dict as build
        from ..runlog.reader import require_existing

        require_existing(get_settings(ctx).db_url)  # a mistyped path is an error, not an empty log
        report = build(get_settings(ctx), get_registry(ctx), now())
        if json:
            print_json(report)
            return
        print_status(report)

    @app.command("health")
    @cli_errors
    def health(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
        """Check the scheduler: exit 0 when healthy, 1 with every reason (one per line) when not.

        Example: cronkit --env production health || alert "cron is unhealthy"
        """
        from ..clock import now
        from ..health.verdict import health_report

        healthy, reasons, report = health_report(get_settings(ctx), get_registry(ctx), now())
        if json:
            print_json({"healthy": healthy, "reasons": reasons, "checked_at": report.as_dict()["checked_at"],
                        "services": report.services})
        elif healthy:
            typer.echo("healthy")
        else:
            for reason in reasons:
                typer.echo(reason)
        if not healthy:
            raise typer.Exit(1)

    @app.command("stats")
    @cli_errors
    def stats(
        ctx: typer.Context,
        days: float = typer.Option(7, "--days", min=0.01, max=3650, help="Window in days, ending now."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show per task over the last days: runs, outcomes, success rate, p50/p95 duration, dead letters.

        Percentiles are nearest-rank over the runs that executed the task. Example: cronkit stats --days 30
        """
        from ..clock import now
        from ..health.stats import stats as build

        rows = build(get_settings(ctx), days, now(), get_registry(ctx))
        if json:
            print_json(rows)
            return
        print_stats(rows, days)
