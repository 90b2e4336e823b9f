"""See into the scheduler: status, health, stats, missed slots and drift of the installed block.

Library only: nothing here prints, and time is passed in (`now`, a UTC-aware datetime). Every
service is probed in a daemon thread joined with a deadline, so a hanging Redis, PostgreSQL or a
locked SQLite file makes a check report "no answer within N s" instead of hanging the command.

Definitions the README repeats:

- A **slot** of a task is an instant its schedule names in its zone (`schedule.slots_between`,
  DST included). A slot is **served** when the run log holds any run of the task with
  `scheduled_for` equal to it, whatever that run's status: a `skipped` run (lock held, slot
  already served elsewhere, task disabled) proves cron fired and cronkit looked at the slot; a
  failure is reported as a failure, not as a miss.
- A slot is **missed** when it is not served and `slot + grace <= now` (grace: the task's
  `grace=`, default 5 minutes). Only slots after the task was installed count (plus one minute,
  because cron picks up a changed crontab at the next minute), and only slots in the last
  MISSED_LOOKBACK (7 days), at most the latest MISSED_MAX_SLOTS (1440: one day of a per-minute
  task): a host that was off for a month costs the same as one off for a week.
- **Durations** in stats are the runs that executed the task (succeeded, failed, timed_out,
  interrupted); percentiles use the nearest-rank method: the p-th percentile of n sorted values is
  the value at 1-based rank ceil(p/100 * n).
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from .config import Settings
from .errors import ServiceUnavailable
from .host import cron_daemon_pids
from .registry import Registry, Task
from .status import RunStatus

T = TypeVar("T")

UP, DOWN, UNUSED = "up", "down", "unused"
SERVICES = ("run_log", "redis", "crontab", "cron_daemon", "log_dir")

MISSED_LOOKBACK = timedelta(days=7)
MISSED_MAX_SLOTS = 1440
# Cron rereads a changed crontab at the start of the next minute: a slot within a minute of the
# install may not have been picked up yet.
INSTALL_SETTLE = timedelta(minutes=1)
# Budget of every probe and of the run-log queries of one command; `health` must stay within a
# few seconds even with a service hanging.
CHECK_TIMEOUT = 4.0
REDIS_TIMEOUT = 1.5
FAILED_STATUSES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)
EXECUTED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)
LAST_HEALTH_CHECK = "last_health_check"
LAST_HEALTH_RESULT = "last_health_result"
_RUN_IN_LINE = re.compile(r"\srun\s+([a-z0-9][a-z0-9-]{0,63})(?:\s|$)")


# --- bounded calls ---------------------------------------------------------------------------


class NoAnswer(ServiceUnavailable):
    """A service did not answer within its deadline."""


def bounded(what: str, seconds: float, func: Callable[[], T]) -> T:
    """Return func() computed in a daemon thread; raise NoAnswer when it takes longer than `seconds`.

    The thread is abandoned, not killed: it dies with the process, which is what a CLI check wants.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"cronkit-{what}", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    if thread.is_alive():
        raise NoAnswer(f"{what}: no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _message(exc: BaseException) -> str:
    from .runlog.engines import first_line

    return first_line(exc)


# --- services --------------------------------------------------------------------------------


@dataclass
class Probe:
    state: str
    detail: str = ""


def probe_cron_daemon() -> Probe:
    pids = cron_daemon_pids()
    if pids:
        return Probe(UP, f"pid {', '.join(map(str, pids))}")
    return Probe(DOWN, "no cron daemon process (cron, crond) is running on this host")


def probe_log_dir(path: Path) -> Probe:
    """Tell whether runs can write their logs under `path` (or create it)."""
    if path.is_dir():
        if os.access(path, os.W_OK | os.X_OK):
            return Probe(UP, str(path))
        return Probe(DOWN, f"{path} is not writable")
    if path.exists():
        return Probe(DOWN, f"{path} is not a directory")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Probe(UP, f"{path} (created on first run)")
    return Probe(DOWN, f"{path} does not exist and {parent} is not writable")


def probe_redis(url: str, timeout: float = REDIS_TIMEOUT) -> Probe:
    import redis

    from .runlog.engines import describe_url

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        return Probe(DOWN, f"{describe_url(url)}: {_message(exc)}")
    finally:
        client.close()
    return Probe(UP, describe_url(url))


# --- the installed block ---------------------------------------------------------------------


@dataclass
class Drift:
    """One difference between the installed block and what the registry renders now."""

    task: str | None
    kind: str  # missing, extra, changed, hand-edited
    installed: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "kind": self.kind, "installed": self.installed, "expected": self.expected}

    def reason(self) -> str:
        who = f"task {self.task}" if self.task else "a line of the block that names no task"
        return {
            "missing": f"crontab: {who} is not in the installed block: run cronkit install",
            "extra": f"crontab: {who} is installed but not rendered by the registry here: run cronkit install",
            "changed": f"crontab: {who} renders differently now than when installed: run cronkit install",
            "hand-edited": f"crontab: {who}: the installed line was edited by hand: run cronkit install",
        }[self.kind]


@dataclass
class Installation:
    """What is installed, compared with what would be installed now."""

    state: dict[str, Any] | None
    block_id: str | None
    target: str | None
    installed: list[str] | None  # lines of the block found in the crontab; None: no block
    expected: list[str]
    installed_at: dict[str, datetime]
    drift: list[Drift]

    @property
    def block_present(self) -> bool:
        return self.installed is not None


def task_of_line(line: str) -> str | None:
    """Return the task a rendered cron line runs (`... cronkit run TASK ...`), None for other lines."""
    match = _RUN_IN_LINE.search(" " + line)
    return match.group(1) if match else None


def _by_task(lines: Iterable[str]) -> dict[str | None, list[str]]:
    grouped: dict[str | None, list[str]] = {}
    for line in lines:
        text = line.rstrip("\n")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        grouped.setdefault(task_of_line(text), []).append(text)
    return grouped


def compare_lines(installed: Sequence[str], expected: Sequence[str], recorded: Sequence[str] | None) -> list[Drift]:
    """Report, by task, how the installed block differs from what the registry renders now.

    `recorded` is what the last install wrote (install state): a task whose installed lines
    differ from them was edited by hand; one whose recorded lines differ from the expected
    ones changed in the registry or settings since.
    """
    have, want = _by_task(installed), _by_task(expected)
    was = _by_task(recorded) if recorded is not None else None
    drift: list[Drift] = []
    for task in sorted(set(have) | set(want), key=lambda t: (t is None, t or "")):
        got, exp = have.get(task, []), want.get(task, [])
        if got == exp:
            continue
        if not got:
            kind = "missing"
        elif not exp:
            kind = "extra" if task is not None and (was is None or got == was.get(task, [])) else "hand-edited"
        elif was is not None and got != was.get(task, []):
            kind = "hand-edited"
        else:
            kind = "changed"
        drift.append(Drift(task, kind, got, exp))
    return drift


def _parse_instant(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def read_installation(settings: Settings, registry: Registry) -> Installation:
    """Read install state and the installed block, render the registry now, and compare them."""
    from . import install

    state = install.read_install_state(settings)
    target = (state or {}).get("target") or install.DEFAULT_TARGET
    expected = install.expected_lines(settings, registry, target)
    installed = install.installed_lines(settings, registry, target, state)
    installed_at: dict[str, datetime] = {}
    if state:
        default = _parse_instant(state.get("installed_at"))
        per_task = state.get("tasks") or {}
        for name, info in per_task.items():
            when = _parse_instant(info.get("installed_at") if isinstance(info, Mapping) else info)
            if when is not None:
                installed_at[name] = when
        if default is not None:
            for name in _by_task(state.get("lines") or []):
                if name is not None:
                    installed_at.setdefault(name, default)
    recorded = state.get("lines") if state else None
    drift = compare_lines(installed, expected, recorded) if installed is not None else []
    return Installation(state, (state or {}).get("block_id"), target, installed, expected, installed_at, drift)


# --- missed slots ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The slots of one task to check against the run log."""

    task: str
    slots: tuple[datetime, ...]
    since: datetime  # slots after this instant were examined
    capped: bool  # older slots in the lookback were not examined


def candidate_slots(expr: str, zone: str, *, installed_at: datetime, now: datetime, grace: float,
                    lookback: timedelta = MISSED_LOOKBACK, max_slots: int = MISSED_MAX_SLOTS,
                    task: str = "") -> Window:
    """Return the latest (at most `max_slots`) slots whose grace has passed, since install and lookback.

    Walks back from `now - grace` in windows that double in width, so a dense schedule stops
    after about `max_slots` slots and a sparse one after a few calls.
    """
    from .schedule import slots_between

    end = now.astimezone(UTC) - timedelta(seconds=grace)
    floor = max(installed_at.astimezone(UTC) + INSTALL_SETTLE, now - lookback)
    found: list[datetime] = []
    high, width = end, timedelta(hours=1)
    while high > floor and len(found) < max_slots:
        low = max(floor, high - width)
        found[:0] = list(slots_between(expr, zone, low, high))
        high, width = low, width * 2
    # Capped: older slots within the lookback exist that were not examined.
    capped = len(found) > max_slots or (high > floor and next(slots_between(expr, zone, floor, high), None) is not None)
    found = found[-max_slots:]
    since = found[0] - timedelta(seconds=1) if capped and found else floor
    return Window(task, tuple(found), since, capped)


@dataclass(frozen=True)
class Missed:
    count: int
    latest: datetime | None
    since: datetime
    capped: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "latest": _iso(self.latest),
            "since": _iso(self.since),
            "capped": self.capped,
        }


def count_missed(conn: Any, window: Window) -> Missed:
    """Count the slots of `window` no run served, with one indexed query."""
    from .runlog.reader import served_slots_query
    from .runlog.times import to_ms

    if not window.slots:
        return Missed(0, None, window.since, window.capped)
    query = served_slots_query(window.task, to_ms(window.slots[0]), to_ms(window.slots[-1]))
    served = {int(v) for v in conn.execute(query).scalars()}
    missed = [slot for slot in window.slots if to_ms(slot) not in served]
    return Missed(len(missed), missed[-1] if missed else None, window.since, window.capped)


def missed_slots(engine: Any, task: Task, zone: str, *, installed_at: datetime, now: datetime,
                 lookback: timedelta = MISSED_LOOKBACK, max_slots: int = MISSED_MAX_SLOTS) -> Missed:
    """Return how many slots of `task` were missed since it was installed, and the latest."""
    window = candidate_slots(task.schedule, zone, installed_at=installed_at, now=now, grace=task.grace,
                             lookback=lookback, max_slots=max_slots, task=task.name)
    with engine.connect() as conn:
        return count_missed(conn, window)


def _iso(value: datetime | int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        from .runlog.times import iso

        return iso(value)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _run_summary(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row.id,
        "status": row.status,
        "trigger": row.trigger,
        "scheduled_for": _iso(row.scheduled_for),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "duration_ms": row.duration_ms,
        "error": row.error,
    }


# --- status ----------------------------------------------------------------------------------


def _open_runlog(settings: Settings) -> Any:
    from sqlalchemy import text

    from .runlog.reader import RunLog

    log = RunLog.open(settings)
    with log.engine.connect() as conn:
        conn.execute(text("SELECT max(id) FROM runs")).all()
    return log


def _scheduled_here(settings: Settings, registry: Registry) -> list[Task]:
    return registry.enabled_in(settings.environment, settings.task_config)


def status(settings: Settings, registry: Registry, now: datetime, *, timeout: float = CHECK_TIMEOUT) -> dict[str, Any]:
    """Return the scheduler's state (SPEC section 8) as a JSON-ready dict with stable keys."""
    from .schedule import describe, next_run

    now = now.astimezone(UTC)
    scheduled = _scheduled_here(settings, registry)
    scheduled_names = {t.name for t in scheduled}
    services: dict[str, str] = {}
    details: dict[str, str] = {}
    errors: dict[str, str] = {}

    # Import what the probes need first: the deadline is for services that hang, not for a
    # loaded machine importing SQLAlchemy.
    from . import install  # noqa: F401
    from .runlog import engines, reader  # noqa: F401

    if settings.redis_url:
        import redis  # noqa: F401

    # Probe everything at once; each probe has its own deadline.
    results: dict[str, Any] = {}

    def run_probe(name: str, func: Callable[[], Any]) -> threading.Thread:
        def target() -> None:
            try:
                results[name] = func()
            except BaseException as exc:
                results[name] = exc

        thread = threading.Thread(target=target, name=f"cronkit-{name}", daemon=True)
        thread.start()
        return thread

    probes: dict[str, Callable[[], Any]] = {
        "run_log": lambda: _open_runlog(settings),
        "installation": lambda: read_installation(settings, registry),
        "cron_daemon": probe_cron_daemon,
        "log_dir": lambda: probe_log_dir(settings.log_dir),
    }
    if settings.redis_url:
        url = settings.redis_url
        probes["redis"] = lambda: probe_redis(url)
    threads = {name: run_probe(name, func) for name, func in probes.items()}
    import time

    deadline = time.monotonic() + timeout
    for name, thread in threads.items():
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            results[name] = NoAnswer(f"no answer within {timeout:g} s")

    log = results.get("run_log")
    if isinstance(log, BaseException):
        services["run_log"], errors["run_log"] = DOWN, _message(log)
        log = None
    else:
        services["run_log"], details["run_log"] = UP, _redacted(settings.db_url)

    if "redis" in probes:
        probe = results["redis"]
        if isinstance(probe, BaseException):
            services["redis"], errors["redis"] = DOWN, f"{_redacted(settings.redis_url or '')}: {_message(probe)}"
        else:
            services["redis"] = probe.state
            (details if probe.state == UP else errors)["redis"] = probe.detail
    else:
        services["redis"] = UNUSED

    installation = results["installation"]
    if isinstance(installation, BaseException):
        errors["crontab"] = _message(installation)
        installation = None
    nothing_here = not scheduled and (installation is None or not installation.block_present)
    if nothing_here:
        # Nothing to run here: an unreadable crontab (no crontab command on a dev box) is no concern.
        services["crontab"] = UNUSED
        errors.pop("crontab", None)
    elif installation is None:
        services["crontab"] = DOWN
    else:
        services["crontab"] = UP
        details["crontab"] = str(installation.target)

    for name in ("cron_daemon", "log_dir"):
        probe = results[name]
        if isinstance(probe, BaseException):
            services[name], errors[name] = DOWN, _message(probe)
        else:
            services[name] = probe.state
            (details if probe.state == UP else errors)[name] = probe.detail
    if nothing_here and services["cron_daemon"] == DOWN:
        services["cron_daemon"] = UNUSED
        errors.pop("cron_daemon", None)

    initialized = bool(installation and installation.block_present and not installation.drift)
    drift_by_task: dict[str | None, list[dict[str, Any]]] = {}
    for item in installation.drift if installation else []:
        drift_by_task.setdefault(item.task, []).append(item.as_dict())

    # Slots to check are computed here (CPU only); the run log answers for all tasks at once below.
    windows: dict[str, Window] = {}
    if installation is not None and installation.block_present:
        for task in scheduled:
            installed_at = installation.installed_at.get(task.name)
            if installed_at is None:
                continue
            windows[task.name] = candidate_slots(
                task.schedule, task.zone(settings.timezone), installed_at=installed_at, now=now,
                grace=task.grace, task=task.name,
            )

    db: dict[str, Any] = {}
    if log is not None:
        engine = log.engine

        from .runlog.reader import active_runs_query, latest_run_query, read_meta

        def read_runlog() -> dict[str, Any]:
            out: dict[str, Any] = {"last": {}, "missed": {}}
            with engine.connect() as conn:
                out["active"] = int(conn.execute(active_runs_query()).scalar() or 0)
                out["last_health_check"] = read_meta(conn, LAST_HEALTH_CHECK)
                out["last_health_result"] = read_meta(conn, LAST_HEALTH_RESULT)
                for task in registry:
                    out["last"][task.name] = _run_summary(conn.execute(latest_run_query(task.name)).first())
                for name, window in windows.items():
                    out["missed"][name] = count_missed(conn, window)
            return out

        try:
            db = bounded("run log", max(0.5, deadline - time.monotonic()), read_runlog)
        except Exception as exc:
            services["run_log"], errors["run_log"] = DOWN, _message(exc)
            details.pop("run_log", None)

    tasks_out: list[dict[str, Any]] = []
    failed_jobs = 0
    for task in registry:
        zone = task.zone(settings.timezone)
        here = task.name in scheduled_names
        last = db.get("last", {}).get(task.name)
        if here and last and last["status"] in FAILED_STATUSES:
            failed_jobs += 1
        missed = db.get("missed", {}).get(task.name)
        tasks_out.append({
            "name": task.name,
            "schedule": task.schedule,
            "schedule_text": describe(task.schedule),
            "timezone": zone,
            "scheduled": here,
            "installed_at": _iso(installation.installed_at.get(task.name)) if installation else None,
            "next_run": _iso(next_run(task.schedule, zone, now)) if here else None,
            "last_run": last,
            "missed": missed.as_dict() if missed is not None else None,
            "drift": drift_by_task.get(task.name, []),
        })

    return {
        "checked_at": _iso(now),
        "initialized": initialized,
        "enabled": bool(scheduled),
        "environment": settings.environment,
        "timezone": settings.timezone,
        "total_jobs": len(scheduled),
        "registered_tasks": len(registry),
        # None, not 0, when the run log could not tell.
        "active_jobs": db.get("active"),
        "failed_jobs": failed_jobs if db else None,
        "last_health_check": db.get("last_health_check"),
        "last_health_result": db.get("last_health_result"),
        "services": services,
        "service_details": details,
        "service_errors": errors,
        "block": {
            "id": installation.block_id if installation else None,
            "target": installation.target if installation else None,
            "present": installation.block_present if installation else None,
            "drift": [d.as_dict() for d in installation.drift] if installation else [],
        },
        "tasks": tasks_out,
    }


def _redacted(url: str) -> str:
    from .runlog.engines import describe_url

    return describe_url(url)


# --- health ----------------------------------------------------------------------------------


def reasons_from_status(report: Mapping[str, Any]) -> list[str]:
    """Return every reason the scheduler described by `report` (from `status`) is unhealthy."""
    reasons: list[str] = []
    services, errors = report["services"], report["service_errors"]
    if services["run_log"] == DOWN:
        reasons.append(f"run log unreachable: {errors.get('run_log', 'unknown error')}")
    if services["redis"] == DOWN:
        reasons.append(f"redis down: {errors.get('redis', 'unknown error')}")
    block = report["block"]
    if report["total_jobs"]:
        if services["crontab"] == DOWN:
            reasons.append(f"crontab unreadable: {errors.get('crontab', 'unknown error')}")
        elif not block["present"]:
            reasons.append(
                f"crontab: the cronkit block is not installed while {report['total_jobs']} tasks are scheduled"
                f" in {report['environment']}: run cronkit install"
            )
    if block["present"]:
        for item in block["drift"]:
            reasons.append(Drift(item["task"], item["kind"], item["installed"], item["expected"]).reason())
    for task in report["tasks"]:
        missed = task["missed"]
        if missed and missed["count"]:
            more = " (at least; older slots not examined)" if missed["capped"] else ""
            reasons.append(
                f"task {task['name']}: missed {missed['count']} slot{'s' if missed['count'] != 1 else ''}"
                f"{more} since {missed['since']}, latest {missed['latest']}"
            )
        last = task["last_run"]
        if task["scheduled"] and last and last["status"] in FAILED_STATUSES:
            error = f": {last['error'].splitlines()[0][:200]}" if last.get("error") else ""
            reasons.append(f"task {task['name']}: latest run {last['id']} {last['status']} at {last['started_at']}{error}")
    return reasons


def health(settings: Settings, registry: Registry, now: datetime, *,
           timeout: float = CHECK_TIMEOUT) -> tuple[bool, list[str]]:
    """Check the scheduler; return (healthy, every reason it is not) and record `last_health_check`."""
    healthy, reasons, _report = health_report(settings, registry, now, timeout=timeout)
    return healthy, reasons


def health_report(settings: Settings, registry: Registry, now: datetime, *,
                  timeout: float = CHECK_TIMEOUT) -> tuple[bool, list[str], dict[str, Any]]:
    """Like `health`, also returning the status report the verdict was drawn from."""
    import time

    started = time.monotonic()
    report = status(settings, registry, now, timeout=timeout)
    reasons = reasons_from_status(report)
    healthy = not reasons
    if report["services"]["run_log"] == UP:
        from .runlog.reader import RunLog, write_meta

        def record() -> None:
            log = RunLog(_engine_for(settings))
            result = "healthy" if healthy else f"unhealthy: {len(reasons)} reason{'s' if len(reasons) != 1 else ''}"
            write_meta(log.engine, {LAST_HEALTH_CHECK: _iso(now) or "", LAST_HEALTH_RESULT: result})

        try:
            bounded("run log", max(0.5, timeout - (time.monotonic() - started)), record)
            report["last_health_check"] = _iso(now)
        except Exception as exc:
            reasons.append(f"run log unreachable: recording the health check failed: {_message(exc)}")
            healthy = False
    return healthy, reasons, report


def _engine_for(settings: Settings) -> Any:
    from .runlog.engines import create_engine_for

    return create_engine_for(settings.db_url)


# --- stats -----------------------------------------------------------------------------------


def percentile(values: Sequence[int], p: float) -> int | None:
    """Return the p-th percentile of sorted `values` by nearest rank (None when empty)."""
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


def stats(settings: Settings, days: float, now: datetime, registry: Registry | None = None) -> list[dict[str, Any]]:
    """Return per task, over the last `days`: runs, outcomes, success rate, p50/p95, last success and failure.

    Reads only the runs of the window (index on started_at), plus one indexed lookup per task
    and status for the last success and failure, whenever they were.
    """
    from .runlog.reader import RunLog, latest_run_query, open_dead_letters_query, window_runs_query
    from .runlog.times import to_ms

    now = now.astimezone(UTC)
    since = now - timedelta(days=days)
    log = RunLog.open(settings)
    counts: dict[str, dict[str, int]] = {}
    durations: dict[str, list[int]] = {}
    with log.engine.connect() as conn:
        for task, status_, duration_ms in conn.execute(window_runs_query(to_ms(since), to_ms(now))):
            by_status = counts.setdefault(task, {})
            by_status[status_] = by_status.get(status_, 0) + 1
            if status_ in EXECUTED_STATUSES and duration_ms is not None:
                durations.setdefault(task, []).append(int(duration_ms))
        letters = {task: int(n) for task, n in conn.execute(open_dead_letters_query())}
        names = list(registry.names()) if registry is not None else []
        names += sorted(set(counts) - set(names))
        rows = []
        for name in names:
            by_status = counts.get(name, {})
            successes = by_status.get(RunStatus.SUCCEEDED, 0)
            failures = sum(by_status.get(s, 0) for s in FAILED_STATUSES)
            decided = successes + failures + by_status.get(RunStatus.INTERRUPTED, 0)
            values = sorted(durations.get(name, []))
            last_success = conn.execute(latest_run_query(name, RunStatus.SUCCEEDED)).first()
            last_failures = [conn.execute(latest_run_query(name, s)).first() for s in FAILED_STATUSES]
            last_failure = max((r for r in last_failures if r is not None), key=lambda r: r.id, default=None)
            rows.append({
                "task": name,
                "runs": sum(by_status.values()),
                "successes": successes,
                "failures": failures,
                "skipped": by_status.get(RunStatus.SKIPPED, 0),
                "interrupted": by_status.get(RunStatus.INTERRUPTED, 0),
                "running": by_status.get(RunStatus.RUNNING, 0),
                "success_rate": round(successes / decided, 4) if decided else None,
                "p50_ms": percentile(values, 50),
                "p95_ms": percentile(values, 95),
                "last_success": _iso(last_success.started_at) if last_success is not None else None,
                "last_failure": _iso(last_failure.started_at) if last_failure is not None else None,
                "last_failure_status": last_failure.status if last_failure is not None else None,
                "open_dead_letters": letters.get(name, 0),
            })
    log.engine.dispose()
    return rows


__all__ = [
    "status", "health", "health_report", "stats", "missed_slots", "candidate_slots", "count_missed",
    "percentile", "compare_lines", "read_installation", "bounded", "NoAnswer",
]
