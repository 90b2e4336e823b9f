"""Apply the run log's retention (SPEC 7) as the last step of daily-log-pruning."""

from __future__ import annotations

from datetime import timedelta

from cronkit import runlog
from cronkit.context import TaskContext
from cronkit.runlog.reader import count_prunable, prune


def prune_run_log(ctx: TaskContext) -> int:
    """Delete the runs older than the retention; in a dry run, count what would go.

    The run log is closed before returning, so no connection stays open.
    """
    cutoff = ctx.now - timedelta(days=ctx.settings.runlog_retention_days)
    store = runlog.open(ctx.settings.db_url, create=True, settle=ctx.settings)  # a run: the log is its own
    try:
        if ctx.dry_run:
            return count_prunable(store, cutoff)
        return prune(store, cutoff)
    finally:
        store.close()
