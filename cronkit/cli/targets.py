"""`cronkit render|install --target kubernetes|systemd`: the registry for other schedulers."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..errors import UsageError
from .common import get_registry, get_settings


def _files(ctx: typer.Context, target: str, executable: str | None) -> dict[str, str]:
    from ..targets import render_target

    if target in ("systemd", "serve-unit") and executable is None:
        from ..cronfile.render import find_executable

        executable = find_executable()
    files = render_target(target, get_registry(ctx), get_settings(ctx), executable or "")
    if target == "kubernetes":
        from ..targets.kubernetes import registry_note

        note = registry_note(get_registry(ctx), get_settings(ctx))
        if note:
            print(f"cronkit: warning: {note}", file=sys.stderr)
    return files


def render(ctx: typer.Context, target: str, output: Path | None, executable: str | None) -> None:
    """Print the files, each after `# --- <name>`, or write them into `output`."""
    from ..targets import joined
    from ..targets.files import write_file

    files = _files(ctx, target, executable)
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
    from ..targets.files import FileChanges

    assert isinstance(changes, FileChanges)
    verb = {"added": "would add" if changes.dry_run else "added",
            "changed": "would change" if changes.dry_run else "changed",
            "removed": "would remove" if changes.dry_run else "removed"}
    for kind in ("added", "changed", "removed"):
        for name in getattr(changes, kind):
            print(f"{verb[kind]} {changes.directory / name}")
    print(changes.summary())


def install(ctx: typer.Context, target: str, output: Path | None, user_units: bool, unit_dir: Path | None,
            dry_run: bool, executable: str | None) -> None:
    """Write the files (Kubernetes: into --output; systemd: into the unit directory)."""
    from ..targets.files import SYSTEM_UNIT_DIR, install_units, user_unit_dir, write_files

    if target == "serve-unit":
        raise UsageError("--target serve-unit: render it (cronkit render --target serve-unit --output DIR) "
                         "and enable it with systemctl")
    settings, registry = get_settings(ctx), get_registry(ctx)
    install_id = registry.id or settings.registry
    files = _files(ctx, target, executable)
    if not files:
        print(f"environment {settings.environment} schedules no task", file=sys.stderr)
    if target == "kubernetes":
        if output is None:
            raise UsageError("--target kubernetes: give --output DIR (applying the files is kubectl's job)")
        changes = write_files(output, files, install_id, dry_run=dry_run)
        _report_changes(changes)
        if not dry_run:
            print(f"apply them with: kubectl apply -f {output}")
        return
    if output is not None:
        raise UsageError("--output: for --target systemd use --unit-dir DIR")
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
