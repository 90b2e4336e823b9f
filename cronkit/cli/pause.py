"""`cronkit pause` and `cronkit resume`: stop a task's runs on every host sharing the run log, and start them again."""

from __future__ import annotations

import typer

from cronkit.cli.common import JSON_OPTION, cli_errors, get_registry, get_settings, print_json
from cronkit.clock import now
from cronkit.runlog.pausing import cli_origin
from cronkit.runlog.pausing import pause as pause_tasks
from cronkit.runlog.pausing import resume as resume_tasks


def register(app: typer.Typer) -> None:
    @app.command("pause")
    @cli_errors
    def pause(
        ctx: typer.Context,
        tasks: list[str] = typer.Argument(..., help="Tasks to pause, as `cronkit list` names them."),
        for_: str | None = typer.Option(None, "--for", help="End the pause after this long: 30m, 2h, 1d."),
        until: str | None = typer.Option(
            None, "--until", help="End the pause at this time: 14:00 (next, in the timezone setting) or an ISO time."),
        reason: str | None = typer.Option(None, "--reason", help="Why, for the audit trail and every status view."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Pause tasks on every host that shares the run log: cron starts are recorded skipped (exit 75).

        A start by hand refuses unless `cronkit run TASK --force`; `cronkit check` neither catches up
        nor reports missed the slots of the pause. Without --for or --until, the pause lasts until
        `cronkit resume`.

        Example: cronkit pause daily-analytics-updates --for 2h --reason "database migration"
        """
        rows = pause_tasks(get_settings(ctx), get_registry(ctx), tasks, for_=for_, until=until, reason=reason,
                           origin=cli_origin(), now=now())
        if json:
            print_json(rows)
            return
        for row in rows:
            end = f"until {row['paused_until']}" if row["paused_until"] else "until resumed"
            why = f": {row['pause_reason']}" if row["pause_reason"] else ""
            print(f"paused {row['task']} {end} (by {row['paused_by']}){why}")

    @app.command("resume")
    @cli_errors
    def resume(
        ctx: typer.Context,
        tasks: list[str] = typer.Argument(..., help="Tasks to resume."),
        json: bool = JSON_OPTION,
    ) -> None:
        """End the pause of tasks: their next cron slot runs again, on every host.

        The slots that passed during the pause stay skipped: they are not caught up.

        Example: cronkit resume daily-analytics-updates
        """
        rows = resume_tasks(get_settings(ctx), get_registry(ctx), tasks, origin=cli_origin(), now=now())
        if json:
            print_json(rows)
            return
        for row in rows:
            if row["resumed"]:
                print(f"resumed {row['task']} ({row['was']['paused_by']}'s pause since {row['was']['paused_at']})")
            else:
                print(f"{row['task']} was not paused")
