"""The `cronkit` console script: `run` and the read commands take lean paths, everything else goes through typer."""

from __future__ import annotations

import os
import sys

from cronkit.plain import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

# The read commands with a lean path (cli/lean.py): no typer, and no SQLAlchemy on a SQLite run log.
LEAN_COMMANDS = frozenset({"history", "show", "list", "status", "health", "stats", "insights"})


# The exit code when the reader of stdout has gone (`cronkit status | head -1`): 1, as the Python
# docs' recipe for SIGPIPE, click and rich exit then, so every path answers alike; quietly.
EXIT_READER_GONE = 1


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        code: Any = _dispatch(args)
    except SystemExit as exc:
        code = exc.code
    except BrokenPipeError:
        code = _reader_gone(None)
    # A reader that left shows here at the latest, not as a traceback from the interpreter's last
    # flush. (click's PacifyFlushWrapper, its own way out of a closed pipe, would hide what is left.)
    out = getattr(sys.stdout, "wrapped", sys.stdout)
    try:
        if out is not None:
            out.flush()
    except BrokenPipeError:
        code = _reader_gone(code)
    sys.exit(code)


def _dispatch(args: list[str]) -> Any:
    """Answer the command line through the lean `run` path, a lean read path or typer; return the exit code."""
    if _is_plain_run(args):
        from cronkit.cli.run import main as run_main

        code = run_main(args)
        if code is not None:
            return code
    elif LEAN_COMMANDS.intersection(args) and "--help" not in args and "-h" not in args:
        from cronkit.cli.lean import main as lean_main

        code = lean_main(args)
        if code is not None:
            return code
    return _typer_main(args)


def _reader_gone(code: Any) -> Any:
    """Point stdout at /dev/null, so that nothing more fails to reach the reader; return the exit code.

    A command that had already failed keeps its code; one that had not fails with EXIT_READER_GONE:
    its output did not all arrive.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor behind stdout (a test's StringIO)
        pass
    return code if isinstance(code, int) and code != 0 else EXIT_READER_GONE


def _typer_main(args: list[str]) -> int:
    """Run the typer app; a usage error becomes one line on stderr and exit 2, as SPEC asks.

    A global option given after the command (`cronkit install --tasks x`) is taken as if it came
    before it, unless that command has an option of the same name.
    """
    from cronkit.cli.app import app
    from cronkit.cli.run import GLOBAL_OPTIONS
    from cronkit.cli.usage import hoist_global_option

    global_names = {option.name for option in GLOBAL_OPTIONS}

    if not args:
        args = ["--help"]
    args = _bare_user_flag(args)
    for _ in range(len(args) + 1):
        try:
            result: Any = app(args=args, prog_name="cronkit", standalone_mode=False)
        except Exception as exc:
            if type(exc).__name__ == "NoSuchOption":
                name = getattr(exc, "option_name", "")
                moved = hoist_global_option(args, name)
                if moved is not None:
                    args = moved
                    continue
                if name in global_names:  # at the end, without its value
                    print(f"cronkit: error: {name}: needs a value (cronkit {name} VALUE COMMAND ...)", file=sys.stderr)
                    return 2
            return _usage_error(exc)
        return result if isinstance(result, int) else 0
    return 2


def _usage_error(exc: Exception) -> int:
    """Answer an exception of the typer app's parsing: help, an abort, or one usage line (exit 2)."""
    # click's exceptions (typer vendors its own copy of click, so match by shape, not class)
    if type(exc).__name__ == "NoArgsIsHelpError":
        # `cronkit dlq`: that group's help, as `cronkit dlq --help` shows it. Building the
        # error already rendered the help (typer's rich help prints as it is built and
        # leaves the message empty; plain click help is the message): finish it the way
        # the --help option does, once.
        print(exc.format_message())  # type: ignore[attr-defined]
        return 0
    if type(exc).__name__ == "Abort":
        return 130
    if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
        raise exc
    from cronkit.cli.usage import error_line

    print(f"cronkit: error: {error_line(exc)}", file=sys.stderr)
    return int(exc.exit_code)


def _bare_user_flag(args: list[str]) -> list[str]:
    """Return args with a bare `--user` (systemd's user units, SPEC 13) written as `--user=`.

    `--user NAME` names a crontab's user elsewhere; click has no option whose value is optional.
    """
    out = list(args)
    for index, arg in enumerate(out):
        if arg == "--":
            break
        if arg == "--user" and (index + 1 == len(out) or out[index + 1].startswith("-")):
            out[index] = "--user="
    return out


def _is_plain_run(args: list[str]) -> bool:
    """Tell a `cronkit [global options] run TASK ...` without --help from every other command line."""
    if "--help" in args or "-h" in args:
        return False
    return "run" in args


if __name__ == "__main__":
    main()
