"""`cronkit adopt`: take the host's crontab in as command tasks; `--undo` puts it back to the byte."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from cronkit.adopt.flow import adopt, crontab_location, undo
from cronkit.adopt.parse import env_assignment
from cronkit.cli.common import JSON_OPTION, cli_errors, get_settings, print_json
from cronkit.cli.crontab import _write_bytes
from cronkit.errors import UsageError
from cronkit.safe.redact import Redactor
from cronkit.safe.terminal import printable


def register(app: typer.Typer) -> None:
    @app.command("adopt")
    @cli_errors
    def adopt_(
        ctx: typer.Context,
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the crontab's diff and write nothing."),
        into: Path | None = typer.Option(
            None, "--into", help="Registry file to write the tasks into (default: the adopted setting, "
            "<home>/adopted.py, which is loaded with the registry whenever it exists)."),
        target: str = typer.Option("user", "--target", help="user: your crontab (crontab -l); cron.d: --file PATH."),
        file: Path | None = typer.Option(None, "--file", help="cron.d: the file to adopt, e.g. /etc/cron.d/backups."),
        user: str | None = typer.Option(
            None, "--user", help="user: whose crontab (crontab -u, as root); cron.d: adopt the lines of this user "
            "(default: you)."),
        undo: bool = typer.Option(False, "--undo", help="Put the crontab back exactly as it was before adoption."),
        force: bool = typer.Option(False, "--force", help="--undo even if the crontab changed since adoption."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Turn each job line of a crontab into a command task and run it through cronkit's block.

        Comments, assignments, @reboot lines and lines that feed standard input with % stay as
        they are. The tasks go into a Python registry file you can edit and commit; the crontab is
        written under the same lock, backup and check as `install`.

        Example: cronkit adopt --dry-run; cronkit adopt; cronkit adopt --undo
        """
        settings = get_settings(ctx)
        location = crontab_location(settings, target, file, user if target == "user" else None)
        if undo:
            _undo(settings, location, dry_run, force, json)
            return
        if force:
            raise UsageError("--force: only with --undo")
        _adopt(settings, location, into, user if target == "cron.d" else None, dry_run, json)


def _adopt(settings: Any, location: Any, into: Path | None, user: str | None, dry_run: bool, json: bool) -> None:
    adoption = adopt(settings, location, into=into, user=user, dry_run=dry_run)
    plan, outcome = adoption.plan, adoption.install
    redact = _redactor(outcome.diff() if outcome is not None else "", *(job.env for job in plan.adopted))
    diff = redact(outcome.diff()) if outcome is not None and outcome.changed else ""
    if json:
        print_json({
            "location": location.describe(), "into": str(adoption.into), "dry_run": dry_run,
            "adopted": [{"line": j.line.number, "name": j.name, "schedule": j.schedule, "shell": j.shell,
                         "command": redact(j.command)} for j in plan.adopted],
            "kept": [{"line": k.line.number, "note": k.note} for k in plan.kept],
            "block_id": outcome.block_id if outcome else None, "wrote": bool(outcome and outcome.wrote),
            "backup": str(outcome.backup) if outcome and outcome.backup else None,
            "diff": diff or None, "module": redact(adoption.module) if dry_run else None,
        })
        return
    out = sys.stderr if dry_run else sys.stdout
    if dry_run and diff:
        _write_bytes(diff)
    verb = "would adopt" if dry_run else "adopted"
    for job in plan.adopted:
        print(f"{verb} line {job.line.number} as {job.name}: {job.schedule} {printable(redact(job.command)).strip()}",
              file=out)
    for kept in plan.kept:
        print(f"kept line {kept.line.number}: {kept.note}", file=out)
    if outcome is None:
        print(f"{location.describe()}: no job line to adopt; nothing written", file=out)
        return
    if dry_run:
        print(f"dry run: {len(plan.adopted)} line(s) of {location.describe()} into {adoption.into}, block "
              f"{outcome.block_id}; nothing written", file=out)
        return
    backup = f" (previous crontab saved in {outcome.backup})" if outcome.backup else ""
    print(f"wrote {adoption.into}; block {outcome.block_id} in {location.describe()} runs them{backup}")
    if settings.adopted is None or adoption.into != settings.adopted.absolute():
        print(f"note: add {adoption.into} to the registry setting (CRONKIT_TASKS=...,{adoption.into}) so that "
              f"list, history and install see these tasks; cron's runs read it from {outcome.run_config}")


def _undo(settings: Any, location: Any, dry_run: bool, force: bool, json: bool) -> None:
    outcome = undo(settings, location, dry_run=dry_run, force=force)
    diff = _redactor(outcome.diff())(outcome.diff()) if outcome.changed else ""
    if json:
        print_json({"location": location.describe(), "dry_run": dry_run, "wrote": outcome.wrote,
                    "backup": str(outcome.backup) if outcome.backup else None, "diff": diff or None})
        return
    if dry_run:
        _write_bytes(diff)
        print(f"dry run: {location.describe()} would be put back as it was before adoption; nothing written",
              file=sys.stderr)
        return
    backup = f" (the adopted crontab saved in {outcome.backup})" if outcome.backup else ""
    print(f"put {location.describe()} back as it was before adoption{backup}")


def _redactor(crontab: str, *envs: Any) -> Any:
    """Return the redactor of what cronkit prints of a crontab: the values of its secret-looking
    assignments (and the adopted jobs' environments), URL passwords, the process's own secrets."""
    lines = (line.lstrip("+- ") for line in crontab.splitlines())
    assignments = dict(filter(None, (env_assignment(line) for line in lines)))
    return Redactor.from_sources(assignments, os.environ, *envs)
