"""`cronkit list` and `cronkit run`: typer's view of them (their lean paths: cli/leanops.py, cli/run.py)."""

from __future__ import annotations

import typer

from cronkit.cli.common import JSON_OPTION, cli_errors, state_of
from cronkit.cli.listview import list_command
from cronkit.cli.run import DEFAULT_TRIGGER, RUN_OPTIONS, TASK_HELP


def _help(name: str) -> str:
    return next(option.help for option in RUN_OPTIONS if option.name == name)


def register(app: typer.Typer) -> None:
    @app.command("list")
    @cli_errors
    def list_(ctx: typer.Context,
              task: str | None = typer.Argument(None, help="Show this task in full: its parameters too."),
              json: bool = JSON_OPTION) -> None:
        """List the registered tasks: schedule, what it means, zone, environments, next run.

        Example: cronkit --env production list; cronkit list hourly-metrics
        """
        raise typer.Exit(list_command(state_of(ctx), task, json))

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
        force: bool = typer.Option(False, "--force", help=_help("--force")),
    ) -> None:
        """Run one task now: lock, attempts, timeout, record; exit 0 on success.

        Example: cronkit run daily-analytics-updates --date 2026-11-20 --dry-run
        """
        from cronkit.cli.run import RunArgs, run_command

        code = run_command(state_of(ctx).options, RunArgs(task=task, params=list(params or []), date=date,
                                                          dry_run=dry_run, trigger=trigger, json=json,
                                                          run_id=run_id, force=force))
        raise typer.Exit(code)
