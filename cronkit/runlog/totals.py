"""The run totals: per task, counters that only grow, kept as runs finish (issue 24).

`run_totals` holds one row per task: its runs per final status, the count and sum of the
durations of its executed runs, their histogram buckets (cumulative, one column per bound), the
duration of its latest executed run, and its missed slots. The `.prom` files, `/metrics` and
anything else on the run path read that row (O(1)) instead of aggregating the task's runs, so a
tick costs the same on a log of a thousand runs or ten million.

What keeps the totals exact:
- **One piece of SQL** (`ADD_RUN`) adds a run to its task's row. It runs in the same transaction
  as the statement that takes the run out of `running` (journal.record_outcome, the run's end and
  its replay from the journal; RunStore.mark_lost; a trigger that could not start its run), and
  only when that statement changed the row: a journal applied twice, or a late write, adds nothing.
- **Pruning never subtracts.** The totals are "ever" counters (Prometheus counters must never go
  down): deleting old runs leaves them as they are. Figures over a window (`stats`) are read from
  the runs themselves.
- **A run concluded after it was marked lost** (its outcome waited in the journal) is added again
  with its final status: it stays counted as lost too, because a counter cannot go down.
- The migration that creates the table (`fill`) adds every finished run with one GROUP BY.

Standard library only: the run path imports this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cronkit.plain import TYPE_CHECKING, field, record

if TYPE_CHECKING:
    from typing import Any

# Upper bounds (seconds) of the duration histogram's buckets, for /metrics and the .prom files
# alike: from a quick cleanup to a two-hour report. One column of run_totals per bound.
BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
# Every status a run ends in (all but `running`), each with its counter column.
FINAL_STATUSES = ("succeeded", "failed", "timed_out", "interrupted", "skipped", "lost")
# The statuses of runs that executed the task: their durations go into the histogram.
EXECUTED = ("succeeded", "failed", "timed_out", "interrupted")

TABLE = "run_totals"


def bucket_column(bound: float) -> str:
    """Return the column of the bucket `le=bound` (its bound in milliseconds)."""
    return f"le_{int(round(bound * 1000))}"


COUNT_COLUMNS = tuple(f"runs_{status}" for status in FINAL_STATUSES)
BUCKET_COLUMNS = tuple(bucket_column(bound) for bound in BUCKETS)
ADDED_COLUMNS = (*COUNT_COLUMNS, "duration_count", "duration_sum_ms", *BUCKET_COLUMNS)
COLUMNS = ("task", *ADDED_COLUMNS, "last_duration_ms", "missed_slots", "missed_through")

_EXECUTED_SQL = "status IN (" + ", ".join(f"'{s}'" for s in EXECUTED) + ") AND duration_ms IS NOT NULL"


def _per_run() -> list[str]:
    """Return, for one row of `runs`, what it adds to each of ADDED_COLUMNS (SQL expressions)."""
    exprs = [f"CASE WHEN status = '{status}' THEN 1 ELSE 0 END" for status in FINAL_STATUSES]
    exprs.append(f"CASE WHEN {_EXECUTED_SQL} THEN 1 ELSE 0 END")
    exprs.append(f"CASE WHEN {_EXECUTED_SQL} THEN duration_ms ELSE 0 END")
    exprs += [f"CASE WHEN {_EXECUTED_SQL} AND duration_ms <= {int(round(b * 1000))} THEN 1 ELSE 0 END"
              for b in BUCKETS]
    return exprs


_ADDED = ", ".join(ADDED_COLUMNS)

# Add the run :id (just taken out of `running`, in the caller's transaction) to its task's totals.
ADD_RUN = (
    f"INSERT INTO {TABLE} (task, {_ADDED}, last_duration_ms, missed_slots)"
    f" SELECT task, {', '.join(_per_run())}, CASE WHEN {_EXECUTED_SQL} THEN duration_ms END, 0"
    f" FROM runs WHERE id = :id AND status <> 'running'"
    f" ON CONFLICT (task) DO UPDATE SET "
    + ", ".join(f"{c} = {TABLE}.{c} + excluded.{c}" for c in ADDED_COLUMNS)
    + f", last_duration_ms = COALESCE(excluded.last_duration_ms, {TABLE}.last_duration_ms)"
)

# The migration's fill: every finished run of the log, one GROUP BY, then each task's latest duration.
FILL = (
    f"INSERT INTO {TABLE} (task, {_ADDED}, missed_slots)"
    f" SELECT task, {', '.join(f'SUM({e})' for e in _per_run())}, 0"
    f" FROM runs WHERE status <> 'running' GROUP BY task"
)
FILL_LAST_DURATION = (
    f"UPDATE {TABLE} SET last_duration_ms = (SELECT duration_ms FROM runs WHERE runs.task = {TABLE}.task"
    f" AND runs.{_EXECUTED_SQL} ORDER BY runs.id DESC LIMIT 1)"
)

READ = f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE task = :task"
READ_ALL = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"

# Missed slots: a counter that every judge of a task's slots advances once per slot. A slot is
# counted when it is first seen missed; `missed_through` (epoch ms) is the latest slot judged so
# far, and the compare-and-set on it keeps two judges at once from counting a slot twice.
ENSURE_ROW = f"INSERT INTO {TABLE} (task) VALUES (:task) ON CONFLICT (task) DO NOTHING"
ADVANCE_MISSED = (
    f"UPDATE {TABLE} SET missed_slots = missed_slots + :added, missed_through = :through"
    f" WHERE task = :task AND COALESCE(missed_through, -1) = :seen RETURNING task"
)

Execute = Callable[[str, Mapping[str, "Any"]], Sequence[Sequence["Any"]]]


@record
class Totals:
    """One task's totals as read from run_totals (zeros for a task that never finished a run)."""

    task: str
    runs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FINAL_STATUSES, 0))
    duration_count: int = 0
    duration_sum_ms: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))  # cumulative, per BUCKETS
    last_duration_ms: int | None = None
    missed_slots: int = 0
    missed_through: int | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Totals:
        values = dict(zip(COLUMNS, row, strict=True))
        return cls(
            task=str(values["task"]),
            runs={status: int(values[f"runs_{status}"] or 0) for status in FINAL_STATUSES},
            duration_count=int(values["duration_count"] or 0),
            duration_sum_ms=int(values["duration_sum_ms"] or 0),
            buckets=[int(values[c] or 0) for c in BUCKET_COLUMNS],
            last_duration_ms=None if values["last_duration_ms"] is None else int(values["last_duration_ms"]),
            missed_slots=int(values["missed_slots"] or 0),
            missed_through=None if values["missed_through"] is None else int(values["missed_through"]),
        )


def read(execute: Execute, task: str) -> Totals:
    """Return `task`'s totals: one row by its primary key."""
    rows = execute(READ, {"task": task})
    return Totals.from_row(rows[0]) if rows else Totals(task)


def read_all(execute: Execute) -> dict[str, Totals]:
    """Return every task's totals (one row per task ever run)."""
    return {str(row[0]): Totals.from_row(row) for row in execute(READ_ALL, {})}


def advance_missed(execute: Execute, task: str, missed_ms: Sequence[int], judged_through: int | None) -> int:
    """Count the missed slots (epoch ms) not counted before; return how many were added.

    `judged_through`: the latest slot whose grace has passed (every slot up to it was judged).
    Statement by statement, no transaction needed: a judge that loses the compare-and-set to
    another adds nothing, and a task whose slots were all judged costs one read.
    """
    if judged_through is None:
        return 0
    rows = execute("SELECT missed_through FROM run_totals WHERE task = :task", {"task": task})
    seen = rows[0][0] if rows else None
    if seen is not None and int(seen) >= judged_through:
        return 0
    if not rows:
        execute(ENSURE_ROW, {"task": task})
    floor = -1 if seen is None else int(seen)
    added = sum(1 for slot in missed_ms if slot > floor)
    won = execute(ADVANCE_MISSED, {"task": task, "added": added, "through": judged_through, "seen": floor})
    return added if won else 0


# The one statement that ends a run: only while it is `running` (or `lost`, which a later command
# may have concluded meanwhile), so that a late or repeated write of the same outcome changes nothing.
FINISH_RUN = (
    "UPDATE runs SET status = :status, finished_at = :finished_at, duration_ms = :duration_ms,"
    " attempts = :attempts, exit_code = :exit_code, error = :error, traceback = :traceback,"
    " result = :result, output = :output, cpu_user_ms = :cpu_user_ms, cpu_system_ms = :cpu_system_ms,"
    " max_rss_kb = :max_rss_kb WHERE id = :id AND status IN (:running, :lost) RETURNING id"
)


def end_run(execute: Execute, params: Mapping[str, Any]) -> bool:
    """End a run with its outcome and add it to its task's totals, in the caller's transaction.

    False when the run was not `running` or `lost` (its outcome is recorded already): nothing changed.
    """
    # The resources (schema version 11) default to unknown: a journal written before them has none.
    done = execute(FINISH_RUN, {"cpu_user_ms": None, "cpu_system_ms": None, "max_rss_kb": None, **params,
                                "running": "running", "lost": "lost"})
    if not done:
        return False
    execute(ADD_RUN, {"id": params["id"]})
    return True


def mark_one_lost(execute: Execute, *, params: Mapping[str, Any]) -> None:
    """Mark one run `lost` while it is still `running`, and add it to its task's totals."""
    done = execute(
        "UPDATE runs SET status = :lost, finished_at = :now, exit_code = NULL,"
        " error = COALESCE(error, 'the run''s process died without recording an outcome'),"
        " output = COALESCE(output, :output)"
        " WHERE id = :id AND status = :running RETURNING id", params)
    if done:
        execute(ADD_RUN, {"id": params["id"]})


def fill(execute: Execute) -> None:
    """Fill an empty run_totals from the runs already recorded (the migration's one GROUP BY)."""
    execute(FILL, {})
    execute(FILL_LAST_DURATION, {})


__all__ = ["ADD_RUN", "BUCKETS", "FINISH_RUN", "BUCKET_COLUMNS", "COLUMNS", "EXECUTED", "FINAL_STATUSES", "TABLE", "Totals",
           "advance_missed", "bucket_column", "end_run", "fill", "mark_one_lost", "read", "read_all"]
