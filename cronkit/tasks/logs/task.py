"""daily-log-pruning: prune the log directory, then apply the run log's retention."""

from __future__ import annotations

from typing import Any

from cronkit.context import TaskContext
from cronkit.tasks.logs.policy import Policy
from cronkit.tasks.logs.pruning import prune_directory
from cronkit.tasks.logs.report import report_dict
from cronkit.tasks.logs.runlog_retention import prune_run_log


def daily_log_pruning(ctx: TaskContext) -> dict[str, Any]:
    """Prune the log directory (and its cronkit/ logs), then the run log's old runs."""
    policy = Policy.from_config(ctx.config)
    report = prune_directory(str(ctx.settings.log_dir), policy, ctx.now, ctx.dry_run, ctx)
    result = report_dict(report, str(ctx.settings.log_dir))
    ctx.check_cancelled()
    result["runlog_runs_pruned"] = prune_run_log(ctx)
    return result
