"""`cronkit adopt`: take a crontab's job lines in as command tasks, and `--undo` it to the byte.

Adoption writes the registry file (`<home>/adopted.py` by default), then runs `install` itself
(the same lock, backup, diff and verification) with one more step under its lock: the adopted
lines leave the crontab's text before the block goes in. The crontab as it was before the first
adoption is kept under `<home>/adopt/`, so that `--undo` can put back exactly those bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cronkit.adopt.module import MARK, module_text, registrations
from cronkit.adopt.plan import Plan, make_plan
from cronkit.clock import now
from cronkit.config.settings import Settings
from cronkit.cronfile.block import find_block
from cronkit.cronfile.hostzone import detect_host_zone
from cronkit.cronfile.install import Outcome, install, restore
from cronkit.cronfile.io import Location, location_for, read_crontab
from cronkit.cronfile.state import default_inputs, forget_install, read_install_state, write_private
from cronkit.errors import ConfigError, UsageError
from cronkit.host import invoking_user
from cronkit.plain import replace
from cronkit.registry.sets import load_registries

ADOPT_DIR = "adopt"


class CrontabChanged(ConfigError):
    """The crontab changed since cronkit read it (during an adoption, or since one); nothing was written."""

    what_to_do = "Run the command again: it reads the crontab afresh (`--dry-run` first to see the plan)."


@dataclass
class Adoption:
    """What `adopt` did (or, dry, would do): the plan, the registry file, and install's outcome."""

    location: Location
    plan: Plan
    into: Path
    module: str = ""  # the registry file's whole text after adoption
    install: Outcome | None = None
    dry_run: bool = False


def crontab_location(settings: Settings, target: str, path: Path | None, user: str | None) -> Location:
    """Return the crontab to adopt: the user's (crontab -u USER) or a cron.d file (--file PATH)."""
    if target == "cron.d":
        if path is None:
            raise UsageError("--target cron.d needs --file PATH: the cron.d file to adopt")
        return Location("cron.d", path=path.expanduser().absolute())
    if target != "user":
        raise UsageError(f"--target: must be user or cron.d, not {target!r}")
    if path is not None:
        raise UsageError("--file: only with --target cron.d")
    return location_for(settings, "user", "adopt", user=user)


def adopt(settings: Settings, location: Location, *, into: Path | None = None, user: str | None = None,
          dry_run: bool = False) -> Adoption:
    """Adopt the crontab at `location` (see the module docstring); `user`: whose cron.d lines to take."""
    text = read_crontab(location, exact=True)
    if text is None:
        raise ConfigError(f"{location.describe()} does not exist: nothing to adopt")
    into = (into or settings.adopted or settings.home / "adopted.py").expanduser().absolute()
    previous = _previous_module(into)
    with_into = replace(settings, adopted=into)
    configured = settings.sources.get("registry", "default") != "default"
    taken = set(load_registries(with_into).names()) if configured or previous is not None else set()
    run_as = (user or invoking_user()) if location.target == "cron.d" else None
    plan = make_plan(text, system=location.target == "cron.d", run_as=run_as, taken=taken)
    adoption = Adoption(location, plan, into, dry_run=dry_run)
    if not plan.adopted:
        return adoption
    state = read_install_state(settings) if location.target == "user" else None
    zone = (state or {}).get("host_zone") or detect_host_zone()
    where = location.describe()
    adoption.module = (previous + registrations(plan.adopted, where, zone) if previous is not None
                       else module_text(plan.adopted, where, zone, now().strftime("%Y-%m-%d %H:%M UTC")))

    def take_out(found: str | None) -> str:
        if found != text:
            raise CrontabChanged(f"{where} changed while cronkit was adopting it; nothing was written, "
                                 "run `cronkit adopt` again")
        return plan.remaining

    with tempfile.TemporaryDirectory(prefix="cronkit-adopt-") as scratch:
        module_path = Path(scratch) / into.name if dry_run else into
        write_private(module_path, adoption.module)
        try:
            merged = replace(settings, adopted=module_path)
            registry = load_registries(merged)
            inputs = default_inputs(merged, registry, location.target, state, user=run_as)
            adoption.install = install(merged, registry, inputs, user=location.user, dry_run=dry_run,
                                       location=location, edit=take_out)
        except BaseException:
            if not dry_run:
                _put_back(into, previous)
            raise
    if not dry_run and adoption.install.wrote:
        _record(settings, location, text, adoption)
    return adoption


def _previous_module(into: Path) -> str | None:
    """Return the registry file adoption appends to (one it wrote), None when there is none yet."""
    try:
        previous = into.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"--into: cannot read {into}: {exc.strerror}") from None
    if MARK not in previous[:400]:
        raise ConfigError(f"--into: {into} exists and was not written by cronkit adopt; name a new file")
    return previous


def _put_back(into: Path, previous: str | None) -> None:
    """Restore the registry file as it was before a failed adoption."""
    if previous is None:
        into.unlink(missing_ok=True)
    else:
        write_private(into, previous)


def _record_path(settings: Settings, location: Location) -> Path:
    return settings.home / ADOPT_DIR / f"{location.slug}.json"


def _record(settings: Settings, location: Location, before: str, adoption: Adoption) -> None:
    """Keep what undo needs: the crontab before the first adoption, the text adoption left, the file."""
    assert adoption.install is not None
    path = _record_path(settings, location)
    record = read_record(settings, location)
    if record is None or record.get("after") != before:  # a fresh adoption, not a second one on top
        record = {"before": before, "names": []}
    record.update({"after": adoption.install.after, "into": str(adoption.into),
                   "block_id": adoption.install.block_id, "target": location.target,
                   "names": [*record["names"], *(job.name for job in adoption.plan.adopted)]})
    # JSON escapes lone surrogates (a crontab's non-UTF-8 bytes), so the text comes back exactly.
    write_private(path, json.dumps(record, indent=1) + "\n")


def read_record(settings: Settings, location: Location) -> dict[str, Any] | None:
    """Return the adoption recorded for a crontab, None when there is none."""
    try:
        record = json.loads(_record_path(settings, location).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the adoption record {_record_path(settings, location)}: {exc}") from None
    return record if isinstance(record, dict) else None


def undo(settings: Settings, location: Location, *, dry_run: bool = False, force: bool = False) -> Outcome:
    """Put the crontab back exactly as it was before adoption; set the registry file aside.

    Refused (CrontabChanged) when the crontab changed since the adoption, unless `force`.
    """
    record = read_record(settings, location)
    if record is None:
        raise ConfigError(f"no adoption of {location.describe()} is recorded under {settings.home}")

    def unchanged(found: str | None) -> None:
        # A dry run shows what --undo would put back even after a change: the diff is how to judge it.
        if found != record["after"] and not force and not dry_run:
            raise CrontabChanged(f"{location.describe()} changed since it was adopted; --undo would lose "
                                 "those changes (see `cronkit adopt --undo --dry-run`; --force to undo anyway)")

    outcome = restore(settings, location, record["before"], expect=unchanged, dry_run=dry_run)
    if dry_run:
        return outcome
    into = Path(record["into"])
    if into.exists():  # no longer loaded with the registries, so `install` does not bring the jobs back
        os.replace(into, into.with_name(into.name + ".undone"))
    if find_block(record["before"], record["block_id"]) is None:  # the block came with the adoption
        forget_install(settings, record["block_id"], record["target"])
    _record_path(settings, location).unlink(missing_ok=True)
    return outcome
