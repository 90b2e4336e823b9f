"""The command table: each command that cron and scripts call often, declared once (options, body, help).

main() parses a plain command line of these by the table (cli/fastpath.py: no typer, click or rich)
and the typer app builds the same commands from it (cli/declared.py) for `--help`, usage errors
and every command line the fast parser does not take. A body is named by its module and function,
imported only when its command runs; it takes the command line's CliState and the values by `dest`,
and returns the exit code.
"""

from __future__ import annotations

from cronkit.plain import TYPE_CHECKING, record
from cronkit.runlog.status import RunStatus
from cronkit.safe.inputs import MAX_ROW_ID

if TYPE_CHECKING:
    from typing import Any


@record(frozen=True)
class Option:
    """One option: `name` on the command line, `dest` the body's keyword, `kind` what it converts to.

    A number option with `low` and `high` takes only a finite number in [low, high].
    """

    name: str
    dest: str
    help: str
    flag: bool = False  # takes no value
    repeat: bool = False  # may be given more than once; the values are kept in order
    default: Any = None
    kind: type = str
    low: float | None = None
    high: float | None = None
    metavar: str | None = None


@record(frozen=True)
class Argument:
    """One positional argument (at most one per command here); optional unless `required`."""

    dest: str
    help: str
    required: bool = False
    kind: type = str
    low: float | None = None
    high: float | None = None


@record(frozen=True)
class Command:
    """One command: its name, its body (`module:function`), its help, argument and options.

    `own_errors`: the body reports its errors itself (`run`); else a CronkitError becomes one
    line on stderr and its exit code, and Ctrl-C exit 130.
    """

    name: str
    body: str
    help: str
    argument: Argument | None = None
    options: tuple[Option, ...] = ()
    own_errors: bool = False


GLOBAL_OPTIONS: tuple[Option, ...] = (
    Option("--config", "config", "TOML config file (else $CRONKIT_CONFIG, else ./cronkit.toml)."),
    Option("--home", "home", "State directory (CRONKIT_HOME)."),
    Option("--env", "env", "Environment name (CRONKIT_ENV)."),
    Option("--db-url", "db_url", "Run log URL (CRONKIT_DB_URL)."),
    Option("--tasks", "tasks", "Task registry: pkg.module, pkg.module:attr or file.py (CRONKIT_TASKS)."),
    Option("--debug", "debug", "Show tracebacks of errors.", flag=True, default=False),
)

JSON = Option("--json", "json", "Print JSON with stable keys instead of a table.", flag=True, default=False)
STATUSES = tuple(s.value for s in RunStatus)  # running, succeeded, failed, timed_out, interrupted, skipped, lost
DEFAULT_TRIGGER = "manual"
TASK_HELP = "Task name, as `cronkit list` shows it."
MIN_DAYS, MAX_DAYS = 0.01, 3650


def days(default: int) -> Option:
    """Return the `--days` option of a window ending now."""
    return Option("--days", "days", "Window in days, ending now.", default=default, kind=float, low=MIN_DAYS,
                  high=MAX_DAYS)


RUN = Command(
    "run", "cronkit.cli.run:run_body",
    "Run one task now: lock, attempts, timeout, record; exit 0 on success.\n\n"
    "Example: cronkit run daily-analytics-updates --date 2026-11-20 --dry-run",
    Argument("task", TASK_HELP, required=True),
    (Option("--param", "params", "KEY=VALUE passed to the task (repeatable).", repeat=True, metavar="KEY=VALUE"),
     Option("--date", "date", "Compute the period of this day (YYYY-MM-DD): backfill."),
     Option("--dry-run", "dry_run", "Compute and report without changing anything.", flag=True, default=False),
     Option("--trigger", "trigger", "cron (used by the crontab line), manual, retry or api.", default=DEFAULT_TRIGGER),
     JSON,
     Option("--run-id", "run_id", "Adopt this `running` run that `cronkit serve` recorded (trigger api)."),
     Option("--force", "force", "Run even while the task is paused (cronkit pause).", flag=True, default=False)),
    own_errors=True,
)

COMMANDS: tuple[Command, ...] = (
    Command(
        "list", "cronkit.cli.listview:list_command",
        "List the registered tasks: schedule, what it means, zone, environments, next run.\n\n"
        "Example: cronkit --env production list; cronkit list hourly-metrics",
        Argument("task", "Show this task in full: its parameters too."), (JSON,)),
    RUN,
    Command(
        "history", "cronkit.cli.runs:history_command",
        "Show recent runs, newest first.\n\nExample: cronkit history daily-session-cleanup --status failed --since 7d",
        Argument("task", "Only runs of this task."),
        (Option("--status", "status", f"Only runs with this status: {', '.join(STATUSES)}."),
         Option("--since", "since", "Only runs started since: 2026-11-28, 2026-11-28T03:00, or 2h / 7d ago."),
         Option("--limit", "limit", "At most this many runs.", default=20, kind=int, low=1, high=100_000),
         JSON)),
    Command(
        "show", "cronkit.cli.runs:show_command",
        "Show one run: attempts, error, traceback, result and captured output (redacted).\n\n"
        "Example: cronkit show 42",
        Argument("run_id", "Run id, as `cronkit history` shows it.", required=True, kind=int, low=1, high=MAX_ROW_ID),
        (JSON,)),
    Command(
        "status", "cronkit.cli.opsview:status_command",
        "Show the scheduler's state: install, services, and per task next run, last run, missed slots, drift.\n\n"
        "Example: cronkit --env production status --json",
        None, (JSON,)),
    Command(
        "health", "cronkit.cli.opsview:health_command",
        "Check the scheduler: exit 0 when healthy, 1 with every reason (one per line) when not.\n\n"
        "Example: cronkit --env production health || alert \"cron is unhealthy\"",
        None, (JSON,)),
    Command(
        "stats", "cronkit.cli.opsview:stats_command",
        "Show per task over the last days: runs, outcomes, success rate, p50/p95 duration, dead letters.\n\n"
        "Percentiles are nearest-rank over the runs that executed the task.\n\n"
        "Example: cronkit stats --days 30",
        None, (days(7), JSON)),
    Command(
        "insights", "cronkit.cli.opsview:insights_command",
        "Show what the run log says is coming: slow runs, durations or memory growing toward a limit,\n"
        "failure rates that jumped, flapping, late starts.\n\n"
        "Example: cronkit insights --days 14; cronkit insights nightly-export --json",
        Argument("task", "Only this task's findings."), (days(30), JSON)),
)
BY_NAME = {command.name: command for command in COMMANDS}


def global_option(name: str) -> Option | None:
    """Return the global option called `name` (`--home`), None when there is none."""
    return next((option for option in GLOBAL_OPTIONS if option.name == name), None)


# The commands typer alone answers, in the order `cronkit --help` lists them, each with the module
# whose register(app) adds it: imported only when that command (or the list of every command) is
# asked for, so that `cronkit install` does not load the web app, Redis or the runner.
TYPER_ONLY: tuple[tuple[str, str], ...] = (
    ("unlock", "cronkit.cli.locks"), ("render", "cronkit.cli.crontab"), ("install", "cronkit.cli.crontab"),
    ("uninstall", "cronkit.cli.crontab"), ("due", "cronkit.cli.due"), ("adopt", "cronkit.cli.adopt"),
    ("check", "cronkit.cli.check"), ("audit", "cronkit.cli.serve"), ("serve", "cronkit.cli.serve"),
    ("pause", "cronkit.cli.pause"), ("resume", "cronkit.cli.pause"), ("migrate", "cronkit.cli.migrate"),
    ("rekey", "cronkit.cli.rekey"), ("logs", "cronkit.cli.logs"), ("dlq", "cronkit.cli.dlq"),
    ("demo", "cronkit.cli.demo"), ("token", "cronkit.cli.serve"), ("notify", "cronkit.cli.notify"),
    ("secrets", "cronkit.cli.secrets_cmd"),
)
