"""`cronkit render|install|uninstall --target kubernetes|systemd`: the registry for other schedulers."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from cronkit.cli.common import get_registry, get_settings
from cronkit.cronfile.render import find_executable
from cronkit.errors import UsageError
from cronkit.registry.environments import check_environment
from cronkit.registry.loader import registry_spec
from cronkit.targets import joined, render_target
from cronkit.targets.files import (
    SYSTEM_UNIT_DIR,
    FileChanges,
    install_units,
    plan_removal,
    remove_files,
    uninstall_units,
    user_unit_dir,
    write_file,
    write_files,
)
from cronkit.targets.kubernetes import cronjob_names, registry_note, schedule_warnings

RENDER_TARGETS = ("user", "cron.d", "kubernetes", "systemd", "serve-unit")
INSTALL_TARGETS = ("user", "cron.d", "kubernetes", "systemd")  # install and uninstall: serve-unit is rendered only


_CRONTABS = "user (your crontab, through `crontab`), cron.d (a file in /etc/cron.d)"
RENDER_TARGET_OPTION = typer.Option(
    "user", "--target", help=f"{_CRONTABS}, kubernetes (CronJobs), systemd (timers) or serve-unit "
    "(`cronkit serve` as a systemd service).")
INSTALL_TARGET_OPTION = typer.Option(
    "user", "--target", help=f"{_CRONTABS}, kubernetes (CronJob files into --output DIR) or systemd (timers).")
UNINSTALL_TARGET_OPTION = typer.Option(
    "user", "--target", help=f"{_CRONTABS}, kubernetes (the CronJob files in --output DIR) or systemd "
    "(the units cronkit wrote; their timers are stopped and disabled where systemd runs).")
UNINSTALL_USER_OPTION = typer.Option(
    None, "--user", help="user target: whose crontab (crontab -u, as root); systemd: bare --user removes the "
    "units from ~/.config/systemd/user.")
UNINSTALL_ID_OPTION = typer.Option(
    None, "--id", help="Block id: names the installation (default: the registry's module name); kubernetes, "
    "systemd: the registry named in the files' first line, so a registry that no longer imports can go.")


def check_target_options(target: str, user: str | None, json: bool, user_name: bool = False) -> None:
    """Refuse the crontab options that install and uninstall of kubernetes or systemd do not take
    (`user_name`: systemd takes `--user NAME`, the User= of system units)."""
    if user not in (None, "") and not (user_name and target != "kubernetes"):
        raise UsageError(f"--user: takes no value with --target {target}")
    if json:
        raise UsageError(f"--json: not available for --target {target}")


def check_target(target: str, accepted: tuple[str, ...]) -> str:
    """Return `target` if the command accepts it; raise UsageError naming exactly those it accepts."""
    if target not in accepted:
        raise UsageError(f"--target: must be {', '.join(accepted[:-1])} or {accepted[-1]}, not {target!r}")
    return target


def _files(ctx: typer.Context, target: str, executable: str | None, user: str | None) -> dict[str, str]:
    """Render the target's files; `user` as --user gives it: None, "" (bare: user units) or a name."""
    if target in ("systemd", "serve-unit") and executable is None:
        executable = find_executable()
    files = render_target(target, get_registry(ctx), get_settings(ctx), executable or "", user or None, user == "")
    if target == "kubernetes":
        note = registry_note(get_registry(ctx), get_settings(ctx))
        for warning in [*([note] if note else []), *schedule_warnings(get_registry(ctx), get_settings(ctx))]:
            print(f"cronkit: warning: {warning}", file=sys.stderr)
    return files


def render(ctx: typer.Context, target: str, output: Path | None, executable: str | None, user: str | None) -> None:
    """Print the files, each after `# --- <name>`, or write them into `output`."""
    check_target_options(target, user, False, user_name=True)
    files = _files(ctx, target, executable, user)
    if output is None:
        if not files:
            print(f"# environment {get_settings(ctx).environment} schedules no task", file=sys.stderr)
        sys.stdout.write(joined(files))
        return
    output.mkdir(parents=True, exist_ok=True)
    for name in sorted(files):
        write_file(output / name, files[name])
    print(f"wrote {len(files)} files into {output}")


def _report_changes(changes: object) -> None:
    assert isinstance(changes, FileChanges)
    verb = {"added": "would add" if changes.dry_run else "added",
            "changed": "would change" if changes.dry_run else "changed",
            "removed": "would remove" if changes.dry_run else "removed"}
    for kind in ("added", "changed", "removed"):
        for name in getattr(changes, kind):
            print(f"{verb[kind]} {changes.directory / name}")
    print(changes.summary())


def install(ctx: typer.Context, target: str, output: Path | None, user: str | None, unit_dir: Path | None,
            dry_run: bool, executable: str | None, allow_empty: bool = False) -> None:
    """Write the files (Kubernetes: into --output; systemd: into the unit directory; `user` as
    --user gives it: "" for the user's own units, a name for User= of system units)."""
    if target == "serve-unit":
        raise UsageError("--target serve-unit: render it (cronkit render --target serve-unit --output DIR) "
                         "and enable it with systemctl")
    if target == "kubernetes" and output is None:
        raise UsageError("--target kubernetes: give --output DIR (applying the files is kubectl's job)")
    if target != "kubernetes" and output is not None:
        raise UsageError("--output: for --target systemd use --unit-dir DIR")
    settings, registry = get_settings(ctx), get_registry(ctx)
    check_environment(registry, settings, allow_empty=allow_empty)
    install_id = registry.id or registry_spec(registry, settings)
    user_units = user == ""
    files = _files(ctx, target, executable, user)
    if not files:
        print(f"environment {settings.environment} schedules no task", file=sys.stderr)
    if target == "kubernetes":
        assert output is not None
        changes = write_files(output, files, install_id, dry_run=dry_run)
        _report_changes(changes)
        if not dry_run:
            print(f"apply them with: kubectl apply -f {output}")
        return
    directory = unit_dir or (user_unit_dir() if user_units else SYSTEM_UNIT_DIR)
    outcome = install_units(directory, files, install_id, user=user_units, dry_run=dry_run)
    _report_changes(outcome.changes)
    if dry_run:
        return
    scope = "systemctl --user" if user_units else "systemctl"
    if outcome.systemd_running:
        for argv in outcome.commands:
            print(f"ran {' '.join(argv)}")
    elif outcome.timers:
        print(f"systemd is not running here (PID 1 is {outcome.pid1}): units written, not enabled; "
              f"on the host, run: {scope} daemon-reload && {scope} enable --now {' '.join(outcome.timers)}")
    else:
        print(f"systemd is not running here (PID 1 is {outcome.pid1}); no timer to enable")


def _report_removal(changes: object, install_id: str) -> None:
    assert isinstance(changes, FileChanges)
    if not changes.removed and not changes.kept:
        print(f"no file of registry {install_id} in {changes.directory}; nothing to do")
        return
    for name in changes.removed:
        print(f"{'would remove' if changes.dry_run else 'removed'} {changes.directory / name}")
    for name in changes.kept:
        print(f"kept {changes.directory / name}: listed as cronkit's, but it no longer starts with cronkit's mark")
    print(f"{'dry run: ' if changes.dry_run else ''}{changes.directory}: {len(changes.removed)} removed, "
          f"{len(changes.kept)} kept")


def uninstall(ctx: typer.Context, target: str, install_id: str | None, output: Path | None, user_units: bool,
              unit_dir: Path | None, dry_run: bool) -> None:
    """Remove the files install wrote (Kubernetes: from --output; systemd: from the unit directory),
    only those that start with cronkit's mark for this registry (`--id`: the registry id in that mark)."""
    settings = get_settings(ctx)
    if target == "serve-unit":
        raise UsageError(f"--target serve-unit: cronkit does not install it; run systemctl disable --now "
                         f"{settings.systemd.unit_prefix}serve.service and delete its unit file")
    if target == "kubernetes":
        if unit_dir is not None or user_units:
            raise UsageError("--unit-dir and --user: only for --target systemd")
        if output is None:
            raise UsageError("--target kubernetes: give --output DIR, the directory install wrote the CronJobs into")
    elif output is not None:
        raise UsageError("--output: for --target systemd use --unit-dir DIR")
    if install_id is None:
        install_id = get_registry(ctx).id or registry_spec(get_registry(ctx), settings)
    if target == "kubernetes":
        assert output is not None
        _uninstall_cronjobs(output, install_id, settings.kubernetes.namespace, dry_run)
        return
    directory = unit_dir or (user_unit_dir() if user_units else SYSTEM_UNIT_DIR)
    outcome = uninstall_units(directory, install_id, user=user_units, dry_run=dry_run)
    _report_removal(outcome.changes, install_id)
    if dry_run or not outcome.changes.removed:
        return
    if outcome.systemd_running:
        for argv in outcome.commands:
            print(f"ran {' '.join(argv)}")
    else:
        print(f"systemd is not running here (PID 1 is {outcome.pid1}): units removed, no timer stopped")


def _uninstall_cronjobs(directory: Path, install_id: str, namespace: str, dry_run: bool) -> None:
    suffixes = (".yaml",)
    names = cronjob_names([directory / name for name in plan_removal(directory, install_id, suffixes).removed],
                          namespace)
    _report_removal(remove_files(directory, install_id, suffixes, dry_run=dry_run), install_id)
    for where, objects in sorted(names.items()):
        command = shlex.join(["kubectl", "delete", "cronjob", "--namespace", where, "--ignore-not-found", *objects])
        print(f"delete them from the cluster with: {command}")
