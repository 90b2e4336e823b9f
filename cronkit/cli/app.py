"""The typer application: global options and the command groups."""

from __future__ import annotations

import typer

from . import common

app = typer.Typer(
    name="cronkit",
    help="Run a backend's scheduled work with the host's own cron.\n\n"
    "Example: cronkit list; cronkit run hourly-metrics; cronkit history --limit 10",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    config: str | None = typer.Option(None, "--config", help="TOML config file (else $CRONKIT_CONFIG, else ./cronkit.toml)."),
    home: str | None = typer.Option(None, "--home", help="State directory (CRONKIT_HOME)."),
    env: str | None = typer.Option(None, "--env", help="Environment name (CRONKIT_ENV)."),
    db_url: str | None = typer.Option(None, "--db-url", help="Run log URL (CRONKIT_DB_URL)."),
    tasks: str | None = typer.Option(None, "--tasks", help="Task registry: pkg.module, pkg.module:attr or file.py (CRONKIT_TASKS)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
) -> None:
    """Run a backend's scheduled work with the host's own cron."""
    import os

    common.state.config, common.state.home, common.state.env = config, home, env
    common.state.db_url, common.state.tasks = db_url, tasks
    common.state.debug = debug or bool(os.environ.get("CRONKIT_DEBUG"))


from . import runs as _runs  # noqa: E402
from . import tasks as _tasks  # noqa: E402

_tasks.register(app)
_runs.register(app)

from . import ops as _ops  # noqa: E402

_ops.register(app)

from . import dlq as _dlq  # noqa: E402
from . import locks as _locks  # noqa: E402

_dlq.register(app)
_locks.register(app)

from . import crontab as _crontab  # noqa: E402

_crontab.register(app)

from . import check as _check  # noqa: E402

_check.register(app)

from . import demo as _demo  # noqa: E402

app.add_typer(_demo.app, name="demo")
