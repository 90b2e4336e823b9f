"""`cronkit run`: the body of the command cron starts on every tick, kept free of typer, rich and SQLAlchemy."""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime

from cronkit.cli.state import CliState, GlobalOptions, report_error
from cronkit.config.settings import find_config_file
from cronkit.errors import CronkitError, UsageError
from cronkit.plain import TYPE_CHECKING, field, record
from cronkit.registry import Registry, check_task_tables
from cronkit.registry.params import check_request
from cronkit.registry.sets import load_registries
from cronkit.runlog import startfail
from cronkit.runlog.status import RunStatus, Trigger
from cronkit.runner import RunOutcome, RunRequest, run_task
from cronkit.safe import jsontext
from cronkit.safe.inputs import MAX_ROW_ID, row_id
from cronkit.safe.redact import Redactor, redactor_for
from cronkit.safe.terminal import printable
from cronkit.schedule import zone_info

if TYPE_CHECKING:
    from collections.abc import Callable

    from cronkit.config.settings import Settings

DEFAULT_TRIGGER = "manual"


@record
class RunArgs:
    task: str
    params: list[str] = field(default_factory=list)
    date: str | None = None
    dry_run: bool = False
    trigger: str = DEFAULT_TRIGGER
    json: bool = False
    run_id: str | None = None  # adopt a run `cronkit serve` recorded (trigger api)
    force: bool = False  # run even while the task is paused


def run_body(state: CliState, *, task: str, params: list[str] | None, date: str | None, dry_run: bool,
             trigger: str, json: bool, run_id: str | None, force: bool) -> int:
    """Run `cronkit run TASK [options]` (the command table's body); return the exit code."""
    return run_command(state.options, RunArgs(task=task, params=list(params or []), date=date, dry_run=dry_run,
                                              trigger=trigger, json=json, run_id=run_id, force=force))


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param: expected KEY=VALUE, got {pair!r}")
        params[key.strip()] = value
    return params


def parse_run_id(value: str | None) -> int | None:
    if value is None:
        return None
    number = row_id(value)
    if number is None:
        raise UsageError(f"--run-id: {value!r} is not a run id (a whole number from 1 to {MAX_ROW_ID})")
    return number


def parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_trigger(value: str) -> Trigger:
    """Return the trigger `--trigger` names; UsageError for one a command line may not give."""
    try:
        trigger = Trigger(value)
    except ValueError:
        raise UsageError(f"--trigger: must be cron, manual, retry or api, not {value!r}") from None
    if trigger == Trigger.CATCHUP:
        raise UsageError("--trigger: catchup runs are started by `cronkit check`, which names their slot")
    return trigger


def run_command(opts: GlobalOptions, args: RunArgs) -> int:
    """Run a task for the CLI: print per SPEC (quiet cron success), return the exit code."""
    settings: Settings | None = None
    try:
        trigger = parse_trigger(args.trigger)
        request = RunRequest(task=args.task, trigger=trigger, params=parse_params(args.params),
                             date=parse_date(args.date), dry_run=args.dry_run, run_id=parse_run_id(args.run_id),
                             force=args.force)
        settings = opts.settings()
        registry = load_registries(settings)
        registry.apply_spread_seed(settings.spread_seed)
        # Settings are validated once, the same way for every command: a [tasks.x] table that names
        # no task or holds a bad key fails `run` too, not only `list` and `install`.
        check_task_tables(registry, settings.task_config)
        check_run_request(settings, registry, request)
        outcome = run_task(settings, registry, request, os.environ, adopt_orphans=True)
    except CronkitError as exc:
        return _refused(opts, args, settings, exc)
    except Exception as exc:
        if args.trigger != "cron" or opts.wants_debug(settings):
            raise
        # cron mails what a run prints, if anyone reads it: leave the trace status shows too.
        record_start_failure(opts, args.task, settings, exc, 1)
        said = redact_for(settings)(f"{type(exc).__name__}: {exc}")
        print(f"cronkit: error: {said} (run with --debug for the traceback)", file=sys.stderr)
        return 1
    if args.trigger == "cron":
        startfail.clear(settings.home, startfail.key_for(opts.config))
    return _report(args, trigger, outcome)


def _refused(opts: GlobalOptions, args: RunArgs, settings: Settings | None, exc: CronkitError) -> int:
    """Answer a run that could not start (a CronkitError): one line, the start-failure record for cron."""
    if args.trigger == "cron":
        record_start_failure(opts, args.task, settings, exc, int(getattr(exc, "exit_code", 1)))
    code = report_error(exc, opts.wants_debug(settings))
    if args.json:  # a script asked for JSON: the refusal is an answer too (no run was recorded)
        print(jsontext.dumps({"run_id": None, "status": None, "exit_code": code, "duration_ms": None,
                              "result": None, "error": printable(str(exc)), "dead_letter_id": None}, sort_keys=True))
    return code


def _report(args: RunArgs, trigger: Trigger, outcome: RunOutcome) -> int:
    """Print what a finished run says (per SPEC: nothing for a quiet cron success); return its exit code."""
    if args.json:
        print(jsontext.dumps({"run_id": outcome.run_id, "status": outcome.status, "exit_code": outcome.exit_code,
                              "duration_ms": outcome.duration_ms, "result": outcome.result,
                              "error": outcome.error, "dead_letter_id": outcome.dead_letter_id}, sort_keys=True))
        return outcome.exit_code
    if outcome.quiet:
        return outcome.exit_code
    if outcome.exit_code == 0:
        if trigger != Trigger.CRON:
            print(printable(outcome.summary))
            if outcome.result:
                print(jsontext.dumps(outcome.result, sort_keys=True, indent=2, default=str))
    elif not (trigger == Trigger.CRON and outcome.status == RunStatus.SKIPPED):
        print(printable(outcome.summary), file=sys.stderr)
    return outcome.exit_code


def check_run_request(settings: Settings, registry: Registry, request: RunRequest) -> None:
    """Check the task name, `--param`s and `--date` before anything is recorded (exit 2 when bad)."""
    task = registry[request.task]
    if not request.params and request.date is None:
        return
    now = (settings.now or datetime.now(UTC)).astimezone(UTC)
    today = now.astimezone(zone_info(task.zone(settings.timezone))).date()
    check_request(task.name, task.params, task.dates, request.params, request.date, today, now)


def record_start_failure(opts: GlobalOptions, task: str, settings: Settings | None,
                         exc: BaseException, code: int) -> None:
    """Leave the trace of a cron run (`run TASK`, or the block's `check`) that could not start,
    for `status` and `health`, and tell the failure notifiers its settings name, once per cause."""
    home = settings.home if settings is not None else startfail.home_for(opts.config, opts.home, os.environ)
    error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    error = redact_for(settings)(error)
    key = startfail.key_for(opts.config)
    startfail.record(home, key, task=task, error=error, exit_code=code,
                     at=datetime.now(UTC).isoformat(timespec="seconds"))
    try:
        # lazy: the notification stack, only for a start that failed
        from cronkit.notify.start_failure import tell

        config = settings.config_file if settings is not None else find_config_file(opts.config, os.environ)
        tell(home / startfail.DIRECTORY, key, task, error, code, settings, config, os.environ)
    except Exception:  # noqa: BLE001 - telling is a courtesy: the record and the exit code stand
        pass


def redact_for(settings: Settings | None) -> Callable[[str], str]:
    """The redactor for what a command that failed before its run says: settings and environment."""
    return redactor_for(settings, os.environ) if settings is not None else Redactor.from_sources(os.environ)


__all__ = ["RunArgs", "check_run_request", "record_start_failure", "redact_for", "run_body", "run_command"]
