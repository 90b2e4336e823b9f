"""The run log: every run, attempt, claimed slot and dead letter, in SQLite or PostgreSQL.

- `schema`: the tables and the migrations that build them (SCHEMA_VERSION is asserted there);
- `engines`: SQLAlchemy engines with cronkit's settings, private database files, the schema lock;
- `writer`: RunStore, the run path's writes (no SQLAlchemy for a SQLite run log);
- `reader`: RunLog, history, pruning, and the queries `status`, `health` and `stats` run;
- `deadletters`: listing, showing, purging and retrying dead letters;
- `times`: epoch milliseconds, the run log's unit of time.

Times are stored as integer milliseconds since the Unix epoch (UTC): exact, dialect-neutral and
cheap to index, compare and aggregate.
"""

from __future__ import annotations

# The schema version this cronkit writes. It lives here, not in `schema`, because the run path
# compares it with a SQLite file's user_version without importing SQLAlchemy; `schema` asserts
# that it equals the number of its migrations. Bump it together with schema.MIGRATIONS.
SCHEMA_VERSION = 11

# The last schema version each release wrote, oldest first (CHANGELOG.md): errors and the
# pre-migration copies name a release, which an operator can reinstall, not only a number.
RELEASES: tuple[tuple[str, int], ...] = (("0.1.0", 2), ("0.2.0", 7), ("0.3.0", SCHEMA_VERSION))


def release_of(schema: int) -> str | None:
    """Return the first release that writes `schema`; None for a schema newer than this cronkit knows."""
    for release, last in RELEASES:
        if schema <= last:
            return release
    return None
