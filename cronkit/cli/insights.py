"""`cronkit insights`: typer's view of cli/opsview.py's insights_command (a plain command line
takes the lean path, cli/leanops.py)."""

from __future__ import annotations

import typer

from cronkit.cli.common import JSON_OPTION, cli_errors, state_of
from cronkit.cli.opsview import insights_command


def register(app: typer.Typer) -> None:
    @app.command("insights")
    @cli_errors
    def insights(
        ctx: typer.Context,
        task: str | None = typer.Argument(None, help="Only this task's findings."),
        days: float = typer.Option(30, "--days", min=0.01, max=3650, help="Window in days, ending now."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show what the run log says is coming: slow runs, durations or memory growing toward a limit,
        failure rates that jumped, flapping, late starts.

        Example: cronkit insights --days 14; cronkit insights nightly-export --json
        """
        raise typer.Exit(insights_command(state_of(ctx), task, days, json))
