"""Errors a user can cause, each with the exit code SPEC section 4 gives it."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_SKIPPED = 75
EXIT_CONFIG = 78
EXIT_TIMEOUT = 124
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class CronkitError(Exception):
    """Something went wrong that cronkit can explain in one line."""

    exit_code = EXIT_FAILED
    # The runbook's advice (docs/operations.md is generated from these classes).
    what_to_do = "Read the one line on stderr; `--debug` (or CRONKIT_DEBUG=1) adds the traceback."


class UsageError(CronkitError):
    """The command line asks for something that does not exist."""

    exit_code = EXIT_USAGE
    what_to_do = "Fix the command line: `cronkit COMMAND --help` lists its options, `cronkit list` the tasks."


class UnknownTask(UsageError):
    """No task of that name is registered."""

    what_to_do = "Use a name `cronkit list` shows (the line suggests close ones); check CRONKIT_TASKS."

    def __init__(self, name: str, known: list[str]) -> None:
        import difflib  # lazy: only a mistyped task name needs close matches

        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        super().__init__(f"unknown task {name!r}{hint}")
        self.name = name


class ConfigError(CronkitError):
    """A setting is missing, unknown or has a bad value."""

    exit_code = EXIT_CONFIG
    what_to_do = ("Fix the setting the line names (and the variable that set it); "
                  "see the settings reference.")


class ScheduleError(ConfigError):
    """A cron expression Debian's cron would not accept."""

    what_to_do = "Fix the schedule's field the line names; `cronkit list` shows how a schedule reads."


class RegistryError(ConfigError):
    """The task registry cannot be loaded or is inconsistent."""

    what_to_do = ("Fix the import error or the duplicate the line names; `cronkit list` imports the "
                  "registry as cron will.")


class TaskPaused(CronkitError):
    """The task is paused (`cronkit pause`): a start by hand refuses unless forced."""

    exit_code = EXIT_SKIPPED
    what_to_do = "`cronkit resume TASK` when the pause's reason is over, or `cronkit run TASK --force` to run it once anyway."


class ServiceUnavailable(CronkitError):
    """A service cronkit needs (run log, Redis, crontab) cannot be reached."""

    exit_code = EXIT_UNAVAILABLE
    what_to_do = ("Bring back the service the line names (`cronkit status` shows each one), "
                  "then run the command again.")


class DiskFull(ServiceUnavailable):
    """The disk under the run log (or the journal) has no room for what must be written."""

    what_to_do = ("Free space on the disk the line names (`df -h`); the outcome waits in the journal and "
                  "the next command writes it (docs: A full disk).")


class SchemaTooNew(ServiceUnavailable):
    """The run log was migrated by a newer cronkit than this one (a rollback, or a host left behind)."""

    what_to_do = ("Install the release the line names, or roll back the run log to the copy kept before the "
                  "upgrade (docs: Upgrading, Rolling back).")


class CheckFailed(CronkitError):
    """A check found a difference or a problem."""

    exit_code = EXIT_FAILED
    what_to_do = "Act on what the check printed (e.g. `cronkit install` for drift), then check again."


class TransientError(Exception):
    """Raised by a task to ask for another attempt after a backoff."""


class Cancelled(Exception):
    """Raised inside a task when its run has been asked to stop."""
