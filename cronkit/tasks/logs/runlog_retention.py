"""Apply the run log's retention (SPEC 7) as the last step of daily-log-pruning."""

from __future__ import annotations

from datetime import timedelta

from cronkit.context import TaskContext
from cronkit.runlog.reader import RunLog


def prune_run_log(ctx: TaskContext) -> int:
    """Delete the runs older than the retention; in a dry run, count what would go.

    The run log's engine is disposed before returning, so no pooled connection stays open.
    """
    cutoff = ctx.now - timedelta(days=ctx.settings.runlog_retention_days)
    runlog = RunLog.open(ctx.settings, create=True)  # a run: the log is its own
    try:
        if ctx.dry_run:
            return int(runlog.count_prunable(cutoff))
        return int(runlog.prune(cutoff))
    finally:
        runlog.engine.dispose()
