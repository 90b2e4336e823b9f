"""`cronkit demo seed`: fill the platform database, Redis and the log directory with sample data."""

from __future__ import annotations

import typer

from .common import JSON_OPTION, cli_errors, console, get_settings, print_json

app = typer.Typer(
    help="Sample data for trying the built-in tasks.\n\n"
    "Example: cronkit demo seed --users 500 --days 30",
    no_args_is_help=True,
)

# Mirrors cronkit.tasks.demo's defaults without importing SQLAlchemy before the command runs.
DEFAULT_USERS = 1000
DEFAULT_COURSES = 30
DEFAULT_DAYS = 60
DEFAULT_SEED = 42
DEFAULT_LARGE_LOG_MB = 101.0


@app.command("seed")
@cli_errors
def seed(
    users: int = typer.Option(DEFAULT_USERS, "--users", min=1, help="Number of users."),
    courses: int = typer.Option(DEFAULT_COURSES, "--courses", min=1, help="Number of courses."),
    days: int = typer.Option(
        DEFAULT_DAYS, "--days", min=1, help="Days of activity events, ending now."
    ),
    seed: int = typer.Option(
        DEFAULT_SEED, "--seed", help="Random seed: the same seed and clock give the same data."
    ),
    large_log_mb: float = typer.Option(
        DEFAULT_LARGE_LOG_MB,
        "--large-log-mb",
        min=0,
        help="Size of the one oversized log file (0: none); by default just over "
        "log pruning's 100 MB cap.",
    ),
    reset: bool = typer.Option(
        False, "--reset", help="Empty the platform's data and stats tables first."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fill the platform database, Redis (when configured) and the log directory with sample data.

    Example: cronkit demo seed --users 2000 --days 90 --seed 7
    """
    from ..tasks.demo import seed_demo

    settings = get_settings()
    counts = seed_demo(
        settings,
        users=users,
        courses=courses,
        days=days,
        seed=seed,
        large_log_mb=large_log_mb,
        reset=reset,
    )
    if as_json:
        print_json(counts)
        return
    from rich.table import Table

    table = Table(title="Demo data", show_header=True)
    table.add_column("what")
    table.add_column("count")
    rows = [
        (
            "users",
            f"{counts['users']:,} ({counts['unverified_users']:,} unverified, "
            f"{counts['stale_unverified_users']:,} older than 30 days)",
        ),
        ("courses", f"{counts['courses']:,}"),
        (
            "enrollments",
            f"{counts['enrollments']:,} ({counts['completed_enrollments']:,} completed)",
        ),
        ("activity events", f"{counts['activity_events']:,} since {counts['from'][:10]}"),
        (
            "password reset tokens",
            f"{counts['password_reset_tokens']:,} "
            f"({counts['expired_password_reset_tokens']:,} expired)",
        ),
        (
            "secrets",
            f"{counts['secrets']:,}" if counts["secrets"] else "0 (CRONKIT_SECRET_KEY not set)",
        ),
        (
            "refresh tokens (Redis)",
            f"{counts['refresh_tokens']:,} ({counts['expired_refresh_tokens']:,} expired)"
            if settings.redis_url
            else "none (CRONKIT_REDIS_URL not set)",
        ),
        (
            "log files",
            f"{counts['log_files']:,} ({counts['old_log_files']:,} older than 30 days, "
            f"{counts['log_bytes'] / 1_048_576:,.1f} MiB) in {settings.log_dir}",
        ),
    ]
    for what, value in rows:
        table.add_row(what, value)
    out = console()
    out.print(table)
    from ..redact import Redactor

    out.print(f"Platform database: {Redactor()(settings.app_db_url)}", markup=False)
