"""The typer application: global options and the command groups."""

from __future__ import annotations

import typer

from cronkit.cli import helpfmt, usage
from cronkit.cli.common import CliState
from cronkit.cli.run import GLOBAL_OPTIONS, GlobalOptions

helpfmt.install()
usage.install()


def _help(name: str) -> str:
    return next(option.help for option in GLOBAL_OPTIONS if option.name == name)


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
        from cronkit import __version__

        typer.echo(__version__)
        raise typer.Exit()


# The global options come from cli/run.py's GLOBAL_OPTIONS, which the lean `run` parser reads.
@app.callback()
def main(
    ctx: typer.Context,
    config: str | None = typer.Option(None, "--config", help=_help("--config")),
    home: str | None = typer.Option(None, "--home", help=_help("--home")),
    env: str | None = typer.Option(None, "--env", help=_help("--env")),
    db_url: str | None = typer.Option(None, "--db-url", help=_help("--db-url")),
    tasks: str | None = typer.Option(None, "--tasks", help=_help("--tasks")),
    debug: bool = typer.Option(False, "--debug", help=_help("--debug")),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
) -> None:
    """Run a backend's scheduled work with the host's own cron."""
    # A fresh state for every invocation: nothing of one command line outlives it.
    ctx.obj = CliState(GlobalOptions(config=config, home=home, env=env, db_url=db_url, tasks=tasks, debug=debug))


from cronkit.cli import runs as _runs  # noqa: E402
from cronkit.cli import tasks as _tasks  # noqa: E402

_tasks.register(app)
_runs.register(app)

from cronkit.cli import ops as _ops  # noqa: E402

_ops.register(app)

from cronkit.cli import insights as _insights  # noqa: E402

_insights.register(app)

from cronkit.cli import dlq as _dlq  # noqa: E402
from cronkit.cli import locks as _locks  # noqa: E402

_dlq.register(app)
_locks.register(app)

from cronkit.cli import crontab as _crontab  # noqa: E402

_crontab.register(app)

from cronkit.cli import adopt as _adopt  # noqa: E402

_adopt.register(app)

from cronkit.cli import check as _check  # noqa: E402

_check.register(app)

from cronkit.cli import demo as _demo  # noqa: E402

app.add_typer(_demo.app, name="demo")

from cronkit.cli import serve as _serve  # noqa: E402

_serve.register(app)

from cronkit.cli import notify as _notify  # noqa: E402

app.add_typer(_notify.app, name="notify")

from cronkit.cli import pause as _pause  # noqa: E402

_pause.register(app)

from cronkit.cli import secrets_cmd as _secrets_cmd  # noqa: E402

_secrets_cmd.register(app)

from cronkit.cli import migrate as _migrate  # noqa: E402

_migrate.register(app)

from cronkit.cli import rekey as _rekey  # noqa: E402

_rekey.register(app)

from cronkit.cli import logs as _logs  # noqa: E402

_logs.register(app)
