"""`cronkit check`: the duties the block's periodic and @reboot lines run (lost runs, catch-up,
missed-slot notifications, metrics files, the outbox)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cronkit.cli.common import (
    JSON_OPTION,
    cli_errors,
    get_registry,
    get_settings,
    print_json,
    state_of,
)
from cronkit.cli.run import record_start_failure
from cronkit.clock import now
from cronkit.config.settings import Settings
from cronkit.duties.check import run_check
from cronkit.errors import CronkitError
from cronkit.registry import Registry
from cronkit.runlog import startfail


def register(app: typer.Typer) -> None:
    @app.command("check")
    @cli_errors
    def check(
        ctx: typer.Context,
        boot: bool = typer.Option(False, "--boot", help="Run from the block's @reboot line: the host just started."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Run the periodic duties: mark lost runs, catch up missed slots (oldest first), notify
        missed slots, rewrite metrics files, deliver the outbox.

        Quiet when there is nothing to report (cron mails only problems); one line per catch-up
        run; exit 1 when a duty or a catch-up run failed.

        Example: cronkit check --json
        """
        settings, registry = _start(ctx)
        report = run_check(settings, registry, now(), boot=boot)
        if json:
            print_json(report.as_dict())
        else:
            synced = report.duties.get("sync", {})
            if synced.get("state") == "synced":  # cron mails it: the block changed under the operator
                print(synced["summary"] + (f" (previous crontab saved in {synced['backup']})" if synced["backup"] else ""))
            for run in report.catchup:
                if run.get("status") in ("succeeded", "skipped", "deferred"):
                    verb = "caught up" if run["status"] == "succeeded" else f"catch-up {run['status']}:"
                    print(f"{verb} {run['task']} {run['slot']}: {run['summary']}")
            for line in report.failed:
                print(line, file=sys.stderr)
            for name, error in report.errors.items():
                print(f"cronkit: check: {name}: {error}", file=sys.stderr)
            for error in report.duties.get("outbox", {}).get("errors", []):
                print(f"cronkit: check: outbox: {error} (kept for the next check)", file=sys.stderr)
        if not report.ok:
            raise typer.Exit(1)


def _start(ctx: typer.Context) -> tuple[Settings, Registry]:
    """Resolve the settings and the registry; from a block's line (`--config <home>/cron/<block>.toml`)
    a failure leaves the block's start-failure record, and a start clears it, as `cronkit run` does."""
    options = state_of(ctx).options
    from_block = options.config is not None and Path(options.config).parent.name == startfail.RUN_CONFIG_DIR
    try:
        settings, registry = get_settings(ctx), get_registry(ctx)
    except CronkitError as exc:
        if from_block:
            record_start_failure(options, "check", None, exc, int(getattr(exc, "exit_code", 1)))
        raise
    if from_block:
        startfail.clear(settings.home, startfail.key_for(options.config))
    return settings, registry
