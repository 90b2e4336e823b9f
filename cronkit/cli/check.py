"""`cronkit check`: the duties the block's periodic and @reboot lines run (catch-up, ...)."""

from __future__ import annotations

import sys

import typer

from ..errors import CheckFailed
from .common import JSON_OPTION, cli_errors, get_registry, get_settings, print_json


def register(app: typer.Typer) -> None:
    @app.command("check")
    @cli_errors
    def check(
        boot: bool = typer.Option(False, "--boot", help="Run from the block's @reboot line: the host just started."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Run the periodic duties: catch up missed slots (the tasks' catchup policy), oldest first.

        Quiet when there is nothing to do; one line per catch-up run; exit 1 if one failed.

        Example: cronkit check --json
        """
        from ..check import run_check
        from ..clock import now

        report = run_check(get_settings(), get_registry(), now(), boot=boot)
        if json:
            print_json(report.as_dict())
        failed = report.failed
        if not json:
            for run in report.catchup:
                if run.get("status") in ("succeeded", "skipped", "deferred"):
                    verb = "caught up" if run["status"] == "succeeded" else f"catch-up {run['status']}:"
                    print(f"{verb} {run['task']} {run['slot']}: {run['summary']}")
        if failed:
            for line in failed:
                if not json:
                    print(line, file=sys.stderr)
            raise CheckFailed(f"{len(failed)} catch-up run(s) failed")
