"""`cronkit secrets`: add, list, show and rotate the secrets secret-rotation keeps (SPEC section 14).

No value is ever printed except by `secrets show NAME --reveal`.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from typing import Any

import typer

from cronkit.cli.common import JSON_OPTION, cli_errors, get_settings, print_json, print_table
from cronkit.clock import now
from cronkit.errors import ConfigError, UsageError
from cronkit.runlog.engines import sqlite_path
from cronkit.runlog.times import instant_iso
from cronkit.tasks.platform import engine_for
from cronkit.tasks.secret_rotation import (
    SecretNotFound,
    active_value,
    keyring_for,
    list_secrets,
    new_value,
    rotate_one,
    store_new_secret,
    verify_key,
)

app = typer.Typer(
    help="Secrets rotated by secret-rotation: add, list (never values), show, rotate.\n\n"
    "Example: cronkit secrets add payments-api-key --generate; cronkit secrets list",
    no_args_is_help=True, add_completion=False,
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
TASK = "secret-rotation"
DEFAULTS = {"grace_period_hours": 24.0, "rotation_interval_days": 30.0}


def _name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(f"secret name {name!r}: use letters, digits, '.', '_' or '-' (at most 128)")
    return name


def _periods(ctx: typer.Context) -> tuple[timedelta, timedelta]:
    """Return (grace, interval) from [tasks.secret-rotation] over the task's defaults."""
    table = {**DEFAULTS, **get_settings(ctx).task_config.get(TASK, {})}
    values = []
    for key in ("grace_period_hours", "rotation_interval_days"):
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"tasks.{TASK}.{key}: must be a number >= 0")
        values.append(float(value))
    return timedelta(hours=values[0]), timedelta(days=values[1])


def _engine(ctx: typer.Context, *, create: bool = False) -> Any:
    """Open the platform database; None when it is a SQLite file that does not exist and not `create`:
    only `secrets add` creates one (read commands create nothing)."""
    settings = get_settings(ctx)
    path = sqlite_path(settings.app_db_url)
    if not create and path is not None and not path.exists():
        return None
    return engine_for(settings)


def _iso(value: Any) -> str | None:
    return instant_iso(value) if value is not None else None


@app.command("add")
@cli_errors
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name of the secret."),
    generate: bool = typer.Option(False, "--generate", help="Store a fresh random value (256 bits)."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the value from standard input (one trailing newline dropped)."),
) -> None:
    """Store a new secret, encrypted under CRONKIT_SECRET_KEY; its value is never printed.

    Example: openssl rand -hex 32 | cronkit secrets add partner-api-key --stdin
    """
    _name(name)
    if generate == stdin:
        raise UsageError("secrets add: give exactly one of --generate or --stdin")
    keyring = keyring_for(get_settings(ctx))
    if generate:
        value = new_value()
    else:
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        if not value:
            raise UsageError("secrets add --stdin: standard input was empty")
    _, interval = _periods(ctx)
    version = store_new_secret(_engine(ctx, create=True), keyring, name, value, now(), interval)
    typer.echo(f"stored secret {name} version {version}")


@app.command("list")
@cli_errors
def list_(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """List every stored version: name, version, state, dates. Never a value.

    Example: cronkit secrets list --json
    """
    rows = [{"name": r["name"], "version": r["version"], "status": r["status"],
             "created_at": _iso(r["created_at"]), "rotate_after": _iso(r["rotate_after"]),
             "previous_until": _iso(r["previous_until"]), "retired_at": _iso(r["retired_at"])}
            for r in list_secrets(engine)] if (engine := _engine(ctx)) is not None else []
    if json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no secrets stored")
        return
    columns = [("name", "left", 0), ("version", "right", 0), ("status", "left", 0),
               ("created", "left", 1), ("rotate after", "left", 2), ("until", "left", 3)]
    print_table("", columns, [
        {"name": r["name"], "version": str(r["version"]), "status": r["status"],
         "created": (r["created_at"] or "-")[:16], "rotate after": (r["rotate_after"] or "-")[:16],
         "until": (r["previous_until"] or r["retired_at"] or "-")[:16]} for r in rows])


@app.command("show")
@cli_errors
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name of the secret."),
    reveal: bool = typer.Option(False, "--reveal", help="Print the active value (required: values are never shown otherwise)."),
) -> None:
    """Print the active value of a secret; refuses without --reveal.

    Example: cronkit secrets show payments-api-key --reveal
    """
    _name(name)
    if not reveal:
        raise UsageError(f"secrets show {name}: refusing to print a secret value without --reveal")
    engine = _engine(ctx)
    if engine is None:
        raise SecretNotFound(f"{TASK}: no active secret named {name!r}")
    typer.echo(active_value(engine, get_settings(ctx), name))


@app.command("rotate")
@cli_errors
def rotate(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name of the secret."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the key and say what would change; write nothing."),
) -> None:
    """Make a new active version now; the old one stays accepted for the grace period.

    Example: cronkit secrets rotate payments-api-key --dry-run
    """
    _name(name)
    keyring = keyring_for(get_settings(ctx))
    engine = _engine(ctx)
    active = [r for r in (list_secrets(engine) if engine is not None else [])
              if r["name"] == name and r["status"] == "active"]
    if not active:
        raise SecretNotFound(f"secrets rotate: no active secret named {name!r}")
    verify_key(engine, keyring)
    grace, interval = _periods(ctx)
    if dry_run:
        typer.echo(f"dry run: would rotate secret {name} version {active[0]['version']}; nothing written")
        return
    if not rotate_one(engine, keyring, name, now(), grace, interval, due_only=False):
        raise SecretNotFound(f"secrets rotate: {name!r} was rotated or removed meanwhile; nothing written")
    typer.echo(f"rotated secret {name}: version {active[0]['version']} is previous for {grace}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="secrets")
