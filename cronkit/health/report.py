"""Gather the scheduler's state (SPEC section 8): services, the installed block, and per task its
next run, latest run, missed slots and drift.

All probes start at once, each in its own thread, under one budget (`timeout`); the run log is
then read once for every task, within what is left of it. One engine per check: the run log
opened by the probe is the one read, and the one `health_report` records the check in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronkit import runlog
from cronkit.config.settings import Settings
from cronkit.cronfile.drift import Drift, Installation, read_installation
from cronkit.cronfile.state import read_install_state
from cronkit.errors import CronkitError
from cronkit.health.missed import Missed, Window, candidate_slots, count_missed
from cronkit.health.preflight import refusals
from cronkit.health.probes import (
    CHECK_TIMEOUT,
    DOWN,
    UNUSED,
    UP,
    Pending,
    Probe,
    bounded,
    message,
    probe_cron_daemon,
    probe_log_dir,
    probe_redis,
    redacted,
)
from cronkit.insights.read import as_dicts, find_for
from cronkit.registry import Registry, Task
from cronkit.runlog import startfail
from cronkit.runlog.engines import sqlite_path
from cronkit.runlog.pauses import Pause, current_pauses, pause_keys
from cronkit.runlog.queries import (
    ACTIVE_RUNS,
    LAST_HEALTH_CHECK,
    LAST_HEALTH_RESULT,
    LATEST_RUN,
    Reader,
    read_meta,
)
from cronkit.runlog.status import FAILED_STATUSES
from cronkit.runlog.times import instant_iso, to_ms
from cronkit.safe.encrypt import reveal
from cronkit.schedule import describe, next_run

# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """The latest run of a task, as status shows it (times in epoch milliseconds)."""

    id: int
    status: str
    trigger: str
    scheduled_for: int | None
    started_at: int | None
    finished_at: int | None
    duration_ms: int | None
    error: str | None

    @classmethod
    def from_rows(cls, rows: Any) -> RunSummary | None:
        """Return the summary of the row of `queries.LATEST_RUN`, None for no row."""
        return cls(*rows[0]) if rows else None

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape of a task's `last_run`."""
        return {
            "id": self.id,
            "status": self.status,
            "trigger": self.trigger,
            "scheduled_for": instant_iso(self.scheduled_for),
            "started_at": instant_iso(self.started_at),
            "finished_at": instant_iso(self.finished_at),
            "duration_ms": self.duration_ms,
            "error": reveal(self.error, "error"),
        }


@dataclass(frozen=True)
class TaskStatus:
    """One task of the registry: where and when it runs, how its latest run went, what it missed."""

    name: str
    schedule: str
    schedule_text: str
    timezone: str
    scheduled: bool  # scheduled in this environment
    installed_at: datetime | None
    next_run: datetime | None
    last_run: RunSummary | None
    missed: Missed | None  # None: not examined (not installed here, or the run log did not answer)
    drift: tuple[Drift, ...] = ()
    pause: Pause | None = None  # `cronkit pause` in force (issue 28)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape of one entry of `tasks`."""
        return {
            "name": self.name,
            "schedule": self.schedule,
            "schedule_text": self.schedule_text,
            "timezone": self.timezone,
            "scheduled": self.scheduled,
            "installed_at": instant_iso(self.installed_at),
            "next_run": instant_iso(self.next_run),
            "last_run": self.last_run.as_dict() if self.last_run is not None else None,
            "missed": self.missed.as_dict() if self.missed is not None else None,
            "drift": [d.as_dict() for d in self.drift],
            **pause_keys(self.pause),
        }


@dataclass(frozen=True)
class BlockStatus:
    """The installed cronkit block; every field None when the crontab could not be read."""

    id: str | None
    target: str | None
    present: bool | None
    drift: tuple[Drift, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape of `block`."""
        return {"id": self.id, "target": self.target, "present": self.present,
                "drift": [d.as_dict() for d in self.drift]}


@dataclass(frozen=True)
class StatusReport:
    """The scheduler's state: what `cronkit status` shows and `cronkit health` judges."""

    checked_at: datetime
    initialized: bool  # the block is installed and matches the registry
    enabled: bool  # some task is scheduled in this environment
    environment: str
    timezone: str
    total_jobs: int
    registered_tasks: int
    # None, not 0, when the run log could not tell.
    active_jobs: int | None
    failed_jobs: int | None
    last_health_check: str | None
    last_health_result: str | None
    services: dict[str, str]
    service_details: dict[str, str]
    service_errors: dict[str, str]
    block: BlockStatus
    tasks: tuple[TaskStatus, ...]
    # Milliseconds each probe took (the run log's includes reading it); `/health/deep` shows them.
    timings_ms: dict[str, int] = field(default_factory=dict)
    # The latest cron run of the installed block that could not start (startfail), else None.
    start_failure: dict[str, Any] | None = None
    # Scheduled tasks that will refuse for an unmet `requires=` (preflight.refusals).
    preflight: tuple[dict[str, Any], ...] = ()
    insights: tuple[dict[str, Any], ...] = ()  # the findings of cronkit.insights (SPEC 16), JSON-shaped

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict `cronkit status --json` prints, with stable keys."""
        return {
            "checked_at": instant_iso(self.checked_at),
            "initialized": self.initialized,
            "enabled": self.enabled,
            "environment": self.environment,
            "timezone": self.timezone,
            "total_jobs": self.total_jobs,
            "registered_tasks": self.registered_tasks,
            "active_jobs": self.active_jobs,
            "failed_jobs": self.failed_jobs,
            "last_health_check": self.last_health_check,
            "last_health_result": self.last_health_result,
            "services": self.services,
            "service_details": self.service_details,
            "service_errors": self.service_errors,
            "block": self.block.as_dict(),
            "tasks": [t.as_dict() for t in self.tasks],
            "start_failure": self.start_failure,
            "preflight": list(self.preflight), "insights": list(self.insights),
        }


# --- services --------------------------------------------------------------------------------


@dataclass
class _Services:
    """The state of each service, with a detail when it is up and an error when it is not."""

    states: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def up(self, name: str, detail: str) -> None:
        self.states[name], self.details[name] = UP, detail

    def down(self, name: str, error: str) -> None:
        self.states[name], self.errors[name] = DOWN, error
        self.details.pop(name, None)

    def unused(self, name: str) -> None:
        self.states[name] = UNUSED
        self.errors.pop(name, None)

    def probed(self, name: str, outcome: Probe | BaseException, prefix: str = "") -> None:
        if isinstance(outcome, BaseException):
            self.down(name, prefix + message(outcome))
        else:
            self.states[name] = outcome.state
            (self.details if outcome.state == UP else self.errors)[name] = outcome.detail


def _open_runlog(settings: Settings) -> Reader:
    # `health` records its check in the run log, so it may create it (`status` refuses a missing one).
    log = runlog.open(settings.db_url, create=True, settle=settings)
    with log.connection() as execute:
        execute("SELECT max(id) FROM runs", {})
    return log


def _start_probes(settings: Settings, registry: Registry) -> dict[str, Pending[Any]]:
    """Start every probe at once, each in its own thread."""
    # Import what the probes need first: the deadline is for services that hang, not a loaded machine.
    if sqlite_path(settings.db_url) is None:
        # lazy: SQLAlchemy, only for a run log not read with sqlite3 (PostgreSQL, or one to create)
        from cronkit.runlog import engines, reader  # noqa: F401
    if settings.redis_url:
        # lazy: redis-py, only where a Redis is configured
        import redis  # noqa: F401

    probes: dict[str, Callable[[], Any]] = {
        "run_log": lambda: _open_runlog(settings),
        "installation": lambda: read_installation(settings, registry),
        "cron_daemon": probe_cron_daemon,
        "log_dir": lambda: probe_log_dir(settings.log_dir),
    }
    if settings.redis_url:
        url = settings.redis_url
        probes["redis"] = lambda: probe_redis(url)
    return {name: Pending(name, func) for name, func in probes.items()}


def _assess(settings: Settings, outcomes: dict[str, Any], scheduled: bool,
            ) -> tuple[_Services, Reader | None, Installation | None]:
    """Turn the probes' outcomes into service states; return them, the run log and the installation."""
    services = _Services()
    log = outcomes["run_log"]
    if isinstance(log, BaseException):
        services.down("run_log", message(log))
        log = None
    else:
        services.up("run_log", redacted(settings.db_url))
    if "redis" in outcomes:
        services.probed("redis", outcomes["redis"], prefix=f"{redacted(settings.redis_url or '')}: ")
    else:
        services.states["redis"] = UNUSED

    installation = outcomes["installation"]
    if isinstance(installation, BaseException):
        services.errors["crontab"] = message(installation)
        installation = None
    nothing_here = not scheduled and (installation is None or not installation.block_present)
    if nothing_here:
        # Nothing to run here: an unreadable crontab (no crontab command on a dev box) is no concern.
        services.unused("crontab")
    elif installation is None:
        services.states["crontab"] = DOWN
    else:
        services.up("crontab", str(installation.target))

    for name in ("cron_daemon", "log_dir"):
        services.probed(name, outcomes[name])
    if nothing_here and services.states["cron_daemon"] == DOWN:
        services.unused("cron_daemon")
    return services, log, installation


# --- the run log -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunLogFacts:
    """What the run log says, read in one connection for all tasks."""

    active: int
    last_health_check: str | None
    last_health_result: str | None
    last: dict[str, RunSummary | None]
    missed: dict[str, Missed]
    pauses: dict[str, Pause] = field(default_factory=dict)
    insights: tuple[dict[str, Any], ...] = ()


def _windows(settings: Settings, scheduled: list[Task], installation: Installation | None,
             now: datetime) -> dict[str, Window]:
    """Return the slots to check of each scheduled task that is installed (CPU only)."""
    windows: dict[str, Window] = {}
    if installation is None or not installation.block_present:
        return windows
    for task in scheduled:
        installed_at = installation.installed_at.get(task.name)
        if installed_at is None:
            continue
        windows[task.name] = candidate_slots(
            task.resolved_schedule, task.zone(settings.timezone), installed_at=installed_at, now=now,
            grace=task.grace, task=task.name,
        )
    return windows


def _read_runlog(log: Reader, settings: Settings, registry: Registry, windows: dict[str, Window], now: datetime) -> _RunLogFacts:
    with log.connection() as execute:
        return _RunLogFacts(
            active=int(execute(ACTIVE_RUNS, {})[0][0] or 0),
            last_health_check=read_meta(execute, LAST_HEALTH_CHECK),
            last_health_result=read_meta(execute, LAST_HEALTH_RESULT),
            last={t.name: RunSummary.from_rows(execute(LATEST_RUN, {"task": t.name})) for t in registry},
            missed={name: count_missed(execute, window) for name, window in windows.items()},
            insights=tuple(as_dicts(find_for(settings, execute, registry, now))),
            pauses=current_pauses(execute, to_ms(now)),
        )


# --- status ----------------------------------------------------------------------------------


@dataclass
class StatusCheck:
    """A status report and the run log it was read from, open for the caller until `close()`."""

    report: StatusReport
    runlog: Reader | None  # None when the run log did not answer
    budget_end: float  # time.monotonic() at which the check's budget is spent

    def close(self) -> None:
        if self.runlog is not None:
            self.runlog.close()


def _task_statuses(settings: Settings, registry: Registry, scheduled: set[str], now: datetime, installation:
                   Installation | None, facts: _RunLogFacts | None, texts: bool = True) -> tuple[TaskStatus, ...]:
    out = []
    for task in registry:
        zone = task.zone(settings.timezone)
        here = task.name in scheduled
        out.append(TaskStatus(
            name=task.name, schedule=task.schedule, timezone=zone, schedule_text=describe(task.resolved_schedule) if texts else "",
            scheduled=here,
            installed_at=installation.installed_at.get(task.name) if installation else None,
            next_run=next_run(task.resolved_schedule, zone, now) if here else None,
            last_run=facts.last.get(task.name) if facts else None,
            missed=facts.missed.get(task.name) if facts else None,
            drift=tuple(d for d in installation.drift if d.task == task.name) if installation else (),
            pause=facts.pauses.get(task.name) if facts else None,
        ))
    return tuple(out)


def start_failure(settings: Settings) -> dict[str, Any] | None:
    """Return the start-failure record of the installed block's cron runs, None when they start."""
    try:
        state = read_install_state(settings)
    except CronkitError:
        return None
    if not state or not state.get("run_config"):
        return None
    return startfail.read(settings.home, startfail.key_for(str(state["run_config"])))


def check_status(settings: Settings, registry: Registry, now: datetime, *,
                 timeout: float = CHECK_TIMEOUT, texts: bool = True) -> StatusCheck:
    """Probe every service and read the run log within `timeout` s; the caller closes the check.

    `texts`: schedules in words (`health` needs none).
    """
    started = time.monotonic()
    now = now.astimezone(UTC)
    scheduled = registry.enabled_in(settings.environment, settings.task_config)
    pending = _start_probes(settings, registry)
    deadline = time.monotonic() + timeout
    outcomes = {name: p.outcome(deadline - time.monotonic(), budget=timeout) for name, p in pending.items()}
    services, log, installation = _assess(settings, outcomes, bool(scheduled))

    timings = {name: int(1000 * (p.elapsed if p.elapsed is not None else timeout)) for name, p in pending.items()}
    facts: _RunLogFacts | None = None
    if log is not None:
        windows = _windows(settings, scheduled, installation, now)
        read_started = time.monotonic()
        try:
            facts = bounded("run log", max(0.5, deadline - time.monotonic()),
                            lambda: _read_runlog(log, settings, registry, windows, now))
        except Exception as exc:
            services.down("run_log", message(exc))
        timings["run_log"] += int(1000 * (time.monotonic() - read_started))

    tasks = _task_statuses(settings, registry, {t.name for t in scheduled}, now, installation, facts, texts)
    failed = sum(1 for t in tasks if t.scheduled and t.last_run and t.last_run.status in FAILED_STATUSES)
    block = (BlockStatus(installation.block_id, installation.target, installation.block_present,
                         tuple(installation.drift))
             if installation else BlockStatus(None, None, None))
    report = StatusReport(
        checked_at=now,
        initialized=bool(installation and installation.block_present and not installation.drift),
        enabled=bool(scheduled),
        environment=settings.environment,
        timezone=settings.timezone,
        total_jobs=len(scheduled),
        registered_tasks=len(registry),
        active_jobs=facts.active if facts else None,
        failed_jobs=failed if facts else None,
        last_health_check=facts.last_health_check if facts else None,
        last_health_result=facts.last_health_result if facts else None,
        services=services.states,
        service_details=services.details,
        service_errors=services.errors,
        block=block,
        tasks=tasks,
        timings_ms=timings,
        start_failure=start_failure(settings),
        preflight=tuple(refusals(scheduled, settings)), insights=facts.insights if facts else (),
    )
    return StatusCheck(report, log, started + timeout)


def status(settings: Settings, registry: Registry, now: datetime, *,
           timeout: float = CHECK_TIMEOUT) -> StatusReport:
    """Return the scheduler's state (SPEC section 8); `.as_dict()` is what `status --json` prints."""
    check = check_status(settings, registry, now, timeout=timeout)
    check.close()
    return check.report


def status_dict(settings: Settings, registry: Registry, now: datetime, *,
                timeout: float = CHECK_TIMEOUT) -> dict[str, Any]:
    """Return `status(...)` as the JSON-ready dict `cronkit status --json` prints."""
    return status(settings, registry, now, timeout=timeout).as_dict()
