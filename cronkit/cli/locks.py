"""`cronkit unlock`: clear a stuck lock whose holder is gone."""

from __future__ import annotations

import typer

from cronkit import runlog
from cronkit.cli.common import JSON_OPTION, cli_errors, get_registry, get_settings, print_json
from cronkit.locks import lock_dir
from cronkit.locks import unlock as unlock_task
from cronkit.locks.redisconn import connect
from cronkit.runlog.reader import run_record


def register(app: typer.Typer) -> None:
    @app.command("unlock")
    @cli_errors
    def unlock(
        ctx: typer.Context,
        task: str = typer.Argument(..., help="Task whose lock to clear."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Clear a task's Redis lease whose holder is gone; refuse (exit 1) while the holder is alive.

        The kernel frees the local lock when its process dies. A lease holder on another host is gone once its run in the shared run log has ended or was marked lost.

        Example: cronkit unlock daily-session-cleanup
        """
        settings = get_settings(ctx)
        get_registry(ctx)[task]  # an unknown task is a usage error (exit 2)
        log = runlog.open(settings.db_url, create=True, settle=settings)  # marks dead `running` runs lost first

        def run_status(run_id: int) -> str | None:
            record = run_record(log, run_id)
            return None if record is None else str(record["status"])

        client = None
        if settings.redis_url:
            client = connect(settings.redis_url, timeout=2.0)
        report = unlock_task(client, lock_dir(settings), task, run_status, settings.lease_ttl)
        if json:
            print_json(report)
            return
        holder = report["holder"] or {}
        if report["redis"] == "cleared":
            who = f"pid {holder.get('pid')} on {holder.get('host')}" + (
                f", run {holder['run_id']}" if holder.get("run_id") else "")
            print(f"{task}: cleared the Redis lease of {who}, which is gone; the local lock is free")
        elif report["redis"] == "free":
            print(f"{task}: not locked (Redis lease and local lock are free)")
        else:
            print(f"{task}: not locked (local lock free; no Redis configured)")
