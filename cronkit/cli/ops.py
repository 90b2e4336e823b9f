"""`cronkit status`, `cronkit health` and `cronkit stats`: typer's view of cli/opsview.py.

A plain command line of these takes the lean path (cli/leanops.py) instead; these answer
`--help` and the command lines it hands back, through SQLAlchemy (the full path).
"""

from __future__ import annotations

import typer

from cronkit.cli.common import JSON_OPTION, cli_errors, state_of
from cronkit.cli.opsview import health_command, stats_command, status_command


def register(app: typer.Typer) -> None:
    @app.command("status")
    @cli_errors
    def status(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
        """Show the scheduler's state: install, services, and per task next run, last run, missed slots, drift.

        Example: cronkit --env production status --json
        """
        raise typer.Exit(status_command(state_of(ctx), json, lean=False))

    @app.command("health")
    @cli_errors
    def health(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
        """Check the scheduler: exit 0 when healthy, 1 with every reason (one per line) when not.

        Example: cronkit --env production health || alert "cron is unhealthy"
        """
        raise typer.Exit(health_command(state_of(ctx), json, lean=False))

    @app.command("stats")
    @cli_errors
    def stats(
        ctx: typer.Context,
        days: float = typer.Option(7, "--days", min=0.01, max=3650, help="Window in days, ending now."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show per task over the last days: runs, outcomes, success rate, p50/p95 duration, dead letters.

        Percentiles are nearest-rank over the runs that executed the task.

        Example: cronkit stats --days 30
        """
        raise typer.Exit(stats_command(state_of(ctx), days, json, lean=False))
