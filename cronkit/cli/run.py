"""`cronkit run`: the command cron starts on every tick, kept free of typer, rich and SQLAlchemy."""

from __future__ import annotations

import os
import sys
from datetime import date

from cronkit.errors import EXIT_USAGE, CronkitError, UsageError
from cronkit.plain import TYPE_CHECKING, field, record
from cronkit.safe import jsontext as jsonsafe
from cronkit.safe.inputs import MAX_ROW_ID, row_id
from cronkit.safe.terminal import printable

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from cronkit.config.settings import Settings



@record(frozen=True)
class Option:
    """One option of `cronkit run`'s command line: the lean parser reads it, typer's help shows it."""

    name: str
    dest: str
    help: str
    flag: bool = False  # takes no value
    repeat: bool = False  # may be given more than once; the values are kept in order


# The one description of `cronkit [global options] run TASK [options]`: main()'s lean parser
# below walks these tables, and the typer app builds its global options (cli/app.py) and its
# `run` command (cli/tasks.py) from them, so `--help` shows exactly what the parser accepts.
GLOBAL_OPTIONS: tuple[Option, ...] = (
    Option("--config", "config", "TOML config file (else $CRONKIT_CONFIG, else ./cronkit.toml)."),
    Option("--home", "home", "State directory (CRONKIT_HOME)."),
    Option("--env", "env", "Environment name (CRONKIT_ENV)."),
    Option("--db-url", "db_url", "Run log URL (CRONKIT_DB_URL)."),
    Option("--tasks", "tasks", "Task registry: pkg.module, pkg.module:attr or file.py (CRONKIT_TASKS)."),
    Option("--debug", "debug", "Show tracebacks of errors.", flag=True),
)
TASK_HELP = "Task name, as `cronkit list` shows it."
RUN_OPTIONS: tuple[Option, ...] = (
    Option("--param", "params", "KEY=VALUE passed to the task (repeatable).", repeat=True),
    Option("--date", "date", "Compute the period of this day (YYYY-MM-DD): backfill."),
    Option("--dry-run", "dry_run", "Compute and report without changing anything.", flag=True),
    Option("--trigger", "trigger", "cron (used by the crontab line), manual, retry or api."),
    Option("--run-id", "run_id", "Adopt this `running` run that `cronkit serve` recorded (trigger api)."),
    Option("--json", "json", "Print JSON with stable keys instead of a table.", flag=True),
    Option("--force", "force", "Run even while the task is paused (cronkit pause).", flag=True),
)
DEFAULT_TRIGGER = "manual"


@record
class GlobalOptions:
    """Options every command takes before its name: they override environment and config file."""

    config: str | None = None
    home: str | None = None
    env: str | None = None
    db_url: str | None = None
    tasks: str | None = None
    debug: bool = False

    def setting_overrides(self) -> dict[str, Any]:
        return {"home": self.home, "environment": self.env, "db_url": self.db_url, "registry": self.tasks,
                "debug": True if self.debug else None}

    def settings(self) -> Settings:
        from cronkit.config.settings import activate, load_settings

        return activate(load_settings(self.setting_overrides(), config_path=self.config))

    def wants_debug(self, settings: Settings | None) -> bool:
        """Tell whether an error should show its traceback: --debug, else the settings' `debug`.

        Before the settings exist (the error may be theirs), CRONKIT_DEBUG alone decides.
        """
        if self.debug:
            return True
        if settings is not None:
            return settings.debug
        from cronkit.config.settings import debug_requested

        return debug_requested()


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


def run_command(opts: GlobalOptions, args: RunArgs) -> int:
    """Run a task for the CLI: print per SPEC (quiet cron success), return the exit code."""
    from cronkit.runlog.status import RunStatus, Trigger
    from cronkit.runner import RunRequest, run_task

    settings: Settings | None = None
    try:
        try:
            trigger = Trigger(args.trigger)
        except ValueError:
            raise UsageError(f"--trigger: must be cron, manual, retry or api, not {args.trigger!r}") from None
        if trigger == Trigger.CATCHUP:
            raise UsageError("--trigger: catchup runs are started by `cronkit check`, which names their slot")
        request = RunRequest(task=args.task, trigger=trigger, params=parse_params(args.params),
                             date=parse_date(args.date), dry_run=args.dry_run, run_id=parse_run_id(args.run_id),
                             force=args.force)
        settings = opts.settings()
        from cronkit.registry import check_task_tables
        from cronkit.registry.sets import load_registries

        registry = load_registries(settings)
        registry.apply_spread_seed(settings.spread_seed)
        # Settings are validated once, the same way for every command: a [tasks.x] table that names
        # no task or holds a bad key fails `run` too, not only `list` and `install`.
        check_task_tables(registry, settings.task_config)
        check_run_request(settings, registry, request)
        outcome = run_task(settings, registry, request, os.environ, adopt_orphans=True)
    except CronkitError as exc:
        if args.trigger == "cron":
            record_start_failure(opts, args.task, settings, exc, int(getattr(exc, "exit_code", 1)))
        code = report_error(exc, opts.wants_debug(settings))
        if args.json:  # a script asked for JSON: the refusal is an answer too (no run was recorded)
            print(jsonsafe.dumps({"run_id": None, "status": None, "exit_code": code, "duration_ms": None,
                              "result": None, "error": printable(str(exc)), "dead_letter_id": None}, sort_keys=True))
        return code
    except Exception as exc:
        if args.trigger != "cron" or opts.wants_debug(settings):
            raise
        # cron mails what a run prints, if anyone reads it: leave the trace status shows too.
        record_start_failure(opts, args.task, settings, exc, 1)
        said = redact_for(settings)(f"{type(exc).__name__}: {exc}")
        print(f"cronkit: error: {said} (run with --debug for the traceback)", file=sys.stderr)
        return 1
    if args.trigger == "cron":
        from cronkit.runlog import startfail

        startfail.clear(settings.home, startfail.key_for(opts.config))
    if args.json:
        print(jsonsafe.dumps({"run_id": outcome.run_id, "status": outcome.status, "exit_code": outcome.exit_code,
                          "duration_ms": outcome.duration_ms, "result": outcome.result,
                          "error": outcome.error, "dead_letter_id": outcome.dead_letter_id}, sort_keys=True))
        return outcome.exit_code
    if outcome.quiet:
        return outcome.exit_code
    if outcome.exit_code == 0:
        if trigger != Trigger.CRON:
            print(printable(outcome.summary))
            if outcome.result:
                print(jsonsafe.dumps(outcome.result, sort_keys=True, indent=2, default=str))
    elif not (trigger == Trigger.CRON and outcome.status == RunStatus.SKIPPED):
        print(printable(outcome.summary), file=sys.stderr)
    return outcome.exit_code


def check_run_request(settings: Settings, registry: Any, request: Any) -> None:
    """Check the task name, `--param`s and `--date` before anything is recorded (exit 2 when bad)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from cronkit.registry.params import check_request

    task = registry[request.task]
    if not request.params and request.date is None:
        return
    now = (settings.now or datetime.now(UTC)).astimezone(UTC)
    today = now.astimezone(ZoneInfo(task.zone(settings.timezone))).date()
    check_request(task.name, task.params, task.dates, request.params, request.date, today, now)


def record_start_failure(opts: GlobalOptions, task: str, settings: Settings | None,
                         exc: BaseException, code: int) -> None:
    """Leave the trace of a cron run (`run TASK`, or the block's `check`) that could not start,
    for `status` and `health`, and tell the failure notifiers its settings name, once per cause."""
    from datetime import UTC, datetime

    from cronkit.runlog import startfail

    home = settings.home if settings is not None else startfail.home_for(opts.config, opts.home, os.environ)
    error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    error = redact_for(settings)(error)
    key = startfail.key_for(opts.config)
    startfail.record(home, key, task=task, error=error, exit_code=code,
                     at=datetime.now(UTC).isoformat(timespec="seconds"))
    try:
        # Lazy: the config reader and the notification stack, only for a start that failed.
        from cronkit.config.settings import find_config_file
        from cronkit.notify.start_failure import tell

        config = settings.config_file if settings is not None else find_config_file(opts.config, os.environ)
        tell(home / startfail.DIRECTORY, key, task, error, code, settings, config, os.environ)
    except Exception:  # noqa: BLE001 - telling is a courtesy: the record and the exit code stand
        pass


def redact_for(settings: Settings | None) -> Callable[[str], str]:
    """The redactor for what a command that failed before its run says: settings and environment."""
    from cronkit.safe.redact import Redactor, redactor_for

    return redactor_for(settings, os.environ) if settings is not None else Redactor.from_sources(os.environ)


def report_error(exc: BaseException, debug: bool) -> int:
    """Print one line for a CronkitError (with the traceback under --debug); return its exit code."""
    if debug:
        import traceback

        traceback.print_exc()
    print(f"cronkit: error: {printable(str(exc))}", file=sys.stderr)
    return int(getattr(exc, "exit_code", 1))


def main(argv: list[str]) -> int | None:
    """Run `[global options] run TASK [options]`; None hands any other command line to typer."""
    parsed = parse_run_line(argv)
    return None if parsed is None else run_command(*parsed)


def parse_run_line(argv: list[str]) -> tuple[GlobalOptions, RunArgs] | None:
    """Parse `[global options] run TASK [options]` by hand, by the tables above.

    Global options may also follow the task. Anything else (an unknown option, a missing value,
    a second task, no task) returns None: typer then parses it and reports the usage error.
    """
    run = RunArgs(task="")
    opts = parse_command_line(argv, "run", RUN_OPTIONS, run)
    return (opts, run) if opts is not None and run.task else None


def parse_command_line(argv: list[str], command: str, table: tuple[Option, ...], into: Any) -> GlobalOptions | None:
    """Parse `[global options] COMMAND [TASK] [options]` into `into` (its `task`) and the globals.

    Global options may also follow the command. Anything else (an unknown option, a missing
    value, a second task) returns None: typer then parses it and reports the usage error.
    """
    opts = GlobalOptions()
    args = list(argv)
    try:
        while args and args[0] != command:
            if not _take(args, GLOBAL_OPTIONS, opts):
                return None
        if not args:
            return None
        args.pop(0)
        while args:
            if not args[0].startswith("-"):
                if into.task:
                    return None
                into.task = args.pop(0)
            elif not (_take(args, table, into) or _take(args, GLOBAL_OPTIONS, opts)):
                return None
    except _Fallback:
        return None
    return opts


class _Fallback(Exception):
    pass


def _take(args: list[str], table: tuple[Option, ...], into: Any) -> bool:
    """Pop the option at the front of args into `into` if `table` knows it (False, args intact, if not).

    Takes `--name value`, `--name=value` and flags; a flag given a value, or a valued option
    without one, raises _Fallback.
    """
    name, sep, value = args[0].partition("=")
    option = next((o for o in table if o.name == name), None)
    if option is None:
        return False
    args.pop(0)
    if option.flag:
        if sep:
            raise _Fallback
        setattr(into, option.dest, True)
        return True
    if not sep:
        if not args:
            raise _Fallback
        value = args.pop(0)
    if option.repeat:
        getattr(into, option.dest).append(value)
    else:
        setattr(into, option.dest, value)
    return True


__all__ = ["EXIT_USAGE", "GLOBAL_OPTIONS", "RUN_OPTIONS", "GlobalOptions", "RunArgs", "main",
           "parse_run_line", "run_command"]
