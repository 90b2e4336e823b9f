"""A run's outcome, written to the run log once, or kept in a local journal until it can be.

The end of a run (its row's outcome, the attempts not yet written, its dead letter, the letter a
retry resolves) is one list of operations, applied in one transaction. When the run log does not
take it (locked past the busy timeout, unreachable, not answering), `commit` tries again with
backoff for a bounded time, then writes the operations to a journal file under
`<CRONKIT_HOME>/journal/` (0600, fsynced, renamed into place). The next cronkit command that opens
the run log applies what the journal holds (`apply_journal`) and deletes the file.

Exactly once: the first operation updates the run's row only while it is `running` (or `lost`,
which a later command may have concluded meanwhile), and the rest of the transaction happens
only when it did. A journal applied twice, or a write that went through after the runner had
given up on it, finds the outcome there already and changes nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cronkit.errors import DiskFull, ServiceUnavailable
from cronkit.plain import TYPE_CHECKING, record
from cronkit.runlog.totals import FINISH_RUN, end_run
from cronkit.runlog.writer import REMOTE_CALL_LIMIT, Execute, RunStore, bounded, clean_text
from cronkit.safe.files import write_atomic

if TYPE_CHECKING:
    from typing import Any

# How long the end of a run keeps trying the run log before it journals the outcome.
FINISH_RETRY = 30.0
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0
JOURNAL_DIR = "journal"

Op = tuple[str, dict[str, "Any"]]

_SQL = {
    "finish": FINISH_RUN,  # applied through writer.end_run, which also adds the run to its totals
    "attempt": (
        "INSERT INTO attempts (run_id, number, started_at, finished_at, status, error, cpu_user_ms,"
        " cpu_system_ms, max_rss_kb) VALUES (:run_id, :number, :started_at, :finished_at, :status, :error,"
        " :cpu_user_ms, :cpu_system_ms, :max_rss_kb) ON CONFLICT DO NOTHING"
    ),
    "dead_letter": (
        "INSERT INTO dead_letters (run_id, task, params, scheduled_for, error, traceback, attempts,"
        " created_at) VALUES (:run_id, :task, :params, :scheduled_for, :error, :traceback,"
        " :attempts, :created_at) RETURNING id"
    ),
    "resolve": (
        "UPDATE dead_letters SET resolved_at = :at, resolved_by = :run_id WHERE id = :id AND resolved_at IS NULL"
    ),
}
_TEXT = ("error", "traceback", "output")
_RESOURCES = ("cpu_user_ms", "cpu_system_ms", "max_rss_kb")


def op(kind: str, **params: Any) -> Op:
    """Return one operation of a run's outcome, its text made storable (no NUL byte)."""
    if kind not in _SQL:
        raise ValueError(kind)
    for name in _TEXT:
        if isinstance(params.get(name), str):
            params[name] = clean_text(params[name])
    if isinstance(params.get("duration_ms"), int):  # a clock stepped back is no negative duration
        params["duration_ms"] = max(0, params["duration_ms"])
    return kind, params


@record
class Committed:
    """How an outcome ended up: in the run log (with its dead letter's id) or in a journal file."""

    dead_letter_id: int | None = None
    journal: Path | None = None
    error: str | None = None  # why the run log did not take it
    nowhere: str | None = None  # why no journal could take it either (the outcome is lost with the runner)


def record_outcome(store: RunStore, ops: Sequence[Op], wait_ms: int) -> int | None:
    """Apply a run's outcome in one transaction; return the new dead letter's id, if one was made.

    Nothing is changed when the run's row is no longer `running` or `lost`: it is recorded already.
    """

    def work(execute: Execute) -> int | None:
        letter: int | None = None
        ordered = sorted(ops, key=lambda o: o[0] != "finish")  # the guard first
        for kind, params in ordered:
            if kind in ("finish", "attempt"):  # a journal written before version 11 has no resources
                params = {**dict.fromkeys(_RESOURCES), **params}
            if kind == "finish":
                if not end_run(execute, params):
                    return None  # applied before: by this runner's late write, or an earlier journal pass
                continue
            rows = execute(_SQL[kind], params)
            if kind == "dead_letter" and rows:
                letter = int(rows[0][0])
        return letter

    return store.transact(work, wait_ms)  # type: ignore[no-any-return]


def commit(store: RunStore, ops: Sequence[Op], *, bound: float, directory: Path, url: str,
           cancelled: Callable[[], bool] = lambda: False, free: Callable[[], None] = lambda: None,
           fallback: Path | None = None) -> Committed:
    """Write the outcome, retrying with backoff for `bound` seconds; then keep it in the journal.

    `cancelled` (a signal came) cuts the retries short: the outcome goes to the journal at once.
    A full disk first makes the run give back what it holds (`free`: its raw output), then try
    again at once. The journal goes to `directory`, else to `fallback` (another disk, maybe).
    """
    deadline = time.monotonic() + bound
    pause = BACKOFF_FIRST
    error = "not tried"
    freed = False
    while True:
        left = max(0.0, deadline - time.monotonic())
        wait_ms = int(min(max(left, 0.05), 60.0) * 1000)
        try:
            if store.remote:
                letter = bounded(lambda: record_outcome(store, ops, wait_ms),
                                 min(max(left, 0.5), REMOTE_CALL_LIMIT), "the run log")
            else:
                letter = record_outcome(store, ops, wait_ms)
            return Committed(dead_letter_id=letter)
        except DiskFull as exc:
            error = str(exc)
            if not freed:
                freed = True
                try:
                    free()
                except OSError:
                    pass
                continue
        except ServiceUnavailable as exc:
            error = str(exc)
        left = deadline - time.monotonic()
        if left <= 0 or cancelled():
            break
        end = time.monotonic() + min(pause, left)
        while time.monotonic() < end and not cancelled():
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        pause = min(pause * 2, BACKOFF_MAX)
    why = "no journal directory"
    for place in (directory, fallback):
        if place is None:
            continue
        try:
            return Committed(journal=write_journal(place, url, ops), error=error)
        except OSError as exc:  # a full disk, most likely: the next place, if any
            why = f"{place}: {exc.strerror or exc}"
    return Committed(error=error, nowhere=why)


def _key(url: str) -> str:
    """Name a run log without its URL (which may hold a password): a hash, for journal file names."""
    # lazy: hashlib loads OpenSSL (about 10 ms of every run's start); only a journal file needs the name
    import hashlib

    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _run_id(ops: Sequence[Op]) -> int:
    for kind, params in ops:
        if kind == "finish":
            return int(params["id"])
    raise ValueError("an outcome without its run")


def write_journal(directory: Path, url: str, ops: Sequence[Op]) -> Path:
    """Write an outcome to `<directory>/<log>-run-<id>.json`, private and fsynced; return its path."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{_key(url)}-run-{_run_id(ops)}.json"
    payload = json.dumps({"version": 1, "ops": [[kind, params] for kind, params in ops]}, sort_keys=True)
    write_atomic(path, payload, 0o600, sync_dir=True)
    return path


def apply_journal(store: RunStore, home: Path, url: str, wait_ms: int = 5000, fallback: Path | None = None) -> int:
    """Apply the outcomes the journal keeps for the run log at `url`, each once; return how many were read.

    Both journal directories are read: `<home>/journal` and the `fallback` a runner used when
    that one had no room. A run log still unavailable leaves the journal for the next command.
    """
    applied = 0
    for directory in (home / JOURNAL_DIR, fallback):
        if directory is not None:
            applied += _apply_directory(store, directory, url, wait_ms)
    return applied


def fallback_dir(log_dir: Path) -> Path:
    """Return where a runner journals an outcome when `<home>/journal` has no room: beside the task logs."""
    return log_dir / JOURNAL_DIR


def _apply_directory(store: RunStore, directory: Path, url: str, wait_ms: int) -> int:
    """Apply one journal directory's outcomes (a file that is not a journal entry is left alone)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    if not names:
        return 0
    prefix = _key(url) + "-run-"
    applied = 0
    for name in sorted(n for n in names if n.startswith(prefix) and n.endswith(".json")):
        path = directory / name
        try:
            entry = json.loads(path.read_text())
            ops = [(str(kind), dict(params)) for kind, params in entry["ops"]]
            _run_id(ops)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        try:
            if store.remote:
                bounded(lambda: record_outcome(store, ops, wait_ms), wait_ms / 1000 + 1, "the run log")
            else:
                record_outcome(store, ops, wait_ms)
        except ServiceUnavailable:
            break
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        applied += 1
    return applied


__all__ = ["FINISH_RETRY", "Committed", "apply_journal", "commit", "fallback_dir", "op", "record_outcome",
           "write_journal"]
