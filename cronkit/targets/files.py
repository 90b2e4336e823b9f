"""Write rendered files into a directory, keeping every file cronkit did not write, and take them out again.

A manifest in the directory (`.cronkit-manifest.json`) records, per installation id, the
files cronkit wrote and their SHA-256. An install writes the new files, removes only the
files its installation wrote before and no longer renders, and refuses to overwrite a file
of the same name that it did not write. An uninstall removes the files whose first line is
cronkit's mark for the installation (`targets.rendered_by`), listed or not, and keeps every
other file, a listed one that lost the mark included.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cronkit.errors import ConfigError, ServiceUnavailable
from cronkit.safe.files import write_atomic
from cronkit.targets.common import rendered_by

MANIFEST = ".cronkit-manifest.json"
MODE = 0o644


@dataclass
class FileChanges:
    directory: Path
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # uninstall: listed in the manifest, no longer cronkit's
    dry_run: bool = False

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def summary(self) -> str:
        counts = (f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
                  f"{len(self.unchanged)} unchanged")
        return f"{'dry run: ' if self.dry_run else ''}{self.directory}: {counts}"


def _digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def read_manifest(directory: Path) -> dict[str, dict[str, str]]:
    """Return {installation id: {file name: sha256}}; empty when there is none."""
    path = directory / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"{path}: not a cronkit manifest")
    return data


def write_file(path: Path, text: str) -> None:
    """Write one rendered file (mode 0644) so that a reader never sees half of it."""
    write_atomic(path, text, MODE)


def plan(directory: Path, files: dict[str, str], install_id: str) -> FileChanges:
    """Return what `write_files` would do; raise ConfigError on a foreign file in the way."""
    manifest = read_manifest(directory)
    ours = manifest.get(install_id, {})
    owned_elsewhere = {name for other, names in manifest.items() if other != install_id for name in names}
    changes = FileChanges(directory)
    for name in sorted(files):
        path = directory / name
        if name in owned_elsewhere:
            raise ConfigError(f"{path}: written by another cronkit installation; not overwritten")
        try:
            current: bytes | None = path.read_bytes()
        except FileNotFoundError:
            current = None
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        if current is not None and name not in ours:
            raise ConfigError(f"{path}: exists and was not written by cronkit; move it away or rename the task")
        if current is None:
            changes.added.append(name)
        elif current == files[name].encode():
            changes.unchanged.append(name)
        else:
            changes.changed.append(name)
    changes.removed = sorted(name for name in ours if name not in files and (directory / name).exists())
    return changes


def write_files(directory: Path, files: dict[str, str], install_id: str, dry_run: bool = False) -> FileChanges:
    """Write `files` into `directory` (mode 0644, atomically) and drop the stale ones cronkit wrote."""
    changes = plan(directory, files, install_id)
    changes.dry_run = dry_run
    if dry_run:
        return changes
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {directory}: {exc.strerror}") from None
    manifest = read_manifest(directory)
    try:
        for name in changes.added + changes.changed:
            write_file(directory / name, files[name])
        for name in changes.removed:
            (directory / name).unlink(missing_ok=True)
        manifest[install_id] = {name: _digest(files[name]) for name in sorted(files)}
        if not manifest[install_id]:
            del manifest[install_id]
        write_file(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write into {directory}: {exc.strerror}") from None
    return changes


def _carries_mark(path: Path, install_id: str) -> bool:
    """Tell a regular file (not a link someone made) whose first line is cronkit's mark for `install_id`."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            first = handle.readline(4096)
    except OSError:
        return False
    return first.startswith(rendered_by(install_id).encode())


def plan_removal(directory: Path, install_id: str, suffixes: tuple[str, ...]) -> FileChanges:
    """Return what `remove_files` would do: the marked files of the installation go, all others stay."""
    listed = set(read_manifest(directory).get(install_id, {}))
    try:
        present = {entry.name for entry in directory.iterdir() if entry.name.endswith(suffixes)}
    except FileNotFoundError:
        present = set()
    except OSError as exc:
        raise ConfigError(f"cannot read {directory}: {exc.strerror}") from None
    changes = FileChanges(directory)
    for name in sorted(present | listed):
        path = directory / name
        if _carries_mark(path, install_id):
            changes.removed.append(name)
        elif name in listed and (path.exists() or path.is_symlink()):
            changes.kept.append(name)
    return changes


def remove_files(directory: Path, install_id: str, suffixes: tuple[str, ...], dry_run: bool = False) -> FileChanges:
    """Remove the files cronkit wrote for `install_id` from `directory` and its entry from the manifest."""
    changes = plan_removal(directory, install_id, suffixes)
    changes.dry_run = dry_run
    if dry_run:
        return changes
    manifest = read_manifest(directory)
    try:
        for name in changes.removed:
            (directory / name).unlink(missing_ok=True)
        if manifest.pop(install_id, None) is not None:
            if manifest:
                write_file(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            else:
                (directory / MANIFEST).unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot remove files from {directory}: {exc.strerror}") from None
    return changes


# --- systemd units ----------------------------------------------------------------------------

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")


def user_unit_dir(environ: dict[str, str] | None = None) -> Path:
    """Return `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`."""
    environ = dict(os.environ) if environ is None else environ
    config = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(config) / "systemd" / "user"


def pid1_name(proc: Path = Path("/proc")) -> str:
    """Return the name of the process with id 1 (`systemd` on a host that systemd runs)."""
    try:
        return (proc / "1" / "comm").read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@dataclass
class UnitsOutcome:
    changes: FileChanges
    timers: list[str]
    pid1: str
    commands: list[list[str]] = field(default_factory=list)

    @property
    def systemd_running(self) -> bool:
        return self.pid1 == "systemd"


def _systemctl(args: list[str], user: bool, commands: list[list[str]]) -> None:
    argv = ["systemctl", *(["--user"] if user else []), *args]
    commands.append(argv)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceUnavailable(f"{' '.join(argv)}: {exc}") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise ServiceUnavailable(f"{' '.join(argv)} failed: {message[-1] if message else done.returncode}")


def install_units(directory: Path, files: dict[str, str], install_id: str, user: bool = False,
                  dry_run: bool = False, proc: Path = Path("/proc")) -> UnitsOutcome:
    """Write the units, then, where systemd runs, reload it and enable the timers.

    Timers of tasks no longer rendered are stopped and disabled before their units go.
    """
    pid1 = pid1_name(proc)
    timers = sorted(name for name in files if name.endswith(".timer"))
    outcome = UnitsOutcome(plan(directory, files, install_id), timers, pid1)
    if dry_run:
        outcome.changes.dry_run = True
        return outcome
    stale = [name for name in outcome.changes.removed if name.endswith(".timer")]
    if outcome.systemd_running and stale:
        _systemctl(["disable", "--now", *stale], user, outcome.commands)
    outcome.changes = write_files(directory, files, install_id)
    if outcome.systemd_running:
        _systemctl(["daemon-reload"], user, outcome.commands)
        if timers:
            _systemctl(["enable", "--now", *timers], user, outcome.commands)
    return outcome


UNIT_SUFFIXES = (".service", ".timer")


def uninstall_units(directory: Path, install_id: str, user: bool = False, dry_run: bool = False,
                    proc: Path = Path("/proc")) -> UnitsOutcome:
    """Remove the units cronkit wrote for `install_id`: where systemd runs, stop and disable their
    timers first (as install enabled them) and reload it after. A run in progress finishes."""
    pid1 = pid1_name(proc)
    changes = plan_removal(directory, install_id, UNIT_SUFFIXES)
    timers = [name for name in changes.removed if name.endswith(".timer")]
    outcome = UnitsOutcome(changes, timers, pid1)
    if dry_run:
        changes.dry_run = True
        return outcome
    if outcome.systemd_running and timers:
        _systemctl(["disable", "--now", *timers], user, outcome.commands)
    outcome.changes = remove_files(directory, install_id, UNIT_SUFFIXES)
    if outcome.systemd_running and outcome.changes.removed:
        _systemctl(["daemon-reload"], user, outcome.commands)
    return outcome
