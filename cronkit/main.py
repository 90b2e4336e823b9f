"""The `cronkit` console script: `run` takes a lean path, everything else goes through typer."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if _is_plain_run(args):
        from .cli.run import main as run_main

        code = run_main(args)
        if code is not None:
            sys.exit(code)
    from .cli.app import app

    app(args=args, prog_name="cronkit")


def _is_plain_run(args: list[str]) -> bool:
    """Tell a `cronkit [global options] run TASK ...` without --help from every other command line."""
    if "--help" in args or "-h" in args:
        return False
    return "run" in args


if __name__ == "__main__":
    main()
