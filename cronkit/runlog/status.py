"""The words the run log records: a run's status and what started it.

Both are str enums, so a member compares, hashes and serialises (JSON, SQL) as its value.
"""

from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    """A run's status, as the run log stores it and `history --status` filters it."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"
    LOST = "lost"


class Trigger(str, Enum):
    """What started a run: its crontab line, a person, `dlq retry`, the HTTP API, or `cronkit check` catching up a slot."""

    CRON = "cron"
    MANUAL = "manual"
    RETRY = "retry"
    API = "api"
    CATCHUP = "catchup"


# A run counts as failed (for `failed_jobs`, health and alerts) in these; as executed (it ran the
# task, whatever came of it) in the second.
FAILED_STATUSES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)
EXECUTED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)

__all__ = ["EXECUTED_STATUSES", "FAILED_STATUSES", "RunStatus", "Trigger"]
