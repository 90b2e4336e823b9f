"""The plain data that crosses the runner's seams.

RunRequest and RunOutcome pass between the CLI and the run policy; RunFacts is what the policy
knows of a run before it starts; TaskCall, AttemptSpec and
AttemptResult between the policy, the supervisor and the forked child. None of them refers back
to the object that made it, so a child receives only what its attempt needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from cronkit.config.settings import Settings
from cronkit.errors import EXIT_OK
from cronkit.plain import TYPE_CHECKING, field, record
from cronkit.registry import Task
from cronkit.runlog.status import RunStatus, Trigger
from cronkit.runner.duties import LeaseTiming
from cronkit.safe.redact import redactor_for

if TYPE_CHECKING:
    from typing import Any

    from cronkit.safe.redact import Redactor


@record
class RunRequest:
    task: str
    trigger: Trigger = Trigger.MANUAL
    params: dict[str, str] = field(default_factory=dict)
    date: date | None = None
    dry_run: bool = False
    dead_letter_id: int | None = None  # set by `dlq retry`: resolve this letter on success
    slot: datetime | None = None  # the slot a retried cron run served (ctx.slot); never claimed again
    run_id: int | None = None  # adopt this `running` run (recorded by `cronkit serve`) instead of a new one
    force: bool = False  # run even while the task is paused (`cronkit run --force`)


@record
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


@record(frozen=True)
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


@record(frozen=True)
class AttemptSpec:
    """One attempt: the call the child makes, where its output goes, and how long it may take."""

    call: TaskCall
    number: int
    output_path: str  # the child's stdout and stderr append here
    deadline: float  # time.monotonic() instant of the run's timeout
    grace: float  # seconds between asking the task to stop and killing it
    inherited_fds: tuple[int, ...] = ()  # descriptors the child closes at once (the local lock)


@record(frozen=True)
class Usage:
    """What an attempt's process tree used: CPU time (user, system) and the peak resident set.

    From os.wait4 of the attempt's process, which the kernel fills with that process's own use
    plus that of every descendant it (or one of its descendants) waited for; the runner adds the
    descendants it reaps itself as the subreaper. CPU adds up; the peak is the largest of them.
    """

    cpu_user_ms: int
    cpu_system_ms: int
    max_rss_kb: int

    @classmethod
    def of(cls, rusage: Any) -> Usage:
        """Return the Usage of a resource.struct_rusage (ru_maxrss is in KiB on Linux)."""
        return cls(int(rusage.ru_utime * 1000), int(rusage.ru_stime * 1000), int(rusage.ru_maxrss))

    def plus(self, other: Usage | None) -> Usage:
        """Return the use of both: CPU summed, the larger peak."""
        if other is None:
            return self
        return Usage(self.cpu_user_ms + other.cpu_user_ms, self.cpu_system_ms + other.cpu_system_ms,
                     max(self.max_rss_kb, other.max_rss_kb))

    def columns(self) -> dict[str, int]:
        """Return the run log's columns of this use."""
        return {"cpu_user_ms": self.cpu_user_ms, "cpu_system_ms": self.cpu_system_ms, "max_rss_kb": self.max_rss_kb}


@record
class AttemptResult:
    """How one attempt ended (or the wait between two), as the run policy records it."""

    status: RunStatus
    error: str | None = None
    traceback: str | None = None
    result: Any = None
    transient: bool = False
    exit_code: int = EXIT_OK
    output_dropped: int = 0  # bytes of the task's output a full disk refused
    usage: Usage | None = None  # None: no process ran (the attempt was cut short before it began)


@record(frozen=True)
class RunFacts:
    """What a run is, fixed before it starts: the task, its settings, the request, slot and timings."""

    settings: Settings
    task: Task
    config: dict[str, Any]
    request: RunRequest
    started: datetime
    slot: datetime | None
    grace: float  # seconds between TERM and KILL
    lease: LeaseTiming
    redact: Redactor
    environ: Mapping[str, str]
    finish_retry: float  # seconds the end of the run retries the run log before journaling it
    heartbeat: float  # seconds between heartbeats
    late_ms: int = 0  # a cron run: how long after its slot's first second it started
    paused: str | None = None  # the task's pause in force (who, until, why): the run is skipped

    @classmethod
    def build(cls, settings: Settings, task: Task, config: dict[str, Any], request: RunRequest,
              environ: Mapping[str, str], started: datetime, slot: datetime | None,
              *, late_ms: int = 0, paused: str | None = None) -> RunFacts:
        """Read the timings from the environment (ConfigError when out of range) and build the redactor."""
        grace = settings.stop_grace
        timing = LeaseTiming(settings.lease_ttl_ms)
        # A command task's own env (a crontab's PGPASSWORD=...) is redacted like the run's environment.
        seen = {**environ, **task.command.env} if task.command is not None else environ
        return cls(settings, task, config, request, started, slot, grace, timing, redactor_for(settings, seen),
                   environ, settings.finish_retry, settings.heartbeat_interval, late_ms, paused)

    def params(self, *, with_dry_run: bool = False) -> dict[str, Any]:
        """Return the run's parameters as recorded: --param pairs, the --date, and dry_run if asked."""
        params: dict[str, Any] = dict(self.request.params)
        if self.request.date is not None:
            params["date"] = self.request.date.isoformat()
        if with_dry_run and self.request.dry_run:
            params["dry_run"] = True
        return params
