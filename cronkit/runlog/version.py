"""The run log's schema version this cronkit writes, and the release that wrote each older one.

A leaf of its own: the run path compares SCHEMA_VERSION with a SQLite file's user_version without
importing SQLAlchemy, and `schema` asserts that it equals the number of its migrations.
"""

from __future__ import annotations

# Bump it together with schema.MIGRATIONS.
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


__all__ = ["RELEASES", "SCHEMA_VERSION", "release_of"]
