"""`cronkit logs TASK`: a task's log file, its sealed lines opened (encrypt_payloads)."""

from __future__ import annotations

import sys
from collections import deque

import typer

from cronkit.cli.common import cli_errors, get_registry, get_settings
from cronkit.safe.encrypt import is_sealed, reveal


def logs(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="The task whose log to print."),
    lines: int = typer.Option(200, "--lines", "-n", min=1, max=10_000_000, help="How many lines from the end."),
) -> None:
    """Print the end of a task's log (<log_dir>/cronkit/TASK.log), opening sealed lines with the key.

    Without the key a sealed line prints as (encrypted).

    Example: cronkit logs daily-analytics-updates -n 50
    """
    get_registry(ctx)[task]  # an unknown task is a usage error (exit 2)
    path = get_settings(ctx).task_log_dir / f"{task}.log"
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            kept = deque(fh, maxlen=lines)
    except FileNotFoundError:
        print(f"cronkit: {task} has no log yet ({path})", file=sys.stderr)
        return
    for line in kept:
        text = line.rstrip("\n")
        if not is_sealed(text):
            sys.stdout.write(line)
            continue
        opened = str(reveal(text, "log"))
        sys.stdout.write(opened if opened.endswith("\n") else opened + "\n")


def register(app: typer.Typer) -> None:
    app.command("logs")(cli_errors(logs))
