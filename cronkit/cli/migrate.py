"""`cronkit migrate`: bring the run log to this release's schema, on purpose.

A SQLite run log migrates by itself on the first command after an upgrade, after a copy is kept
(runlog.backup); a PostgreSQL one waits for this command, so that its operator backs it up first.
"""

from __future__ import annotations

import typer

from cronkit.cli.common import JSON_OPTION, cli_errors, get_settings, print_json
from cronkit.cli.progress import progress
from cronkit.runlog import SCHEMA_VERSION, release_of
from cronkit.runlog.engines import create_engine_for, describe_url, require_existing
from cronkit.runlog.schema import upgrade
from cronkit.version import __version__


def migrate(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """Migrate the run log to this cronkit's schema (a SQLite run log is copied first).

    Back up a PostgreSQL run log first (pg_dump); cronkit refuses to migrate one by itself.

    Example: pg_dump cronkit > before-upgrade.sql && cronkit migrate
    """
    settings = get_settings(ctx)
    require_existing(settings.db_url)
    engine = create_engine_for(settings.db_url)
    try:
        with progress("Migrating the run log", as_json=json):
            found = upgrade(engine, migrate=True)
    finally:
        engine.dispose()
    where = describe_url(settings.db_url)
    if json:
        print_json({"run_log": where, "from_schema": found, "to_schema": SCHEMA_VERSION,
                    "from_release": release_of(found), "release": __version__,
                    "migrated": found != SCHEMA_VERSION})
    elif found == SCHEMA_VERSION:
        print(f"run log {where} is at schema {SCHEMA_VERSION} (cronkit {__version__}): nothing to migrate")
    elif found == 0:
        print(f"run log {where} created at schema {SCHEMA_VERSION} (cronkit {__version__})")
    else:
        print(f"run log {where} migrated from schema {found} (cronkit {release_of(found)})"
              f" to {SCHEMA_VERSION} (cronkit {__version__})")


def register(app: typer.Typer) -> None:
    app.command("migrate")(cli_errors(migrate))
