"""Re-seal every stored payload under the current key (`cronkit rekey`), resumably.

After `secret_key` changes (the old one in `previous_secret_key`), or when `encrypt_payloads` is
turned on for a run log that holds clear payloads, every sealed column is rewritten under the
current key, a batch per transaction, in primary-key order. The last key done is kept in `meta`
(`rekey.<table>.<key id>`), so an interrupted rekey goes on where it stopped, and a row already
under the current key is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, and_, or_, select, text, update
from sqlalchemy.engine import Engine

from cronkit.errors import ConfigError
from cronkit.runlog.queries import READ_META
from cronkit.runlog.schema import attempts, dead_letters, runs, set_meta
from cronkit.safe import encrypt as payloads
from cronkit.safe.files import write_atomic

SEALED: tuple[tuple[Table, tuple[str, ...], tuple[str, ...]], ...] = (
    (runs, ("id",), ("params", "result", "error", "traceback", "output")),
    (attempts, ("run_id", "number"), ("error",)),
    (dead_letters, ("id",), ("params", "error", "traceback")),
)
DEFAULT_BATCH = 500


@dataclass
class Rekeyed:
    """What a rekey did, per table: values sealed (were clear), resealed, unopenable (no key opens them)."""

    key_id: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def unopenable(self) -> int:
        return sum(table.get("unopenable", 0) for table in self.counts.values())


def rekey(engine: Engine, *, batch: int = DEFAULT_BATCH, progress: Callable[[str, int], None] | None = None) -> Rekeyed:
    """Re-seal every payload of the run log under this process's key; return the counts."""
    if not payloads.sealing():
        raise ConfigError("rekey: encrypt_payloads is off: turn it on (CRONKIT_ENCRYPT_PAYLOADS=true) with the key to seal under")
    key = payloads.key_id()
    assert key is not None
    done = Rekeyed(key)
    for table, keys, columns in SEALED:
        done.counts[table.name] = _table(engine, table, keys, columns, key, batch, progress)
    return done


def _table(engine: Engine, table: Table, keys: tuple[str, ...], columns: tuple[str, ...], key: str,
           batch: int, progress: Callable[[str, int], None] | None) -> dict[str, int]:
    counts: dict[str, int] = {"sealed": 0, "resealed": 0, "unopenable": 0}
    mark = f"rekey.{table.name}.{key}"
    key_cols = [table.c[k] for k in keys]
    with engine.connect() as conn:
        stored = conn.execute(text(READ_META), {"key": mark}).scalar()
    after = tuple(int(p) for p in stored.split(",")) if stored else None
    while True:
        query = select(*key_cols, *(table.c[c] for c in columns)).order_by(*key_cols).limit(batch)
        if after is not None:
            query = query.where(_after(key_cols, after))
        with engine.begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return counts
            for row in rows:
                changes = _rewrap(row, keys, columns, counts)
                if changes:
                    conn.execute(update(table).where(and_(*(c == row._mapping[c.name] for c in key_cols)))
                                 .values(**changes))
            after = tuple(int(row._mapping[k]) for k in keys)
            set_meta(conn, mark, ",".join(str(p) for p in after))
        if progress is not None:
            progress(table.name, len(rows))


def _after(key_cols: list[Any], after: tuple[int, ...]) -> Any:
    """Return the condition of the rows after the key `after` (a one- or two-column key)."""
    if len(key_cols) == 1:
        return key_cols[0] > after[0]
    return or_(key_cols[0] > after[0], and_(key_cols[0] == after[0], key_cols[1] > after[1]))


def _rewrap(row: Any, keys: tuple[str, ...], columns: tuple[str, ...], counts: dict[str, int]) -> dict[str, Any]:
    changes = {}
    for column in columns:
        value, state = payloads.rewrap(row._mapping[column], column)
        if state in counts:
            counts[state] += 1
        if state in ("sealed", "resealed"):
            changes[column] = value
    return changes


def rekey_logs(directory: Path) -> dict[str, int]:
    """Re-seal the task logs' lines under the current key (clear lines sealed too); return the counts.

    Each log is rewritten beside itself and renamed over it (0600), so a reader sees the old or
    the new file whole.
    """
    counts = {"sealed": 0, "resealed": 0, "unopenable": 0}
    for log in sorted(directory.glob("*.log")):
        lines, changed = [], False
        with open(log, encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                text = line.rstrip("\n")
                value, state = payloads.rewrap(text, "log") if text else (text, "current")
                if state in counts:
                    counts[state] += 1
                changed = changed or state in ("sealed", "resealed")
                lines.append(f"{value}\n")
        if changed:
            write_atomic(log, "".join(lines), 0o600)
    return counts


__all__ = ["DEFAULT_BATCH", "Rekeyed", "rekey", "rekey_logs"]
