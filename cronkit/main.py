"""The `cronkit` console script: a plain command of the command table on the fast path, everything else through typer."""

from __future__ import annotations

import atexit
import os
import sys

from cronkit.plain import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

from cronkit.cli import fastpath

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
    if argv is None and args[:1] == ["run"]:
        _leave(code)
    sys.exit(code)


def _leave(code: Any) -> None:
    """End a `cronkit run` process now that its run is recorded and its output flushed.

    The interpreter's own shutdown (module teardown, a last collection of every object the run made)
    costs a cron tick milliseconds and does nothing for it: what must happen at exit does (the atexit
    handlers: logging's flush among them), then the streams are flushed and the process ends.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def _dispatch(args: list[str]) -> Any:
    """Answer the command line on the fast path, else through the typer app; return the exit code."""
    code = fastpath.main(args)
    if code is not None:
        return code
    # lazy: typer, click and every command's module only for what the fast path does not take
    from cronkit.cli.app import run_app

    return run_app(args)


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


if __name__ == "__main__":
    main()
