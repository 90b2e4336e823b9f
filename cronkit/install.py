"""Write cronkit's block into a crontab or a cron.d file, and take it out again, safely.

Read-modify-write under a lock: read the crontab, splice the block into the text (a pure
function that keeps every other byte), back up the previous text under `<home>/backups/`,
write (the `crontab` command, or a rename inside the cron.d directory), re-read to verify,
and restore the backup if anything failed. A crontab whose markers for our block do not
pair up is left untouched with an error.
"""

from __future__ import annotations

import difflib
import errno
import fcntl
import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import EXIT_SKIPPED, ConfigError, CronkitError, ServiceUnavailable
from .host import invoking_user
from .registry import Registry
from .render import (
    Rendered,
    RenderInputs,
    begin_line,
    check_target,
    cron_d_name,
    end_line,
    render,
    run_settings_toml,
)

CRONTAB_COMMAND_ENV = "CRONKIT_CRONTAB_COMMAND"
CRON_D_ENV = "CRONKIT_CRON_D"
DEFAULT_CRONTAB_COMMAND = "crontab"
DEFAULT_CRON_D = "/etc/cron.d"
STATE_FILE = "install-state.json"
LOCK_FILE = "install.lock"
BACKUP_DIR = "backups"
BACKUPS_KEPT = 20
LOCK_WAIT_SECONDS = 30.0
STATE_VERSION = 1
DEFAULT_TARGET = "user"


class CrontabParseError(ConfigError):
    """The crontab holds cronkit markers that do not pair up; it is left untouched."""


class InstallBusy(CronkitError):
    """Another `cronkit install` or `uninstall` holds the install lock."""

    exit_code = EXIT_SKIPPED


class CrontabUnavailable(ServiceUnavailable):
    """The crontab command is missing or failed, or the cron.d file cannot be read or written."""


# --- the pure part: finding and splicing the block -------------------------------------------


def find_block(text: str, block_id: str) -> tuple[int, int] | None:
    """Return the (start, end) character span of our block, END line and its newline included.

    Only whole lines equal to `# BEGIN cronkit:<id>` / `# END cronkit:<id>` count; other
    ids and other tools' markers are foreign text. Raise CrontabParseError when our markers
    do not form exactly one BEGIN ... END pair.
    """
    begin, end = begin_line(block_id), end_line(block_id)
    begins: list[int] = []
    ends: list[tuple[int, int]] = []
    pos = 0
    while pos < len(text):
        # Lines end at "\n" only, as cron reads them (str.splitlines would also split at \r, \f, ...).
        stop = text.find("\n", pos)
        stop = len(text) if stop < 0 else stop + 1
        bare = text[pos:stop].removesuffix("\n")
        if bare == begin:
            begins.append(pos)
        elif bare == end:
            ends.append((pos, stop))
        pos = stop
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1:
        raise CrontabParseError(
            f"crontab holds {len(begins)} {begin!r} and {len(ends)} {end!r} lines; expected one pair. "
            "Fix the crontab by hand; cronkit left it untouched"
        )
    if ends[0][0] < begins[0]:
        raise CrontabParseError(f"crontab has {end!r} before {begin!r}; cronkit left it untouched")
    return begins[0], ends[0][1]


def extract(text: str, block_id: str) -> str | None:
    """Return our block's text (markers included) or None when the crontab has none."""
    span = find_block(text, block_id)
    return None if span is None else text[span[0]:span[1]]


def splice(text: str, block_id: str, block: str | None) -> str:
    """Return `text` with our block replaced by `block` (added when absent, removed when None).

    Every byte outside the block is kept. A new block goes at the end, so environment lines
    such as MAILTO above it apply to its lines; when the last line has no newline the block
    goes just before that line, which stays last and unterminated, so removal restores the
    text exactly.
    """
    if block is not None and not block.endswith("\n"):
        raise ValueError("a block ends with a newline")
    span = find_block(text, block_id)
    if span is not None:
        return text[:span[0]] + (block or "") + text[span[1]:]
    if block is None:
        return text
    if text == "" or text.endswith("\n"):
        return text + block
    cut = text.rfind("\n") + 1
    return text[:cut] + block + text[cut:]


def unified_diff(before: str, after: str, old_label: str, new_label: str) -> str:
    """Return a unified diff of two crontab texts (empty when equal)."""
    lines = list(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), old_label, new_label
    ))
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def tasks_in_block(block: str | None) -> dict[str, list[str]]:
    """Return the lines of each task in a block, keyed by the task name after `run`."""
    result: dict[str, list[str]] = {}
    for line in (block or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            words = shlex.split(line.replace("\\%", "%"))
        except ValueError:
            continue
        if "run" in words and words.index("run") + 1 < len(words):
            result.setdefault(words[words.index("run") + 1], []).append(line)
    return result


# --- where the crontab lives -----------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """A crontab: a user's (through the crontab command) or a file in the cron.d directory."""

    target: str
    user: str | None = None  # user target: `crontab -u USER`; None: the invoking user
    path: Path | None = None  # cron.d target: the file

    def describe(self) -> str:
        if self.target == "cron.d":
            return str(self.path)
        return f"the crontab of {self.user}" if self.user else "your crontab"

    @property
    def slug(self) -> str:
        if self.target == "cron.d":
            assert self.path is not None
            return f"cron.d-{self.path.name}"
        return f"user-{self.user or invoking_user()}"


def cron_d_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(CRON_D_ENV) or DEFAULT_CRON_D)


def location_for(target: str, block_id: str, user: str | None = None,
                 environ: Mapping[str, str] | None = None) -> Location:
    """Return where a block of `block_id` lives for `target` (cron.d: a file named after the id)."""
    check_target(target)
    if target == "cron.d":
        return Location("cron.d", user=None, path=cron_d_dir(environ) / cron_d_name(block_id))
    return Location("user", user=user)


def crontab_command(environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    words = shlex.split(environ.get(CRONTAB_COMMAND_ENV) or DEFAULT_CRONTAB_COMMAND)
    if not words:
        raise ConfigError(f"{CRONTAB_COMMAND_ENV}: empty command")
    return words


def _crontab(location: Location, args: list[str], environ: Mapping[str, str] | None,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = crontab_command(environ)
    if location.user:
        command += ["-u", location.user]
    try:
        return subprocess.run(command + args, input=stdin, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise CrontabUnavailable(f"crontab command not found: {command[0]} (install cron)") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CrontabUnavailable(f"crontab command failed: {exc}") from None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def read_crontab(location: Location, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the crontab's text, None when there is none (no crontab, no file)."""
    if location.target == "cron.d":
        assert location.path is not None
        try:
            return location.path.read_bytes().decode("utf-8", errors="surrogateescape")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CrontabUnavailable(f"cannot read {location.path}: {exc.strerror}") from None
    done = _crontab(location, ["-l"], environ)
    if done.returncode == 0:
        return done.stdout
    if "no crontab for" in done.stderr:
        return None
    raise CrontabUnavailable(f"crontab -l failed (exit {done.returncode}): {_first_line(done.stderr)}")


def write_crontab(location: Location, text: str | None, environ: Mapping[str, str] | None = None) -> None:
    """Replace the crontab with `text`; None removes it (the cron.d file, or `crontab -r`)."""
    if location.target == "cron.d":
        assert location.path is not None
        if text is None:
            try:
                location.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise CrontabUnavailable(f"cannot remove {location.path}: {exc.strerror}") from None
            _fsync_dir(location.path.parent)
            return
        _write_cron_d(location.path, text)
        return
    if text is None:
        done = _crontab(location, ["-r"], environ)
        if done.returncode != 0 and "no crontab for" not in done.stderr:
            raise CrontabUnavailable(f"crontab -r failed (exit {done.returncode}): {_first_line(done.stderr)}")
        return
    done = _crontab(location, ["-"], environ, stdin=text)
    if done.returncode != 0:
        raise CrontabUnavailable(f"crontab - failed (exit {done.returncode}): {_first_line(done.stderr)}")


def _write_cron_d(path: Path, text: str) -> None:
    """Write a cron.d file atomically: a dot-named temp file in the same directory, then rename.

    Debian's cron ignores names holding a dot, so it never reads the half-written temp file.
    """
    tmp = path.parent / f".cronkit-tmp.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            os.fchmod(fd, 0o644)  # not group- or world-writable, or cron refuses the file
            if os.geteuid() == 0:
                os.fchown(fd, 0, 0)
            os.write(fd, text.encode("utf-8", errors="surrogateescape"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise CrontabUnavailable(f"cannot write {path}: {exc.strerror}") from None
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
    # cron notices changes in the cron.d directory by its mtime; a rename within one second
    # of the previous change would be missed on filesystems with coarse timestamps.
    try:
        os.utime(directory)
    except OSError:
        pass


# --- state under CRONKIT_HOME ----------------------------------------------------------------


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _write_private(path: Path, text: str) -> None:
    """Write a 0600 file atomically (temp file and rename in the same directory)."""
    _private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextmanager
def install_lock(settings: Settings, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold `<home>/install.lock` (flock) across a read-modify-write of a crontab."""
    path = _private_dir(settings.home) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    raise InstallBusy(f"another cronkit install holds {path}; try again later") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def backup(settings: Settings, location: Location, text: str | None) -> Path | None:
    """Save the previous crontab under `<home>/backups/` (0600, timestamped); keep the newest 20."""
    if text is None:
        return None
    from .clock import now

    directory = _private_dir(settings.home / BACKUP_DIR)
    stamp = now().strftime("%Y%m%dT%H%M%S.%fZ")
    path = directory / f"{location.slug}-{stamp}.crontab"
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"{location.slug}-{stamp}-{counter}.crontab"
    _write_private(path, text)
    old = sorted(directory.glob(f"{location.slug}-*.crontab"), key=lambda p: p.stat().st_mtime_ns)
    for stale in old[:-BACKUPS_KEPT]:
        stale.unlink(missing_ok=True)
    return path


def read_install_state(settings: Settings) -> dict[str, Any] | None:
    """Return what the last `cronkit install` recorded under this home, None if nothing.

    Shape (JSON): {"version": 1, "block_id": str, "target": "user" | "cron.d",
    "user": str | None (crontab -u user, or the user field of cron.d lines),
    "path": str | None (the cron.d file), "host_zone": str,
    "executable": str, "run_config": str, "run_config_written": bool, "environment": str,
    "registry": str, "installed_at": ISO UTC of the last write,
    "tasks": {task: {"schedule": str, "timezone": str, "lines": [str], "installed_at": ISO UTC
    since when this exact line is installed}}, "lines": [str] (every task line, block order),
    "block": str (the block text written)}.
    """
    path = settings.home / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else None


def state_location(state: Mapping[str, Any]) -> Location:
    if state["target"] == "cron.d":
        return Location("cron.d", path=Path(state["path"]))
    return Location("user", user=state.get("user"))


def installed_block(settings: Settings, target: str | None = None, block_id: str | None = None,
                    user: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the block currently in the crontab (markers included), None when it is absent.

    Target, block id and user default to what `read_install_state` recorded (target `user`
    when nothing was recorded); with neither a block id nor a recorded install, None. Raises
    CrontabUnavailable (exit 69) when the crontab cannot be read and CrontabParseError
    (exit 78) when its markers do not pair up.
    """
    state = read_install_state(settings) or {}
    block_id = block_id or state.get("block_id")
    if block_id is None:
        return None
    target = target or state.get("target") or "user"
    if target == "user" and user is None and state.get("target") == "user":
        user = state.get("user")
    location = location_for(target, block_id, user=user if target == "user" else None, environ=environ)
    if target == "cron.d" and state.get("target") == "cron.d" and state.get("block_id") == block_id:
        location = Location("cron.d", path=Path(state["path"]))
    text = read_crontab(location, environ)
    return None if text is None else extract(text, block_id)


def default_inputs(settings: Settings, registry: Registry, target: str = DEFAULT_TARGET,
                   state: Mapping[str, Any] | None = None) -> RenderInputs:
    """Return the render inputs of a reinstall: the recorded ones when `state` is for `target`."""
    from .render import default_run_config, detect_host_zone, find_executable

    if state and state.get("target") == target:
        return RenderInputs(
            block_id=state["block_id"], host_zone=state["host_zone"], executable=state["executable"],
            run_config=state["run_config"], target=target,
            user=state.get("user") if target == "cron.d" else None,
        )
    block_id = registry.id or settings.registry
    return RenderInputs(
        block_id=block_id, host_zone=detect_host_zone(), executable=find_executable(),
        run_config=str(default_run_config(settings, block_id)), target=target,
        user=invoking_user() if target == "cron.d" else None,
    )


def expected_block(settings: Settings, registry: Registry, state: Mapping[str, Any]) -> str:
    """Return the block a reinstall with the recorded inputs would write now (for drift checks)."""
    return render(registry, settings, default_inputs(settings, registry, state["target"], state)).text


def _inner_lines(block: str) -> list[str]:
    return block.splitlines()[1:-1]


def expected_lines(settings: Settings, registry: Registry, target: str = DEFAULT_TARGET) -> list[str]:
    """Return the lines (between the markers, comments included) a reinstall would write now.

    Uses the inputs of the recorded install when it was for `target`, else the defaults.
    """
    inputs = default_inputs(settings, registry, target, read_install_state(settings))
    return _inner_lines(render(registry, settings, inputs).text)


def installed_lines(settings: Settings, registry: Registry, target: str = DEFAULT_TARGET,
                    state: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None) -> list[str] | None:
    """Return the lines between our markers in the crontab now, None when there is no block.

    The block id and location come from `state` when it is for `target`, else the defaults.
    Raises CrontabUnavailable (69) or CrontabParseError (78) like `installed_block`.
    """
    if state and state.get("target") == target:
        block_id, location = state["block_id"], state_location(state)
    else:
        block_id = registry.id or settings.registry
        location = location_for(target, block_id, environ=environ)
    text = read_crontab(location, environ)
    block = None if text is None else extract(text, block_id)
    return None if block is None else _inner_lines(block)


# --- install and uninstall -------------------------------------------------------------------


@dataclass(frozen=True)
class TaskChange:
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

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
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


def _commit(settings: Settings, location: Location, before: str | None, after: str | None,
            environ: Mapping[str, str] | None) -> Path | None:
    """Back up, write, re-read and verify; put the previous crontab back if anything fails."""
    saved = backup(settings, location, before)
    try:
        write_crontab(location, after, environ)
        found = read_crontab(location, environ)
        if found != after:
            raise CrontabUnavailable(
                f"verification failed: {location.describe()} does not hold what cronkit wrote"
            )
    except BaseException as exc:
        try:
            # Only put the previous text back if the crontab changed: a refused write left it as it was.
            if read_crontab(location, environ) != before:
                write_crontab(location, before, environ)
        except CronkitError as again:
            kept = f"; the previous crontab is in {saved}" if saved else ""
            raise CrontabUnavailable(f"{exc}; restoring it failed too: {again}{kept}") from None
        raise
    return saved


def install(settings: Settings, registry: Registry, inputs: RenderInputs, *, user: str | None = None,
            dry_run: bool = False, write_run_config: bool = True,
            environ: Mapping[str, str] | None = None) -> Outcome:
    """Render the registry and write its block into the target crontab (see the module docstring).

    `user` is the `crontab -u` user of the user target. In an environment that schedules
    nothing, an existing block is emptied and no new one is written.
    """
    from .clock import now

    rendered = render(registry, settings, inputs)
    location = location_for(inputs.target, inputs.block_id, user=user, environ=environ)
    run_config = Path(inputs.run_config)
    # A dry run only reads: it takes no lock, so it creates nothing under the home.
    with nullcontext() if dry_run else install_lock(settings):
        before = read_crontab(location, environ)
        old_block = extract(before or "", inputs.block_id)
        outcome = Outcome(location, inputs.block_id, before, before, dry_run=dry_run,
                          run_config=run_config if write_run_config else None)
        outcome.changes = _changes(tasks_in_block(old_block), rendered.lines)
        if not rendered.tasks and old_block is None:
            outcome.nothing_scheduled = True
            return outcome
        outcome.nothing_scheduled = not rendered.tasks
        outcome.after = splice(before or "", inputs.block_id, rendered.text)
        settings_text = run_settings_toml(settings, registry, inputs.block_id) if write_run_config else None
        if dry_run:
            return outcome
        previous_settings = _read_text(run_config) if settings_text is not None else None
        if settings_text is not None and previous_settings != settings_text:
            _write_private(run_config, settings_text)
            outcome.run_config_written = True
        try:
            if outcome.after != before:
                outcome.backup = _commit(settings, location, before, outcome.after, environ)
                outcome.wrote = True
        except BaseException:
            if settings_text is not None and previous_settings != settings_text:
                if previous_settings is None:
                    run_config.unlink(missing_ok=True)
                else:
                    _write_private(run_config, previous_settings)
            raise
        _record_state(settings, registry, inputs, location, rendered, write_run_config, now().isoformat())
    return outcome


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _record_state(settings: Settings, registry: Registry, inputs: RenderInputs, location: Location,
                  rendered: Rendered, run_config_written: bool, when: str) -> None:
    previous = read_install_state(settings) or {}
    same = (previous.get("block_id") == inputs.block_id and previous.get("target") == inputs.target
            and previous.get("path") == (str(location.path) if location.path else None))
    old_tasks = previous.get("tasks", {}) if same else {}
    tasks = {}
    for task in rendered.tasks:
        old = old_tasks.get(task.name, {})
        since = old.get("installed_at") if old.get("lines") == list(task.lines) else None
        tasks[task.name] = {"schedule": task.schedule, "timezone": task.timezone,
                            "lines": list(task.lines), "installed_at": since or when}
    state = {
        "version": STATE_VERSION,
        "block_id": inputs.block_id,
        "target": inputs.target,
        "user": location.user if inputs.target == "user" else inputs.user,
        "path": str(location.path) if location.path else None,
        "host_zone": inputs.host_zone,
        "executable": inputs.executable,
        "run_config": inputs.run_config,
        "run_config_written": run_config_written,
        "environment": settings.environment,
        "registry": registry.source or settings.registry,
        "installed_at": when if (not same or previous.get("block") != rendered.text)
        else previous.get("installed_at", when),
        "tasks": tasks,
        "lines": [line for task in rendered.tasks for line in task.lines],
        "block": rendered.text,
    }
    _write_private(settings.home / STATE_FILE, json.dumps(state, indent=2, sort_keys=True) + "\n")


def uninstall(settings: Settings, block_id: str, target: str, *, user: str | None = None,
              dry_run: bool = False, environ: Mapping[str, str] | None = None) -> Outcome:
    """Remove our block and nothing else; a cron.d file left empty is deleted, as is an empty crontab."""
    location = location_for(target, block_id, user=user, environ=environ)
    with nullcontext() if dry_run else install_lock(settings):
        before = read_crontab(location, environ)
        old_block = extract(before or "", block_id)
        outcome = Outcome(location, block_id, before, before, dry_run=dry_run)
        if old_block is None:
            return outcome
        outcome.changes = _changes(tasks_in_block(old_block), {})
        remaining = splice(before or "", block_id, None)
        outcome.after = remaining if remaining else None
        if dry_run:
            return outcome
        outcome.backup = _commit(settings, location, before, outcome.after, environ)
        outcome.wrote = True
        state = read_install_state(settings)
        if state and state.get("block_id") == block_id and state.get("target") == target:
            (settings.home / STATE_FILE).unlink(missing_ok=True)
            if state.get("run_config_written"):
                Path(state["run_config"]).unlink(missing_ok=True)
    return outcome
