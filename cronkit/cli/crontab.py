"""`cronkit render`, `install` and `uninstall`: the registry and the host's crontab."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from cronkit.cli import targets
from cronkit.cli.common import JSON_OPTION, cli_errors, get_registry, get_settings, print_json
from cronkit.cli.targets import (
    INSTALL_TARGET_OPTION,
    INSTALL_TARGETS,
    RENDER_TARGET_OPTION,
    RENDER_TARGETS,
    UNINSTALL_ID_OPTION,
    UNINSTALL_TARGET_OPTION,
    UNINSTALL_USER_OPTION,
    check_target,
    check_target_options,
)
from cronkit.cronfile.block import unified_diff
from cronkit.cronfile.install import install, uninstall
from cronkit.cronfile.render import check_block_id, render
from cronkit.cronfile.state import default_block_id, default_inputs
from cronkit.errors import CheckFailed, UsageError
from cronkit.health.preflight import refusals
from cronkit.notify.hcsync import shared_checks
from cronkit.registry.environments import check_environment
from cronkit.schedule import uneven_step_warning
from cronkit.targets import TARGETS

OUTPUT_OPTION = typer.Option(
    None, "--output", help="kubernetes, systemd, serve-unit: write the files into DIR instead of printing them.")
ID_OPTION = typer.Option(
    None, "--id", help="Block id: names the installation (default: the registry's module name).")
# A bare `--user` (systemd's user units) takes no value: main turns it into `--user=`.
USER_OPTION = typer.Option(
    None, "--user",
    help="user target: whose crontab (crontab -u, as root); cron.d: the user the lines run as (default: you); "
    "systemd, serve-unit: User= of the system units (default: [systemd] user, else you), bare --user: units "
    "for your own systemd.")
INSTALL_USER_OPTION = typer.Option(
    None, "--user",
    help="user target: whose crontab (crontab -u, as root); cron.d: the user the lines run as (default: you); "
    "systemd: User= of the system units (default: [systemd] user, else you), bare --user: installs into "
    "~/.config/systemd/user.")
HOST_ZONE_OPTION = typer.Option(
    None, "--host-zone", help="Zone the host's cron runs in (default: from /etc/localtime).")
EXECUTABLE_OPTION = typer.Option(
    None, "--executable", help="Absolute path of cronkit on the cron lines (default: this installation's).")
RUN_CONFIG_OPTION = typer.Option(
    None, "--run-config",
    help="Config file the cron runs read; install then writes none "
    "(default: <home>/cron/<id>.toml, written by install).")
ALLOW_EMPTY_OPTION = typer.Option(
    False, "--allow-empty",
    help="Accept an environment no task declares (nor the `environments` setting lists): its block is empty.")


def _check_environment(ctx: typer.Context, target: str, allow_empty: bool) -> None:
    """Refuse an environment the registry does not know (a typo would empty the block), exit 78."""
    if target != "serve-unit":  # the service's unit runs no task
        check_environment(get_registry(ctx), get_settings(ctx), allow_empty=allow_empty)


def _inputs(ctx: typer.Context, target: str, block_id: str | None, user: str | None, host_zone: str | None,
            executable: str | None, run_config: str | None) -> tuple[Any, str | None, bool]:
    """Return (RenderInputs, crontab -u user, whether install writes the run settings file)."""
    inputs = default_inputs(get_settings(ctx), get_registry(ctx), target, block_id=block_id, user=user,
                            host_zone=host_zone, executable=executable, run_config=run_config)
    return inputs, (user if target == "user" else None), run_config is None


def _write_bytes(text: str) -> None:
    """Print a diff of crontab text with its foreign bytes as they are (surrogateescape)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (the CLI run in process): say what a byte was
        sys.stdout.write(text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace"))
        return
    buffer.write(text.encode("utf-8", errors="surrogateescape"))
    buffer.flush()


def _report(outcome: Any, verb: str) -> None:
    """Print one line per added, changed or removed task and a summary line."""
    counts = {"added": 0, "changed": 0, "removed": 0, "unchanged": 0}
    out = sys.stderr if outcome.dry_run else sys.stdout
    for change in outcome.changes:
        counts[change.kind] += 1
        if change.kind == "unchanged":
            continue
        prefix = f"would be {change.kind}" if outcome.dry_run else change.kind
        lines = change.new if change.kind != "removed" else change.old
        for line in lines:
            print(f"{prefix} {change.task}: {line}", file=out)
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    where = outcome.location.describe()
    if outcome.dry_run:
        state = "no change" if not outcome.changed else "nothing written"
        print(f"dry run: block {outcome.block_id} in {where}: {summary}; {state}", file=out)
        return
    if outcome.run_config_written:
        print(f"wrote the settings the cron runs read to {outcome.run_config}", file=out)
    if not outcome.wrote:
        print(f"block {outcome.block_id} in {where} is up to date: {summary}", file=out)
        return
    backup = f" (previous crontab saved in {outcome.backup})" if outcome.backup else ""
    print(f"{verb} block {outcome.block_id} in {where}: {summary}{backup}", file=out)


def _warn_preflight(ctx: typer.Context) -> list[str]:
    """Warn (stderr, one line per task) about each scheduled task that will refuse to run here."""
    settings = get_settings(ctx)
    reasons = [item["reason"] for item in
               refusals(get_registry(ctx).enabled_in(settings.environment, settings.task_config), settings)]
    reasons += _uneven_steps(ctx)
    if settings.notifiers:
        reasons += shared_checks(settings, get_registry(ctx))
    for reason in reasons:
        print(f"cronkit: warning: {reason}", file=sys.stderr)
    return reasons


def _uneven_steps(ctx: typer.Context) -> list[str]:
    """Return a warning for each scheduled task whose schedule steps unevenly (`*/45`: :00 and :45)."""
    settings = get_settings(ctx)
    warnings = []
    for task in get_registry(ctx).enabled_in(settings.environment, settings.task_config):
        said = uneven_step_warning(task.resolved_schedule)
        if said is not None:
            warnings.append(f"task {task.name}: {said}")
    return warnings


def warn_uneven_steps(ctx: typer.Context) -> None:
    """Print _uneven_steps' warnings on stderr (the other targets' install)."""
    for warning in _uneven_steps(ctx):
        print(f"cronkit: warning: {warning}", file=sys.stderr)


def outcome_dict(outcome: Any, warnings: list[str] | None = None) -> dict[str, Any]:
    """Return what `install --json` and `uninstall --json` print (stable keys, README)."""
    return {
        "block_id": outcome.block_id, "location": outcome.location.describe(), "dry_run": outcome.dry_run,
        "changed": outcome.changed, "wrote": outcome.wrote,
        "backup": str(outcome.backup) if outcome.backup else None,
        "run_config": str(outcome.run_config) if outcome.run_config else None,
        "run_config_written": outcome.run_config_written,
        "changes": [{"task": c.task, "kind": c.kind, "old": list(c.old), "new": list(c.new)}
                    for c in outcome.changes],
        "diff": outcome.diff() if outcome.dry_run and outcome.changed else None,
        "warnings": list(warnings or []),
    }


@cli_errors
def render_(
    ctx: typer.Context,
    target: str = RENDER_TARGET_OPTION,
    block_id: str | None = ID_OPTION,
    user: str | None = USER_OPTION,
    host_zone: str | None = HOST_ZONE_OPTION,
    executable: str | None = EXECUTABLE_OPTION,
    run_config: str | None = RUN_CONFIG_OPTION,
    check: Path | None = typer.Option(None, "--check", help="Compare with FILE: exit 1 with a diff when it differs."),
    output: Path | None = OUTPUT_OPTION,
    allow_empty: bool = ALLOW_EMPTY_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Print the block `install` would write (for cron.d: the whole file); writes nothing.

    kubernetes and systemd print each file after a line `# --- <file name>`, or write them
    into --output DIR.

    Example: cronkit --env production render --target cron.d --check crontab.d/production
    """
    if target in TARGETS:
        if json:
            raise UsageError(f"--json: not available for --target {target}; use --output DIR")
        if check is not None:
            raise UsageError(f"--check: not available for --target {target}; use --output DIR and diff")
        _check_environment(ctx, target, allow_empty)
        targets.render(ctx, target, output, executable, user)
        return
    check_target(target, RENDER_TARGETS)
    if output is not None:
        raise UsageError("--output: only for --target kubernetes, systemd or serve-unit")
    _check_environment(ctx, target, allow_empty)

    inputs, _, _ = _inputs(ctx, target, block_id, user, host_zone, executable, run_config)
    text = render(get_registry(ctx), get_settings(ctx), inputs).text
    if check is None:
        if json:
            print_json({"target": target, "block_id": inputs.block_id, "text": text})
            return
        sys.stdout.write(text)
        return
    _compare(check, text, target, inputs.block_id, json)


def _compare(check: Path, text: str, target: str, block_id: str, json: bool) -> None:
    """Answer `render --check FILE`: exit 1 with a diff (or its JSON) when FILE differs from `text`."""
    try:
        current = check.read_text()
    except OSError as exc:
        raise CheckFailed(f"--check: cannot read {check}: {exc.strerror}") from None
    if json:
        print_json({"target": target, "block_id": block_id, "text": text, "check": str(check),
                    "differs": current != text,
                    "diff": unified_diff(current, text, str(check), "rendered") if current != text else None})
        if current != text:
            raise typer.Exit(1)
        return
    if current != text:
        sys.stdout.write(unified_diff(current, text, str(check), "rendered"))
        raise CheckFailed(f"{check} differs from the rendered {target} block")


@cli_errors
def install_(
    ctx: typer.Context,
    target: str = INSTALL_TARGET_OPTION,
    block_id: str | None = ID_OPTION,
    user: str | None = INSTALL_USER_OPTION,
    host_zone: str | None = HOST_ZONE_OPTION,
    executable: str | None = EXECUTABLE_OPTION,
    run_config: str | None = RUN_CONFIG_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the unified diff and write nothing."),
    output: Path | None = typer.Option(None, "--output", help="kubernetes: write the CronJob files into DIR."),
    unit_dir: Path | None = typer.Option(
        None, "--unit-dir", help="systemd: write the units here instead of /etc/systemd/system."),
    allow_empty: bool = ALLOW_EMPTY_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Write the registry's block into the crontab, keeping every other line byte for byte.

    kubernetes writes the CronJobs into --output DIR; systemd writes units into
    /etc/systemd/system (--user: ~/.config/systemd/user), keeps files it did not write, and
    enables the timers when systemd runs.

    Example: cronkit --env production install --target cron.d --dry-run
    """
    if target in TARGETS:
        check_target_options(target, user, json, user_name=target == "systemd")
        for option, value in (("--id", block_id), ("--host-zone", host_zone), ("--run-config", run_config)):
            if value is not None:
                raise UsageError(f"{option}: only for --target user or cron.d (a crontab block)")
        targets.install(ctx, target, output, user, unit_dir, dry_run, executable, allow_empty)
        warn_uneven_steps(ctx)
        return
    check_target(target, INSTALL_TARGETS)
    if output is not None or unit_dir is not None:
        raise UsageError("--output and --unit-dir: only for --target kubernetes or systemd")
    if user == "":
        raise UsageError("--user: needs a user name with --target user or cron.d")
    _check_environment(ctx, target, allow_empty)
    settings = get_settings(ctx)
    inputs, crontab_user, write_run_config = _inputs(ctx, target, block_id, user, host_zone, executable, run_config)
    outcome = install(settings, get_registry(ctx), inputs, user=crontab_user, dry_run=dry_run,
                      write_run_config=write_run_config)
    if outcome.runlog_error:
        print(f"cronkit: warning: {outcome.runlog_error}", file=sys.stderr)
    _report_install(outcome, settings.environment, inputs.block_id, dry_run, json, _warn_preflight(ctx))


def _report_install(outcome: Any, environment: str, block_id: str, dry_run: bool, json: bool,
                    warnings: list[str]) -> None:
    """Print what `install` did to a crontab block (or would do, with --dry-run)."""
    if json:
        print_json(outcome_dict(outcome, [*([outcome.runlog_error] if outcome.runlog_error else []), *warnings]))
        return
    if outcome.nothing_scheduled and outcome.before == outcome.after:
        print(f"environment {environment} schedules no task; "
              f"nothing written to {outcome.location.describe()}")
        return
    if outcome.nothing_scheduled:
        print(f"environment {environment} schedules no task; emptying block {block_id}",
              file=sys.stderr if dry_run else sys.stdout)
    if dry_run:
        _write_bytes(outcome.diff())
    _report(outcome, "installed")


@cli_errors
def uninstall_(
    ctx: typer.Context,
    target: str = UNINSTALL_TARGET_OPTION,
    block_id: str | None = UNINSTALL_ID_OPTION,
    user: str | None = UNINSTALL_USER_OPTION,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would go (a crontab: the unified diff) and change nothing."),
    output: Path | None = typer.Option(
        None, "--output", help="kubernetes: the directory install wrote the CronJob files into."),
    unit_dir: Path | None = typer.Option(
        None, "--unit-dir", help="systemd: remove the units from here instead of /etc/systemd/system."),
    json: bool = JSON_OPTION,
) -> None:
    """Remove cronkit's block from the crontab and nothing else (a cron.d file left empty is deleted).

    kubernetes and systemd remove only the files that start with cronkit's mark for the
    registry, and keep every other file; systemd stops and disables their timers first
    when systemd runs.

    Example: cronkit uninstall --target cron.d --id cronkit.tasks

    Example: cronkit uninstall --target systemd --unit-dir /etc/systemd/system
    """
    if target in TARGETS:
        check_target_options(target, user, json)
        targets.uninstall(ctx, target, block_id, output, user == "", unit_dir, dry_run)
        return
    check_target(target, INSTALL_TARGETS)
    if output is not None or unit_dir is not None:
        raise UsageError("--output and --unit-dir: only for --target kubernetes or systemd")
    if user == "":
        raise UsageError("--user: needs a user name with --target user or cron.d")
    if block_id is None:
        block_id = default_block_id(get_settings(ctx), get_registry(ctx))
    check_block_id(block_id)
    outcome = uninstall(get_settings(ctx), block_id, target, user=user if target == "user" else None,
                        dry_run=dry_run)
    if json:
        print_json(outcome_dict(outcome))
        return
    if outcome.before == outcome.after:
        print(f"no block {block_id} in {outcome.location.describe()}; nothing to do")
        return
    if dry_run:
        _write_bytes(outcome.diff())
    _report(outcome, "removed")


def register(app: typer.Typer) -> None:
    """Add render, install and uninstall to `app`."""
    app.command("render")(render_)
    app.command("install")(install_)
    app.command("uninstall")(uninstall_)
