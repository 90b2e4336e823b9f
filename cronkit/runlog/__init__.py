"""The run log: every run, attempt, claimed slot and dead letter, in SQLite or PostgreSQL.

One way in: `runlog.open(url, ...)` returns a `writer.RunStore`, which runs the same plain SQL over
sqlite3 (a SQLite run log: no SQLAlchemy on the run path) or a SQLAlchemy engine (PostgreSQL).

- `version`: SCHEMA_VERSION and the release that wrote each older schema;
- `engines`: where a URL's SQLite file is, private files, the schema lock, engines, one-line errors;
- `link`, `enginelink`: a RunStore's connection, sqlite3 or SQLAlchemy, one interface;
- `connect`: `open`, which brings the schema up and settles the journal and lost runs;
- `writer`: RunStore, the run path's writes; `journal`: a run's outcome, once, or kept in a file;
- `totals`: the counters a run's end adds to; `queries`: the SQL of status, health and stats;
- `reader`: history, one run, pages of runs, pruning; `deadletters`, `pauses`, `pausing`, `rekey`;
- `schema`: the tables and the migrations that build them (SCHEMA_VERSION is asserted there);
- `times`: epoch milliseconds, the run log's unit of time.

Times are stored as integer milliseconds since the Unix epoch (UTC): exact, dialect-neutral and
cheap to index, compare and aggregate.
"""

from __future__ import annotations

from cronkit.runlog.connect import open
from cronkit.runlog.version import RELEASES, SCHEMA_VERSION, release_of

__all__ = ["RELEASES", "SCHEMA_VERSION", "open", "release_of"]
