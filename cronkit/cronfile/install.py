"""Write cronkit's block into a crontab or a cron.d file, and take it out again, safely.

Read-modify-write under two locks (this home's, then the crontab's own, which every home
shares: see sharedlock): read the crontab, splice the block into the text (a pure
function that keeps every other byte), back up the previous text under `<home>/backups/`,
write (the `crontab` command, or a rename inside the cron.d directory), re-read to verify,
and restore the backup if anything failed. A crontab whose markers for our block do not
pair up is left untouched with an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from cronkit import runlog
from cronkit.clock import now
from cronkit.config.settings import Settings
from cronkit.cronfile.block import extract, lines_by_owner, settings_files, splice, unified_diff
from cronkit.cronfile.io import (
    CrontabUnavailable,
    Location,
    location_for,
    read_crontab,
    write_crontab,
)
from cronkit.cronfile.lineuser import check_reach, hand_over, other_line_user
from cronkit.cronfile.render import RenderInputs, render, run_settings_toml
from cronkit.cronfile.sharedlock import crontab_lock
from cronkit.cronfile.state import (
    LOCK_WAIT_SECONDS,
    CrontabEditedMeanwhile,
    InstallBusy,
    backup,
    forget_install,
    install_lock,
    record_install,
    write_private,
)
from cronkit.errors import ConfigError, CronkitError
from cronkit.registry import Registry


@dataclass(frozen=True)
class TaskChange:
    """How one task's lines change (or the block's own `cronkit check` lines'): added, changed,
    removed or unchanged."""

    task: str
    kind: str  # added, changed, removed, unchanged
    old: tuple[str, ...] = ()
    new: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What install or uninstall did (or, with dry_run, would do)."""

    location: Location
    block_id: str
    before: str | None
    after: str | None
    changes: list[TaskChange] = field(default_factory=list)
    wrote: bool = False
    dry_run: bool = False
    nothing_scheduled: bool = False
    backup: Path | None = None
    run_config: Path | None = None
    run_config_written: bool = False  # the run settings file was created or changed
    runlog_error: str | None = None  # why the run log the cron runs write could not be created

    @property
    def changed(self) -> bool:
        """Return whether the crontab text changes."""
        return self.before != self.after

    def diff(self) -> str:
        """Return the unified diff of the crontab before and after."""
        where = self.location.describe()
        return unified_diff(self.before or "", self.after or "", f"{where} (now)", f"{where} (after)")


def _changes(old: dict[str, list[str]], new: dict[str, list[str]]) -> list[TaskChange]:
    changes = []
    for name, lines in new.items():
        if name not in old:
            changes.append(TaskChange(name, "added", (), tuple(lines)))
        elif old[name] != lines:
            changes.append(TaskChange(name, "changed", tuple(old[name]), tuple(lines)))
        else:
            changes.append(TaskChange(name, "unchanged", tuple(lines), tuple(lines)))
    for name, lines in old.items():
        if name not in new:
            changes.append(TaskChange(name, "removed", tuple(lines), ()))
    return changes


@contextmanager
def _locked(settings: Settings, location: Location) -> Iterator[None]:
    """Hold this home's install lock, then the lock of the crontab itself (shared by all homes)."""
    with install_lock(settings), crontab_lock(location, LOCK_WAIT_SECONDS, InstallBusy):
        yield


def _lock_unless(dry_run: bool, settings: Settings, location: Location) -> AbstractContextManager[None]:
    # A dry run only reads: it takes no lock, so it creates nothing under the home.
    return nullcontext() if dry_run else _locked(settings, location)


def _commit(settings: Settings, location: Location, before: str | None, after: str | None) -> Path | None:
    """Back up, write, re-read and verify; put the previous crontab back if the write fails.

    crontab(1) takes no lock, so a person's `crontab -e` may land between cronkit's reading and
    writing: the crontab is read again just before writing and just after, and when it changed
    meanwhile cronkit writes nothing more (overwriting it would lose that edit) and fails with
    CrontabEditedMeanwhile, both versions saved.
    """
    now = read_crontab(location, exact=True)
    if now != before:
        raise _changed(settings, location, now, after, written=False)
    saved = backup(settings, location, before)
    try:
        write_crontab(location, after)
    except BaseException as exc:
        try:
            # Only put the previous text back if the crontab changed: a refused write left it as it was.
            if read_crontab(location, exact=True) != before:
                write_crontab(location, before)
        except CronkitError as again:
            kept = f"; the previous crontab is in {saved}" if saved else ""
            raise CrontabUnavailable(f"{exc}; restoring it failed too: {again}{kept}") from None
        raise
    found = read_crontab(location, exact=True)
    if found != after:  # not restored: what is there now may be someone's edit
        raise _changed(settings, location, found, after, written=True)
    return saved


def _changed(settings: Settings, location: Location, theirs: str | None, ours: str | None,
             *, written: bool) -> CrontabEditedMeanwhile:
    """Save the crontab as found and cronkit's intended text; return the error that names both."""
    found = backup(settings, location, theirs, "-found")
    intended = backup(settings, location, ours, "-cronkit")
    where = location.describe()
    when = "right after cronkit wrote it" if written else "while cronkit was installing"
    kept = f"it is saved in {found}" if found else "it has no crontab now"
    wanted = f"cronkit's version is in {intended}" if intended else "cronkit would have removed it"
    return CrontabEditedMeanwhile(f"{where} changed {when} (someone else wrote it): {kept}, {wanted};"
                          f" nothing more was written: check it and run the command again")


def install(settings: Settings, registry: Registry, inputs: RenderInputs, *, user: str | None = None,
            dry_run: bool = False, write_run_config: bool = True, location: Location | None = None,
            edit: Callable[[str | None], str | None] | None = None, run_config_owned: bool | None = None) -> Outcome:
    """Render the registry and write its block into the target crontab (see the module docstring).

    `user` is the `crontab -u` user of the user target. In an environment that schedules
    nothing, an existing block is emptied and no new one is written. `location` names the
    crontab when it is not the block's default place (`adopt --file`); `edit` changes the
    foreign text read under the lock before the block goes in (`adopt` takes its lines out).
    `run_config_owned`: what the install state records about the run settings file when this
    install writes none (auto_sync keeps what the install before it recorded); default
    `write_run_config`.
    """
    rendered = render(registry, settings, inputs)
    location = location or location_for(settings, inputs.target, inputs.block_id, user=user)
    run_config = Path(inputs.run_config)
    line_user = other_line_user(inputs.target, inputs.user)
    made = check_reach(line_user, settings.home, run_config) if line_user is not None else []
    with _lock_unless(dry_run, settings, location):
        before = read_crontab(location, exact=True)
        old_block = extract(before or "", inputs.block_id)
        _refuse_another_homes_block(settings, location, inputs, old_block)
        outcome = Outcome(location, inputs.block_id, before, before, dry_run=dry_run,
                          run_config=run_config if write_run_config else None)
        outcome.changes = _changes(lines_by_owner(old_block), lines_by_owner(rendered.text))
        if not rendered.tasks and old_block is None:
            outcome.nothing_scheduled = True
            return outcome
        outcome.nothing_scheduled = not rendered.tasks
        base = edit(before) if edit is not None else before
        outcome.after = splice(base or "", inputs.block_id, rendered.text)
        settings_text = run_settings_toml(settings, registry, inputs.block_id) if write_run_config else None
        if dry_run:
            return outcome
        previous_settings = _read_text(run_config) if settings_text is not None else None
        if settings_text is not None and previous_settings != settings_text:
            write_private(run_config, settings_text)
            outcome.run_config_written = True
        try:
            if outcome.after != before:
                outcome.backup = _commit(settings, location, before, outcome.after)
                outcome.wrote = True
        except BaseException:
            if settings_text is not None and previous_settings != settings_text:
                if previous_settings is None:
                    run_config.unlink(missing_ok=True)
                else:
                    write_private(run_config, previous_settings)
            raise
        owned = write_run_config if run_config_owned is None else run_config_owned
        record_install(settings, registry, inputs, location, rendered, owned, now().isoformat())
    outcome.runlog_error = _create_runlog(settings)
    if line_user is not None:
        hand_over(line_user, *made, *([run_config] if write_run_config else []), *_sqlite_files(settings.db_url))
    return outcome


def _refuse_another_homes_block(settings: Settings, location: Location, inputs: RenderInputs,
                                old_block: str | None) -> None:
    """Refuse to replace a block whose lines belong to another project: they read the run settings of
    another home (a file that still exists), as two registries both called `tasks` would share one id."""
    home = settings.home.resolve()
    for config in sorted(settings_files(old_block)):
        path = Path(config)
        if config == inputs.run_config or not path.exists() or path.resolve().is_relative_to(home):
            continue
        raise ConfigError(
            f"block {inputs.block_id} in {location.describe()} belongs to another project: its lines read {config};"
            f" give this one a block of its own (--id NAME), or uninstall that one from its home first")


def _sqlite_files(url: str) -> list[Path]:
    """The files of a SQLite run log (the lines' user writes them), none for another database."""
    if not url.startswith("sqlite:///"):
        return []
    path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _create_runlog(settings: Settings) -> str | None:
    """Create the run log the cron runs will write (read commands never create one); the error, if any."""
    try:
        runlog.open(settings.db_url, create=True, settle=settings).close()
    except CronkitError as exc:
        return str(exc)
    return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def uninstall(settings: Settings, block_id: str, target: str, *, user: str | None = None,
              dry_run: bool = False) -> Outcome:
    """Remove our block and nothing else; a cron.d file left empty is deleted, as is an empty crontab."""
    location = location_for(settings, target, block_id, user=user)
    with _lock_unless(dry_run, settings, location):
        before = read_crontab(location, exact=True)
        old_block = extract(before or "", block_id)
        outcome = Outcome(location, block_id, before, before, dry_run=dry_run)
        if old_block is None:
            return outcome
        outcome.changes = _changes(lines_by_owner(old_block), {})
        remaining = splice(before or "", block_id, None)
        outcome.after = remaining if remaining else None
        if dry_run:
            return outcome
        outcome.backup = _commit(settings, location, before, outcome.after)
        outcome.wrote = True
        forget_install(settings, block_id, target)
    return outcome


def restore(settings: Settings, location: Location, text: str | None, *,
            expect: Callable[[str | None], None], dry_run: bool = False) -> Outcome:
    """Put `text` back as the whole crontab (`adopt --undo`), under install's locks, backup and check.

    `expect` sees the crontab read under the lock and raises when it must not be replaced.
    """
    with _lock_unless(dry_run, settings, location):
        before = read_crontab(location, exact=True)
        expect(before)
        outcome = Outcome(location, "", before, text, dry_run=dry_run)
        if dry_run or before == text:
            return outcome
        outcome.backup = _commit(settings, location, before, text)
        outcome.wrote = True
    return outcome
