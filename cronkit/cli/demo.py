"""`cronkit demo seed`: fill the platform database, Redis and the log directory with sample data."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from cronkit.cli.common import JSON_OPTION, cli_errors, console, get_settings, print_json
from cronkit.cli.progress import progress
from cronkit.cli.tables import print_lines
from cronkit.config.settings import DEMO_REGISTRY, Settings
from cronkit.plain import replace
from cronkit.registry.loader import load_registry
from cronkit.safe.inputs import MAX_INT64
from cronkit.safe.redact import redact_url
from cronkit.tasks.demo import seed_demo

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
# Bounds a person seeding a demo never reaches, short of the sizes that overflow dates and memory.
MAX_USERS = 1_000_000
MAX_COURSES = 10_000
MAX_DAYS = 3650
MAX_LARGE_LOG_MB = 10_240.0


@app.command("seed")
@cli_errors
def seed(
    ctx: typer.Context,
    users: int = typer.Option(DEFAULT_USERS, "--users", min=1, max=MAX_USERS, help="Number of users."),
    courses: int = typer.Option(DEFAULT_COURSES, "--courses", min=1, max=MAX_COURSES, help="Number of courses."),
    days: int = typer.Option(
        DEFAULT_DAYS, "--days", min=1, max=MAX_DAYS, help="Days of activity events, ending now."
    ),
    seed: int = typer.Option(
        DEFAULT_SEED, "--seed", min=0, max=MAX_INT64, help="Random seed: the same seed and clock give the same data."
    ),
    large_log_mb: float = typer.Option(
        DEFAULT_LARGE_LOG_MB,
        "--large-log-mb",
        min=0,
        max=MAX_LARGE_LOG_MB,
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
    settings = get_settings(ctx)
    with progress("Seeding", unit="rows", as_json=as_json) as note:
        counts = seed_demo(settings, users=users, courses=courses, days=days, seed=seed,
                           large_log_mb=large_log_mb, reset=reset, progress=note)
    if as_json:
        print_json(counts)
        return

    table = Table(title="Demo data", show_header=True)
    table.add_column("what")
    table.add_column("count")
    for what, value in _seed_rows(counts, settings):
        table.add_row(what, value)
    out = console()
    print_lines(out, table)
    # Paths below the table, whole: a table cell would cut a long one short.
    out.print(f"Platform database: {redact_url(settings.app_db_url)}", markup=False, soft_wrap=True)
    out.print(f"Log files: {settings.log_dir}", markup=False, soft_wrap=True)


def _seed_rows(counts: dict[str, Any], settings: Settings) -> list[tuple[str, str]]:
    """Return the rows of the seed table: what was written, with the parts worth knowing."""
    return [
        ("users", f"{counts['users']:,} ({counts['unverified_users']:,} unverified, "
                  f"{counts['stale_unverified_users']:,} older than 30 days)"),
        ("courses", f"{counts['courses']:,}"),
        ("enrollments", f"{counts['enrollments']:,} ({counts['completed_enrollments']:,} completed)"),
        ("activity events", f"{counts['activity_events']:,} since {counts['from'][:10]}"),
        ("password reset tokens", f"{counts['password_reset_tokens']:,} "
                                  f"({counts['expired_password_reset_tokens']:,} expired)"),
        ("secrets", f"{counts['secrets']:,}" if counts["secrets"] else "0 (CRONKIT_SECRET_KEY not set)"),
        ("refresh tokens (Redis)", f"{counts['refresh_tokens']:,} ({counts['expired_refresh_tokens']:,} expired)"
                                   if settings.redis_url else "none (CRONKIT_REDIS_URL not set)"),
        ("log files", f"{counts['log_files']:,} ({counts['old_log_files']:,} older than 30 days, "
                      f"{counts['log_bytes'] / 1_048_576:,.1f} MiB)"),
    ]


DEMO_KEY_FILE = "demo.key"


@app.command("run")
@cli_errors
def run_all(
    ctx: typer.Context,
    users: int = typer.Option(DEFAULT_USERS, "--users", min=1, max=MAX_USERS, help="Number of users to seed."),
    days: int = typer.Option(DEFAULT_DAYS, "--days", min=1, max=MAX_DAYS, help="Days of activity events, ending now."),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", min=0, max=MAX_INT64, help="Random seed of the demo data."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Seed demo data afresh, run every built-in task once through `cronkit run`, show the history.

    Without CRONKIT_SECRET_KEY, the demo encrypts its sample secrets with a key of its own,
    kept in <home>/demo.key (mode 0600), so that secret-rotation has something to rotate.

    Example: cronkit demo run --users 500
    """
    settings = demo_settings(get_settings(ctx))
    env = {**os.environ, **_demo_paths_env(settings)}
    out = console()
    if settings.secret_key is None:
        settings, key_file = _with_demo_key(settings)
        env["CRONKIT_SECRET_KEY"] = settings.secret_key or ""
        if not as_json:
            out.print(f"CRONKIT_SECRET_KEY is not set: the demo uses the key in {key_file}", markup=False,
                      soft_wrap=True)
    with progress("Seeding", unit="rows", as_json=as_json) as note:
        counts = seed_demo(settings, users=users, days=days, seed=seed, reset=True, progress=note)
    if not as_json:
        out.print(
            f"Seeded {counts['users']:,} users, {counts['activity_events']:,} events, "
            f"{counts['log_files']:,} log files, {counts['secrets']:,} secrets", markup=False, soft_wrap=True,
        )
    base = _cronkit_command(settings)
    runs = []
    tasks = list(load_registry(DEMO_REGISTRY))
    with progress("Running the built-in tasks", total=len(tasks), as_json=as_json) as note:
        for task in tasks:
            note(task.name, 0)
            runs.append(_run_task(base, env, task.name))
            note(task.name)
            if not as_json:
                code = runs[-1]["exit_code"]
                mark = "[green]ok[/green]" if code == 0 else f"[red]exit {code}[/red]"
                out.print(f"  {task.name:<30} {mark} {escape(str(runs[-1]['status']))}", soft_wrap=True)
    failed = [run["task"] for run in runs if run["exit_code"] != 0]
    if as_json:
        print_json({"seeded": counts, "runs": runs, "failed": failed})
    else:
        subprocess.run([*base, "history", "--limit", "10"], env=env)
        out.print(f"The demo keeps its own home, {settings.home}; look further with:"
                  f" cronkit --home {settings.home} --tasks {DEMO_REGISTRY} status (or history, serve)",
                  markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


DEMO_HOME = "demo"


def demo_settings(settings: Settings) -> Settings:
    """Return the settings `demo run` works with: a home of its own, `<home>/demo`, and every path
    under it (run log, platform database, logs, reports, metrics), so that the user's own history
    never starts with the demo's runs, whatever CRONKIT_DB_URL or the config file say."""
    home = settings.home / DEMO_HOME
    return replace(
        settings, home=home, db_url=f"sqlite:///{home / 'cronkit.db'}", app_db_url=f"sqlite:///{home / 'platform.db'}",
        log_dir=home / "logs", reports_dir=home / "reports", metrics_dir=home / "metrics", registry=DEMO_REGISTRY)


def _demo_paths_env(settings: Settings) -> dict[str, str]:
    """Return the variables that point the demo's `cronkit run`s at its own paths (no option sets them)."""
    return {"CRONKIT_APP_DB_URL": settings.app_db_url, "CRONKIT_LOG_DIR": str(settings.log_dir),
            "CRONKIT_REPORTS_DIR": str(settings.reports_dir), "CRONKIT_METRICS_DIR": str(settings.metrics_path)}


def _with_demo_key(settings: Settings) -> tuple[Settings, Path]:
    """Return the settings with the demo's own secret key (made once, mode 0600), and its file."""
    key_file = settings.home / DEMO_KEY_FILE
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return replace(settings, secret_key=key_file.read_text().strip()), key_file


def _cronkit_command(settings: Settings) -> list[str]:
    """Return `cronkit` with the global options that make its runs use these settings."""
    exe = Path(sys.executable).with_name("cronkit")
    base = [str(exe) if exe.exists() else sys.argv[0]]
    for flag, value in (("--config", settings.config_file), ("--home", str(settings.home)),
                        ("--env", settings.environment), ("--db-url", settings.db_url)):
        if value:
            base += [flag, str(value)]
    return [*base, "--tasks", DEMO_REGISTRY]


def _run_task(base: list[str], env: dict[str, str], task: str) -> dict[str, Any]:
    """Run one task through `cronkit run --json`; return its line of the report."""
    done = subprocess.run([*base, "run", task, "--json"], env=env, capture_output=True, text=True)
    try:
        report = json.loads(done.stdout)
        status = report["status"]
    except (ValueError, KeyError, TypeError):
        report, status = None, (done.stderr.strip().splitlines() or ["error"])[-1]
    return {"task": task, "exit_code": done.returncode, "status": status,
            "run_id": report.get("run_id") if isinstance(report, dict) else None,
            "error": report.get("error") if isinstance(report, dict) else status}


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="demo")
