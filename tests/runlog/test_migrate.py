"""Migrations an operator can undo: a copy of a SQLite run log before its schema changes, a
PostgreSQL run log migrated only on `cronkit migrate`, errors that name releases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from cronkit import __version__
from cronkit.errors import ConfigError
from cronkit.runlog import RELEASES, SCHEMA_VERSION, release_of
from cronkit.runlog.backup import KEEP, copies_of
from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.schema import MIGRATIONS, set_meta, upgrade
from tests.fixturetypes import RunCli

from ..conftest import write_registry

OLD = 7  # the schema of release 0.2.0, the release before this one's migrations


def build_old(url: str, version: int = OLD) -> None:
    """Build a run log as release `release_of(version)` left it: its migrations only, one run in it."""
    engine = create_engine_for(url)
    with engine.begin() as conn:
        for migration in MIGRATIONS[:version]:
            migration(conn)
        set_meta(conn, "schema_version", str(version))
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA user_version = {version}")
        conn.execute(text("INSERT INTO runs (task, status, trigger, started_at, host, pid)"
                          " VALUES ('t', 'succeeded', 'cron', 1, 'h', 1)"))
    engine.dispose()


def schema_of(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


@pytest.fixture
def env(tmp_path: Path, home: Path) -> dict[str, str]:
    registry = write_registry(tmp_path / "mig_registry.py", "registry.add('* * * * *', 'os:getcwd', name='t', environments='*')\n")
    return {"CRONKIT_TASKS": str(registry)}


def test_releases_name_every_schema() -> None:
    assert RELEASES[-1] == (__version__, SCHEMA_VERSION)
    assert release_of(1) == "0.1.0" and release_of(7) == "0.2.0"
    assert release_of(SCHEMA_VERSION + 1) is None


def test_the_first_command_after_an_upgrade_keeps_a_copy(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    database = home / "cronkit.db"
    build_old(f"sqlite:///{database}")
    proc = run_cli("history", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    [copy] = copies_of(database)
    assert copy.parent == home / "backups"
    assert copy.name.startswith(f"cronkit-schema{OLD}-cronkit0.2.0-")
    assert proc.stderr == (f"cronkit: run log schema {OLD} (cronkit 0.2.0) migrated to {SCHEMA_VERSION}"
                           f" (cronkit {__version__}); the copy from before is {copy}\n")
    assert schema_of(copy) == OLD and schema_of(database) == SCHEMA_VERSION
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT task, status FROM runs").fetchall() == [("t", "succeeded")]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    again = run_cli("history", "--json", env=env)
    assert again.stderr == "" and copies_of(database) == [copy]  # migrated once, copied once


def test_only_the_newest_copies_are_kept(tmp_path: Path) -> None:
    from cronkit.runlog.backup import copy_before_migrating

    database = tmp_path / "runs.db"
    build_old(f"sqlite:///{database}")
    made = [copy_before_migrating(database, OLD, "0.2.0") for _ in range(KEEP + 2)]
    assert copies_of(database) == made[-KEEP:]
    assert not list((tmp_path / "backups").glob("*.partial"))


def test_a_fresh_run_log_is_not_copied(tmp_path: Path) -> None:
    database = tmp_path / "runs.db"
    engine = create_engine_for(f"sqlite:///{database}")
    assert upgrade(engine) == 0
    engine.dispose()
    assert copies_of(database) == []


def test_postgresql_waits_for_cronkit_migrate(pg_url: str, run_cli: RunCli, env: dict[str, str]) -> None:
    build_old(pg_url)
    engine = create_engine_for(pg_url)
    with pytest.raises(ConfigError, match=r"back up the database \(pg_dump\), then run `cronkit migrate`"):
        upgrade(engine)
    engine.dispose()
    env = {**env, "CRONKIT_DB_URL": pg_url}
    refused = run_cli("history", env=env)
    assert refused.returncode == 78
    assert refused.stderr == (f"cronkit: error: run log schema version {OLD} (cronkit 0.2.0) needs migrating to"
                              f" {SCHEMA_VERSION} (cronkit {__version__}): back up the database (pg_dump),"
                              " then run `cronkit migrate`\n")
    done = run_cli("migrate", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(f"migrated from schema {OLD} (cronkit 0.2.0) to {SCHEMA_VERSION}"
                                f" (cronkit {__version__})\n")
    assert run_cli("history", "--json", env=env).returncode == 0
    again = run_cli("migrate", env=env)
    assert again.stdout.endswith(f"is at schema {SCHEMA_VERSION} (cronkit {__version__}): nothing to migrate\n")


def test_migrate_creates_no_run_log(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    proc = run_cli("migrate", env=env)
    assert proc.returncode == 78
    assert proc.stderr.startswith(f"cronkit: error: no run log at {home / 'cronkit.db'}")
    assert not (home / "cronkit.db").exists()


def test_a_cron_start_refused_for_a_newer_schema_leaves_a_start_failure(run_cli: RunCli, env: dict[str, str], home: Path) -> None:
    database = home / "cronkit.db"
    build_old(f"sqlite:///{database}", SCHEMA_VERSION)
    with sqlite3.connect(database) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    proc = run_cli("run", "t", "--trigger", "cron", env=env)
    assert proc.returncode == 69
    record = (home / "start-failures" / "default.json").read_text()
    assert f"run log schema version {SCHEMA_VERSION + 1} is newer than this cronkit {__version__}" in record
