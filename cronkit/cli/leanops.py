"""A lean path for `cronkit list`, `status`, `health`, `stats` and `insights`: no typer; on a SQLite run log,
no SQLAlchemy.

main() hands `[global options] list [TASK] [--json]`, `[global options] status [--json]`,
`[global options] health [--json]` and `[global options] stats [--days N] [--json]` here. The
command bodies are the typer commands' own (cli/listview.py, cli/opsview.py); the read commands
run with lean=True: a SQLite run log of the current schema with no `running` run is read
through sqlite3 (runlog.queries), anything else the full way. A command line this parser does
not take (an unknown option, an argument, a --days typer would refuse) returns None and the
typer command answers, with its checks and errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cronkit.cli.run import GlobalOptions, Option, parse_command_line, report_error
from cronkit.errors import CronkitError

JSON_FLAG = Option("--json", "json", "", flag=True)
COMMAND_OPTIONS: dict[str, tuple[Option, ...]] = {
    "list": (JSON_FLAG,),
    "status": (JSON_FLAG,),
    "health": (JSON_FLAG,),
    "stats": (JSON_FLAG, Option("--days", "days", "")),
    "insights": (JSON_FLAG, Option("--days", "days", "")),
}
DEFAULT_DAYS, MIN_DAYS, MAX_DAYS = 7.0, 0.01, 3650.0  # as cli/ops.py's `stats --days`
INSIGHTS_DAYS = 30.0  # as cli/insights.py's `insights --days`
TAKES_TASK = ("list", "insights")


@dataclass
class OpsArgs:
    task: str | None = None  # only `list` and `insights` take one: another command's hands the line to typer
    json: bool = False
    days: str | None = None


def parse_ops_line(argv: list[str]) -> tuple[str, GlobalOptions, OpsArgs] | None:
    """Parse `[global options] status|health|stats [options]`; None for anything else."""
    for command, table in COMMAND_OPTIONS.items():
        args = OpsArgs()
        opts = parse_command_line(argv, command, table, args)
        if opts is not None:
            return (command, opts, args) if args.task is None or command in TAKES_TASK else None
    return None


def _days(text: str | None, default: float = DEFAULT_DAYS) -> float | None:
    """Return the window of `stats --days` (`insights --days`); None for a value typer would refuse."""
    if text is None:
        return default
    try:
        days = float(text)
    except ValueError:
        return None
    return days if math.isfinite(days) and MIN_DAYS <= days <= MAX_DAYS else None


def main(argv: list[str]) -> int | None:
    """Answer `status`, `health` or `stats`; None hands the command line to typer."""
    parsed = parse_ops_line(argv)
    if parsed is None:
        return None
    command, opts, args = parsed
    days = _days(args.days, INSIGHTS_DAYS if command == "insights" else DEFAULT_DAYS)
    if days is None:
        return None
    from cronkit.cli.opsview import health_command, insights_command, stats_command, status_command
    from cronkit.cli.state import CliState

    state = CliState(opts)
    try:
        if command == "list":
            from cronkit.cli.listview import list_command

            return list_command(state, args.task, args.json)
        if command == "status":
            return status_command(state, args.json, lean=True)
        if command == "health":
            return health_command(state, args.json, lean=True)
        if command == "insights":
            return insights_command(state, args.task, days, args.json)
        return stats_command(state, days, args.json, lean=True)
    except CronkitError as exc:
        return report_error(exc, state.debug)
    except KeyboardInterrupt:
        return 130
