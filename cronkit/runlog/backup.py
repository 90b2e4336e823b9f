"""A consistent copy of a SQLite run log, taken before a migration changes its schema.

A migration is one-way: once the first command of a new release has migrated the run log, the
old release refuses it. The copy is the way back (CHANGELOG.md, "Upgrading"): restore it and
reinstall the old release. It is taken with SQLite's online backup API, which copies a
consistent snapshot even while cron runs write, into `<directory of the run log>/backups/`
(`<home>/backups/` for the default run log), named with the schema and release it holds, and
only the newest KEEP copies of one run log are kept.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from cronkit.runlog.engines import create_private_file

KEEP = 3
DIRECTORY = "backups"


def copies_of(database: Path) -> list[Path]:
    """Return the pre-migration copies of `database`, oldest first."""
    folder = database.parent / DIRECTORY
    return sorted(folder.glob(f"{database.stem}-schema*.db"), key=lambda p: p.name.rsplit("-", 1)[-1])


def copy_before_migrating(database: Path, schema: int, release: str | None) -> Path:
    """Copy `database` (at `schema`, written by `release`) beside it; prune older copies; return the copy."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    made_by = f"-cronkit{release}" if release else ""
    target = database.parent / DIRECTORY / f"{database.stem}-schema{schema}{made_by}-{stamp}.db"
    partial = target.with_name(target.name + ".partial")
    create_private_file(partial)
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    os.replace(partial, target)
    for old in copies_of(database)[:-KEEP]:
        old.unlink(missing_ok=True)
    return target
