"""One run of one task: slot, locks, attempts in a child process, timeout, signals, capture, record.

- policy.py: whether the run goes ahead (enabled, locks, slot), attempts and backoff, the record.
- supervise.py: one attempt as a forked process group, given a plain AttemptSpec.
- child.py: the forked child's side: it calls the task function and reports the result.
- duties.py: what the supervision loop keeps up meanwhile: heartbeat and Redis lease.
- capture.py: the run's output, in a temp file, then the task's log file and the run log.
- spec.py: the plain data passed between them (RunRequest, RunFacts, RunOutcome, AttemptSpec, ...).

Data passed across a seam is a record (`cronkit.plain`: a dataclass's shape without importing
`dataclasses`); objects with state and behaviour (RunPolicy, Record, Guards, Supervisor, Duties,
Capture) are plain classes. Cron starts this path every minute, so what it imports is declared
(tests/runner/test_import_probe.py) and the rest waits behind lazy seams, each marked `# lazy:`:
the notifiers, Redis, SQLAlchemy, logging and traceback load only for a run that needs them.
"""

from __future__ import annotations

import gc

_collecting = gc.isenabled()
gc.disable()  # during the imports: see cronkit/__init__.py
try:
    from collections.abc import Mapping
    from datetime import datetime

    from cronkit import runlog
    from cronkit.clock import now as clock_now
    from cronkit.config.settings import Settings
    from cronkit.errors import EXIT_OK, TaskPaused
    from cronkit.registry import Registry, task_config
    from cronkit.runlog.journal import apply_journal, fallback_dir
    from cronkit.runlog.pauses import current_pause
    from cronkit.runlog.status import Trigger
    from cronkit.runlog.times import to_ms
    from cronkit.runlog.writer import RunStore
    from cronkit.runner.policy import RunPolicy
    from cronkit.runner.slots import choose_slot
    from cronkit.runner.spec import RunFacts, RunOutcome, RunRequest
finally:
    gc.freeze()  # what the imports made lives as long as the process: no collection looks at it again
    if _collecting:
        gc.enable()


def run_task(settings: Settings, registry: Registry, request: RunRequest, environ: Mapping[str, str],
             *, adopt_orphans: bool = False) -> RunOutcome:
    """Run one task as SPEC section 6 says, record it, and return what the CLI should report.

    `adopt_orphans` (for a process that starts no children of its own and ends with the run,
    like the `cronkit run` CLI) makes this process the reaper of what the task detaches, so that
    it is stopped too.
    """
    task = registry[request.task]  # UnknownTask: exit 2, nothing recorded
    if adopt_orphans:
        # The process ends with this run, and what is alive now (modules, settings, registry) lives
        # until then: frozen, the collector stops scanning it (a full pass costs ~2 ms a tick) and
        # the forked attempt does not copy the pages a collection would touch.
        gc.freeze()
    config = task_config(task, settings.for_task(task.name))
    started = clock_now()
    slot = request.slot if request.trigger != Trigger.CRON else None
    store: RunStore | None = None
    late_ms = 0
    try:
        if request.trigger == Trigger.CRON:
            def held(candidate: datetime) -> bool:
                nonlocal store
                store = store or runlog.open(settings.db_url, create=True)
                return store.slot_holder(task.name, to_ms(candidate)) is not None

            zone = task.zone(settings.timezone)
            choice = choose_slot(task.resolved_schedule, zone, started, task.grace, held)
            if choice is None:
                return RunOutcome(EXIT_OK, quiet=True, summary=f"{task.name}: not due now in {zone}")
            slot, late_ms = choice.slot, choice.late_ms
        store = store or runlog.open(settings.db_url, create=True)

        # outcomes earlier runs could not write
        apply_journal(store, settings.home, settings.db_url, fallback=fallback_dir(settings.task_log_dir))
        paused = None if request.force else _paused(store, request, started)
        facts = RunFacts.build(settings, task, config, request, environ, started, slot, late_ms=late_ms,
                               paused=paused)
        outcome = RunPolicy(facts, store, adopt_orphans=adopt_orphans).execute()
        if adopt_orphans:  # and at its exit, the interpreter's last collection frees nothing either
            gc.freeze()
        return outcome
    finally:
        if store is not None:
            store.close()


def _paused(store: RunStore, request: RunRequest, started: datetime) -> str | None:
    """Read the task's pause (one indexed row); a start by hand refuses, others are recorded skipped.

    A cron or catch-up start is recorded `skipped` with the pause (its slot shows why it did not
    run); so is an API start, whose run the service recorded already. A start by hand (`run`,
    `dlq retry`) refuses with TaskPaused (exit 75) and records nothing.
    """
    pause = current_pause(store.sql, request.task, to_ms(started))
    if pause is None:
        return None
    if request.trigger in (Trigger.MANUAL, Trigger.RETRY):
        raise TaskPaused(f"{request.task} is {pause.describe()}; `cronkit resume {request.task}`,"
                         " or run it anyway with --force")
    return pause.describe()


__all__ = ["RunOutcome", "RunRequest", "run_task"]
