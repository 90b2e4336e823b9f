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


class UsageError(CronkitError):
    """The command line asks for something that does not exist."""

    exit_code = EXIT_USAGE


class UnknownTask(UsageError):
    """No task of that name is registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        import difflib

        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        super().__init__(f"unknown task {name!r}{hint}")
        self.name = name


class ConfigError(CronkitError):
    """A setting is missing, unknown or has a bad value."""

    exit_code = EXIT_CONFIG


class ScheduleError(ConfigError):
    """A cron expression Debian's cron would not accept."""


class RegistryError(ConfigError):
    """The task registry cannot be loaded or is inconsistent."""


class TaskPaused(CronkitError):
    """The task is paused (`cronkit pause`): a start by hand refuses unless forced."""

    exit_code = EXIT_SKIPPED


class ServiceUnavailable(CronkitError):
    """A service cronkit needs (run log, Redis, crontab) cannot be reached."""

    exit_code = EXIT_UNAVAILABLE


class DiskFull(ServiceUnavailable):
    """The disk under the run log (or the journal) has no room for what must be written."""


class CheckFailed(CronkitError):
    """A check found a difference or a problem."""

    exit_code = EXIT_FAILED


class TransientError(Exception):
    """Raised by a task to ask for another attempt after a backoff."""


class Cancelled(Exception):
    """Raised inside a task when its run has been asked to stop."""
