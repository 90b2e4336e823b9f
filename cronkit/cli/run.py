"""`cronkit run`: the command cron starts on every tick, kept free of typer, rich and SQLAlchemy."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..errors import EXIT_USAGE, CronkitError, UsageError
from ..textsafe import printable

GLOBAL_OPTIONS = ("--config", "--home", "--env", "--db-url", "--tasks")


@dataclass
class GlobalOptions:
    """Options every command takes before its name: they override environment and config file."""

    config: str | None = None
    home: str | None = None
    env: str | None = None
    db_url: str | None = None
    tasks: str | None = None
    debug: bool = False

    def setting_overrides(self) -> dict[str, Any]:
        return {"home": self.home, "environment": self.env, "db_url": self.db_url, "registry": self.tasks}

    def settings(self) -> Any:
        from ..config import load_settings

        return load_settings(self.setting_overrides(), config_path=self.config)


@dataclass
class RunArgs:
    task: str
    params: list[str] = field(default_factory=list)
    date: str | None = None
    dry_run: bool = False
    trigger: str = "manual"
    json: bool = False


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param: expected KEY=VALUE, got {pair!r}")
        params[key.strip()] = value
    return params


def parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date: {value!r} is not a date (YYYY-MM-DD)") from None


def run_command(opts: GlobalOptions, args: RunArgs) -> int:
    """Run a task for the CLI: print per SPEC (quiet cron success), return the exit code."""
    from ..runner import RunRequest, run_task
    from ..status import RunStatus, Trigger

    try:
        try:
            trigger = Trigger(args.trigger)
        except ValueError:
            raise UsageError(f"--trigger: must be cron, manual or retry, not {args.trigger!r}") from None
        request = RunRequest(task=args.task, trigger=trigger, params=parse_params(args.params),
                             date=parse_date(args.date), dry_run=args.dry_run)
        settings = opts.settings()
        from ..registry import check_task_tables, load_registry

        registry = load_registry(settings.registry)
        # Settings are validated once, the same way for every command: a [tasks.x] table that names
        # no task or holds a bad key fails `run` too, not only `list` and `install`.
        check_task_tables(registry, settings.task_config)
        outcome = run_task(settings, registry, request, os.environ, adopt_orphans=True)
    except CronkitError as exc:
        return report_error(exc, opts.debug)
    if args.json:
        print(json.dumps({"run_id": outcome.run_id, "status": outcome.status, "exit_code": outcome.exit_code,
                          "duration_ms": outcome.duration_ms, "result": outcome.result}, sort_keys=True))
        return outcome.exit_code
    if outcome.quiet:
        return outcome.exit_code
    if outcome.exit_code == 0:
        if trigger != Trigger.CRON:
            print(printable(outcome.summary))
            if outcome.result:
                print(json.dumps(outcome.result, sort_keys=True, indent=2, default=str))
    elif not (trigger == Trigger.CRON and outcome.status == RunStatus.SKIPPED):
        print(printable(outcome.summary), file=sys.stderr)
    return outcome.exit_code


def report_error(exc: BaseException, debug: bool) -> int:
    """Print one line for a CronkitError (with the traceback under --debug); return its exit code."""
    if debug:
        import traceback

        traceback.print_exc()
    print(f"cronkit: error: {printable(str(exc))}", file=sys.stderr)
    return int(getattr(exc, "exit_code", 1))


def main(argv: list[str]) -> int | None:
    """Parse `[global options] run TASK [options]` by hand; None hands an odd command line to typer."""
    opts = GlobalOptions(debug=bool(os.environ.get("CRONKIT_DEBUG")))
    args = list(argv)
    try:
        while args and args[0] != "run":
            name, value = _option(args)
            if name == "--debug":
                opts.debug = True
            elif name in GLOBAL_OPTIONS:
                setattr(opts, name[2:].replace("-", "_"), value)
            else:
                return None
        if not args:
            return None
        args.pop(0)
        run = RunArgs(task="")
        while args:
            if not args[0].startswith("-"):
                if run.task:
                    return None
                run.task = args.pop(0)
                continue
            name, value = _option(args)
            if name == "--param":
                run.params.append(_need(value))
            elif name == "--date":
                run.date = _need(value)
            elif name == "--trigger":
                run.trigger = _need(value)
            elif name == "--dry-run":
                run.dry_run = True
            elif name == "--json":
                run.json = True
            elif name == "--debug":
                opts.debug = True
            elif name in GLOBAL_OPTIONS:
                setattr(opts, name[2:].replace("-", "_"), _need(value))
            else:
                return None
        if not run.task:
            return None
    except _Fallback:
        return None
    return run_command(opts, run)


class _Fallback(Exception):
    pass


_FLAGS = {"--debug", "--dry-run", "--json"}


def _option(args: list[str]) -> tuple[str, str | None]:
    """Pop `--name value`, `--name=value` or a flag from the front of args."""
    head = args.pop(0)
    if not head.startswith("--"):
        raise _Fallback
    name, sep, value = head.partition("=")
    if sep:
        return name, value
    if name in _FLAGS:
        return name, None
    if not args:
        raise _Fallback
    return name, args.pop(0)


def _need(value: str | None) -> str:
    if value is None:
        raise _Fallback
    return value


__all__ = ["EXIT_USAGE", "GlobalOptions", "RunArgs", "main", "run_command"]
