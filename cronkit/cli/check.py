"""`cronkit check`: what cron runs every 5 minutes (missed slots, the outbox, ...)."""

from __future__ import annotations

import typer

from .common import JSON_OPTION, cli_errors, get_registry, get_settings, print_json


def register(app: typer.Typer) -> None:
    @app.command("check")
    @cli_errors
    def check(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
        """Run the periodic duties: mark lost runs, notify missed slots, rewrite metrics files, deliver the outbox.

        Quiet when every duty worked (cron mails only problems); exit 1 when a duty failed.

        Example: cronkit check --json
        """
        from ..check import run_check
        from ..clock import now

        report = run_check(get_settings(ctx), get_registry(ctx), now())
        if json:
            print_json(report.as_dict())
        else:
            for name, error in report.errors.items():
                typer.echo(f"cronkit: check: {name}: {error}", err=True)
            outbox = report.duties.get("outbox", {})
            for error in outbox.get("errors", []):
                typer.echo(f"cronkit: check: outbox: {error} (kept for the next check)", err=True)
        if not report.ok:
            raise typer.Exit(1)
