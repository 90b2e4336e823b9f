"""The plain data that crosses the runner's seams.

RunRequest and RunOutcome pass between the CLI and the run policy; TaskCall, AttemptSpec and
AttemptResult between the policy, the supervisor and the forked child. None of them refers back
to the object that made it, so a child receives only what its attempt needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..config import Settings
from ..errors import EXIT_OK
from ..registry import Task
from ..status import RunStatus, Trigger


@dataclass
class RunRequest:
    task: str
    trigger: Trigger = Trigger.MANUAL
    params: dict[str, str] = field(default_factory=dict)
    date: date | None = None
    dry_run: bool = False
    dead_letter_id: int | None = None  # set by `dlq retry`: resolve this letter on success
    slot: datetime | None = None  # the slot a retried cron run served (ctx.slot); never claimed again
    run_id: int | None = None  # adopt this `running` run (recorded by `cronkit serve`) instead of a new one


@dataclass
class RunOutcome:
    """What happened, for the CLI to report: exit code, status, and a one-line summary."""

    exit_code: int
    status: str | None = None
    run_id: int | None = None
    summary: str = ""
    result: Any = None
    duration_ms: int = 0
    quiet: bool = False  # nothing to print (a cron run that was not due)
    dead_letter_id: int | None = None
    error: str | None = None  # the recorded error of a run that did not succeed (redacted)


@dataclass(frozen=True)
class TaskCall:
    """The task function's inputs: what its TaskContext holds, except the attempt number."""

    task: Task
    settings: Settings
    config: Mapping[str, Any]
    now: datetime
    params: Mapping[str, str]
    slot: datetime | None
    date: date | None
    dry_run: bool
    run_id: int


@dataclass(frozen=True)
class AttemptSpec:
    """One attempt: the call the child makes, where its output goes, and how long it may take."""

    call: TaskCall
    number: int
    output_path: str  # the child's stdout and stderr append here
    deadline: float  # time.monotonic() instant of the run's timeout
    grace: float  # seconds between asking the task to stop and killing it
    inherited_fds: tuple[int, ...] = ()  # descriptors the child closes at once (the local lock)


@dataclass
class AttemptResult:
    """How one attempt ended (or the wait between two), as the run policy records it."""

    status: RunStatus
    error: str | None = None
    traceback: str | None = None
    result: Any = None
    transient: bool = False
    exit_code: int = EXIT_OK
