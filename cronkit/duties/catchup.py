"""Catch-up: which missed slots to run after downtime, and why each recent slot is what it is.

A slot is **missed** here as in health/missed.py: no run of the task has it as `scheduled_for`
and its grace (`grace=`, default 5 minutes) has passed. What happens to a missed slot is the
task's `catchup` policy (SPEC section 12):

- `skip`: nothing; `status` reports it missed.
- `latest`: the newest slot whose grace has passed is run, if it was missed; older missed slots
  are superseded by it (systemd's `Persistent=true`, anacron, Kubernetes' most recent missed
  schedule).
- `all`: every missed slot among the newest `catchup_max` slots of the window, oldest first
  (Cronicle's replay, with a cap like Kubernetes' 100 misses).

Under every policy a slot older than `catchup_window` (Kubernetes' startingDeadlineSeconds) or
from before the task's install is not run, only reported. A task is known to be scheduled here
from its install record, or else from its first cron run in the run log (a block installed under
another home, a host sharing the run log); a task with neither is never caught up. `explain` and `plan` are pure
functions of the registry's tasks, facts read from the run log, and `now`; `read_facts` reads
those facts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cronkit import runlog
from cronkit.cronfile.installed import installed_times
from cronkit.cronfile.state import read_install_state
from cronkit.health.missed import (
    INSTALL_SETTLE,  # a slot within a minute of the install may not have fired
)
from cronkit.health.report import start_failure
from cronkit.registry import Task
from cronkit.runlog.pauses import Pause, covering, pauses_between
from cronkit.runlog.times import from_ms, to_ms
from cronkit.runlog.writer import RunStore
from cronkit.runner.slots import LATE_REACH
from cronkit.schedule import slots_between

EXPLAIN_MAX_SLOTS = 200

RAN, CATCH_UP, SKIPPED, PENDING, PAUSED = "ran", "catch up", "skipped", "pending", "paused"
START_FAILED = "failed"  # cron started it, but the start failed before a run was recorded
BEFORE_INSTALL = "missed before the task was installed"


@dataclass(frozen=True)
class Served:
    """The run that served a slot (the latest, when several did)."""

    run_id: int
    status: str
    trigger: str


@dataclass(frozen=True)
class SlotVerdict:
    """One slot of a task: what happened or will happen to it, and why."""

    task: str
    slot: datetime
    verdict: str  # RAN, CATCH_UP, SKIPPED, PENDING or START_FAILED
    reason: str
    run: Served | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "slot": self.slot.isoformat(), "verdict": self.verdict, "reason": self.reason,
            "run_id": self.run.run_id if self.run else None, "status": self.run.status if self.run else None,
            "trigger": self.run.trigger if self.run else None,
        }


def window_start(task: Task, now: datetime) -> datetime:
    """Return the oldest instant a catch-up of `task` may be for at `now`."""
    return now - timedelta(seconds=task.catchup_window)


@dataclass(frozen=True)
class Explained:
    """The verdicts of a window's latest EXPLAIN_MAX_SLOTS slots, and how many older slots it left out."""

    verdicts: list[SlotVerdict]
    older: int = 0


def explain(task: Task, zone: str, served: Mapping[int, Served], now: datetime, since: datetime,
            installed_at: datetime | None = None, paused: Sequence[Pause] = ()) -> list[SlotVerdict]:
    """Return a verdict for each slot of `task` in (since, now], oldest first (the latest 200)."""
    return explain_window(task, zone, served, now, since, installed_at, paused).verdicts


def _latest_slots(task: Task, zone: str, since: datetime, now: datetime) -> tuple[list[datetime], int]:
    """Return the latest EXPLAIN_MAX_SLOTS slots of `task` in (since, now], oldest first, and how
    many older slots the window has."""
    kept: deque[datetime] = deque(maxlen=EXPLAIN_MAX_SLOTS)
    total = 0
    for slot in slots_between(task.resolved_schedule, zone, since, now):
        kept.append(slot)
        total += 1
    return list(kept), total - len(kept)


def explain_window(task: Task, zone: str, served: Mapping[int, Served], now: datetime, since: datetime,
                   installed_at: datetime | None = None, paused: Sequence[Pause] = ()) -> Explained:
    """Return `explain`'s verdicts with the count of the window's older slots it left out.

    `served` maps a slot (epoch ms) to the run that served it; `installed_at` (None when this
    home has no install record) is when the task's line was installed; `paused` the task's
    pauses in the window: a slot inside one was paused, never caught up (issue 28).
    """
    slots, older = _latest_slots(task, zone, since, now)
    ripe = [s for s in slots if s + timedelta(seconds=task.grace) <= now]
    newest = ripe[-1] if ripe else None
    floor = installed_at + INSTALL_SETTLE if installed_at is not None else None
    oldest_allowed = window_start(task, now)
    eligible = [s for s in ripe if s >= oldest_allowed and (floor is None or s >= floor)]
    # The cap counts the newest eligible slots, run or not: a later check does not reach further back.
    wanted = [s for s in eligible[-task.catchup_max:] if to_ms(s) not in served and covering(paused, to_ms(s)) is None]
    if task.catchup == "all":
        chosen = set(wanted)
    elif task.catchup == "latest":
        chosen = {newest} if newest is not None and newest in wanted else set()
    else:
        chosen = set()
    verdicts = []
    for slot in slots:
        run = served.get(to_ms(slot))
        pause = covering(paused, to_ms(slot))
        if pause is not None and (run is None or run.status == "skipped"):
            seen = f"; {run.trigger} run {run.run_id} skipped" if run is not None else ""
            verdicts.append(SlotVerdict(task.name, slot, PAUSED, pause.describe() + seen, run))
        elif run is not None:
            how = "caught up" if run.trigger == "catchup" else f"{run.trigger} run"
            verdicts.append(SlotVerdict(task.name, slot, RAN, f"{how} {run.run_id}: {run.status}", run))
        elif slot not in ripe:
            verdicts.append(SlotVerdict(task.name, slot, PENDING, f"within its {_span(task.grace)} grace: cron's own run is due"))
        elif slot in chosen:
            verdicts.append(SlotVerdict(task.name, slot, CATCH_UP, f"missed; catchup={task.catchup}"))
        else:
            verdicts.append(SlotVerdict(task.name, slot, SKIPPED, _why_not(task, slot, newest, floor, oldest_allowed)))
    return Explained(verdicts, older)


def _why_not(task: Task, slot: datetime, newest: datetime | None, floor: datetime | None,
             oldest_allowed: datetime) -> str:
    if floor is not None and slot < floor:
        return f"{BEFORE_INSTALL} ({floor - INSTALL_SETTLE:%Y-%m-%d %H:%M}Z)"
    if task.catchup == "skip":
        return "missed; catchup=skip"
    if slot < oldest_allowed:
        return f"missed, older than catchup_window={_span(task.catchup_window)}"
    if task.catchup == "latest":
        return f"missed; superseded by the slot at {newest:%Y-%m-%d %H:%M}Z (catchup=latest)"
    return f"missed; beyond catchup_max={task.catchup_max} (only the newest {task.catchup_max} are run)"


@dataclass(frozen=True)
class CatchUp:
    """One catch-up run to make: the task and the slot it serves."""

    task: str
    slot: datetime


def plan(tasks: Iterable[Task], zones: Mapping[str, str], served: Mapping[str, Mapping[int, Served]],
         now: datetime, installed_at: Mapping[str, datetime] | None = None,
         paused: Mapping[str, Sequence[Pause]] | None = None) -> list[CatchUp]:
    """Return the catch-up runs due at `now` across `tasks`, oldest slot first, then by task name.

    A task paused at `now` is not caught up at all; a slot inside a past pause never is.
    """
    todo = []
    for task in tasks:
        spans = (paused or {}).get(task.name, ())
        if task.catchup == "skip" or covering(spans, to_ms(now)) is not None:
            continue
        since = window_start(task, now) - timedelta(seconds=1)
        for verdict in explain(task, zones[task.name], served.get(task.name, {}), now, since,
                               (installed_at or {}).get(task.name), spans):
            if verdict.verdict == CATCH_UP:
                todo.append(CatchUp(task.name, verdict.slot))
    return sorted(todo, key=lambda c: (c.slot, c.task))


# The run log's facts catch-up reads, in plain SQL for SQLite and PostgreSQL alike ({names}: a
# list of named parameters, one per task).
SERVED_RUNS = ('SELECT task, scheduled_for, id, status, "trigger" FROM runs WHERE task IN ({names}) '
               "AND scheduled_for >= :first AND scheduled_for <= :last ORDER BY id")
CLAIMED_SLOTS = ("SELECT task, scheduled_for FROM slots WHERE task IN ({names}) "
                 "AND scheduled_for >= :first AND scheduled_for <= :last")
FIRST_CRON_SLOTS = ("SELECT task, MIN(scheduled_for) FROM runs WHERE task IN ({names}) "
                    "AND \"trigger\" = 'cron' AND scheduled_for IS NOT NULL GROUP BY task")


def _for_tasks(sql: str, names: Sequence[str], **params: int) -> tuple[str, dict[str, Any]]:
    """Return `sql` with its task list spelled as one named parameter per task, and the parameters."""
    named = {f"task{i}": name for i, name in enumerate(names)}
    return sql.format(names=", ".join(f":{key}" for key in named)), {**named, **params}


def read_served(log: RunStore, tasks: Iterable[str], since: datetime, until: datetime) -> dict[str, dict[int, Served]]:
    """Read from the run log which slots in [since, until] each task's runs served."""
    names = list(tasks)
    out: dict[str, dict[int, Served]] = {name: {} for name in names}
    if not names:
        return out
    window = {"first": to_ms(since), "last": to_ms(until)}
    with log.connection() as execute:
        claimed = {(task, int(slot)) for task, slot in execute(*_for_tasks(CLAIMED_SLOTS, names, **window))}
        for task, slot, run_id, status, trigger in execute(*_for_tasks(SERVED_RUNS, names, **window)):
            # A catch-up that found the task's lock held never claimed its slot: it is still to do.
            if trigger == "catchup" and status == "skipped" and (task, int(slot)) not in claimed:
                continue
            out[task][int(slot)] = Served(int(run_id), str(status), str(trigger))
    return out


def read_paused(log: RunStore, tasks: Iterable[str], since: datetime, until: datetime) -> dict[str, list[Pause]]:
    """Read from the run log the pauses of each task that overlap [since, until]."""
    with log.connection() as execute:
        return {name: pauses_between(execute, name, to_ms(since), to_ms(until)) for name in tasks}


def scheduled_from(settings: Any, log: RunStore, tasks: Iterable[str]) -> dict[str, datetime]:
    """Return, per task known to be scheduled here, when that began: its install record's time,
    else its first cron run's slot (less INSTALL_SETTLE, so that slot is the floor). A task
    missing from the answer was never installed nor run by cron: there is nothing to catch up."""
    names = list(tasks)
    known = {k: v for k, v in _install_times(settings).items() if k in names}
    others = [name for name in names if name not in known]
    if others:
        with log.connection() as execute:
            for task, slot in execute(*_for_tasks(FIRST_CRON_SLOTS, others)):
                known[task] = from_ms(int(slot)) - INSTALL_SETTLE
    return known


def _install_times(settings: Any) -> dict[str, datetime]:
    """Return when each task's line was installed under this home, from its install record."""
    state = read_install_state(settings)
    return installed_times(state) if state else {}


NOT_SCHEDULED = "missed; never installed here nor run by cron, so `cronkit check` does not catch it up"


def explain_default_since(task: Task, now: datetime) -> datetime:
    """Return where `due --explain` starts by default: two catch-up windows and a day back."""
    return now - timedelta(seconds=2 * task.catchup_window) - timedelta(days=1)


def explain_from_log(settings: Any, task: Task, now: datetime, since: datetime | None = None) -> Explained:
    """Return `explain_window` for a task with the facts read from the run log, the install record
    and the block's start-failure record."""
    since = since or explain_default_since(task, now)
    log = runlog.open(settings.db_url, settle=settings)
    try:
        served = read_served(log, [task.name], since, now)[task.name]
        began = scheduled_from(settings, log, [task.name]).get(task.name)
        paused = read_paused(log, [task.name], since, now)[task.name]
    finally:
        log.close()
    explained = explain_window(task, task.zone(settings.timezone), served, now, since, began, paused)
    if began is None:
        explained = replace(explained, verdicts=[
            replace(v, verdict=SKIPPED, reason=NOT_SCHEDULED) if v.verdict == CATCH_UP else v
            for v in explained.verdicts])
    elif task.name not in _install_times(settings):  # known from its first cron run, not an install
        first = f"missed before its first cron run ({began + INSTALL_SETTLE:%Y-%m-%d %H:%M}Z)"
        explained = replace(explained, verdicts=[
            replace(v, reason=first) if v.reason.startswith(BEFORE_INSTALL) else v for v in explained.verdicts])
    return with_start_failure(explained, task, start_failure(settings))


def with_start_failure(explained: Explained, task: Task, failure: Mapping[str, Any] | None) -> Explained:
    """Label the slot whose cron start failed before a run was recorded (the registry did not
    import, the settings were invalid), from the block's start-failure record, which keeps the
    block's latest failed start: the latest slot at or before it (the one that start served, as
    runner.slots chooses), for this task's start, or in the same minute, for another task's. Such
    a slot is `failed`, not "pending" within its grace; one past its grace keeps its catch-up
    verdict, with the cause."""
    try:
        at = datetime.fromisoformat(str(failure["at"])) if failure else None
    except (KeyError, ValueError):
        at = None
    if failure is None or at is None or at.tzinfo is None:
        return explained
    started = failure.get("task")
    own = started == task.name
    said = (f"cron's start at {at:%Y-%m-%d %H:%M}Z failed before a run was recorded" if own else
            f"the block's cron starts fail (latest: {started} at {at:%Y-%m-%d %H:%M}Z)") + f": {failure.get('error')}"
    before = [index for index, v in enumerate(explained.verdicts) if v.slot <= at]
    if not before:
        return explained
    index = before[-1]
    v = explained.verdicts[index]
    reach = timedelta(seconds=task.grace) + LATE_REACH if own else timedelta(minutes=1)
    if v.run is not None or at - v.slot >= reach:
        return explained
    labelled = (replace(v, verdict=START_FAILED, reason=said) if v.verdict == PENDING
                else replace(v, reason=f"{said}; {v.reason}"))
    return replace(explained, verdicts=[*explained.verdicts[:index], labelled, *explained.verdicts[index + 1:]])


@dataclass(frozen=True)
class Fold:
    """Consecutive slots with the same verdict and reason: the first one's verdict, the last slot, how many."""

    first: SlotVerdict
    last: datetime
    count: int


def fold(verdicts: Iterable[SlotVerdict]) -> list[Fold]:
    """Fold each run of consecutive slots with the same verdict and reason; a slot that ran stays alone."""
    folds: list[Fold] = []
    for verdict in verdicts:
        head = folds[-1].first if folds else None
        if (head is not None and verdict.verdict != RAN
                and (head.verdict, head.reason) == (verdict.verdict, verdict.reason)):
            folds[-1] = Fold(head, verdict.slot, folds[-1].count + 1)
        else:
            folds.append(Fold(verdict, verdict.slot, 1))
    return folds


def _span(seconds: float) -> str:
    """Return 86400 as "24h", 90 as "90s", 1800 as "30m"."""
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


__all__ = ["CATCH_UP", "EXPLAIN_MAX_SLOTS", "PAUSED", "PENDING", "RAN", "SKIPPED", "START_FAILED", "CatchUp", "Explained",
           "Fold", "Served",
           "SlotVerdict", "explain", "explain_from_log", "explain_window", "fold", "plan",
           "read_paused", "read_served", "window_start"]
