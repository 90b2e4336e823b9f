"""`cronkit rekey`: re-seal the run log's encrypted payloads under the current key."""

from __future__ import annotations

import sys

import typer

from cronkit.cli.common import JSON_OPTION, cli_errors, get_settings, print_json
from cronkit.cli.progress import progress
from cronkit.runlog.engines import create_engine_for, require_existing
from cronkit.runlog.rekey import DEFAULT_BATCH, rekey
from cronkit.runlog.schema import upgrade


def rekey_command(
    ctx: typer.Context,
    batch: int = typer.Option(DEFAULT_BATCH, "--batch", min=1, max=100_000, help="Rows per transaction."),
    json: bool = JSON_OPTION,
) -> None:
    """Re-seal every stored payload under the current secret key; resumable if interrupted.

    The old key goes in CRONKIT_PREVIOUS_SECRET_KEY while it runs. Clear payloads (stored before
    encrypt_payloads was on) are sealed too. Exit 1 when some payload no key opens.

    Example: CRONKIT_PREVIOUS_SECRET_KEY=$OLD cronkit rekey
    """
    settings = get_settings(ctx)
    require_existing(settings.db_url)
    engine = create_engine_for(settings.db_url)
    try:
        upgrade(engine)
        with progress("Re-sealing", unit="rows", as_json=json) as note:
            done = rekey(engine, batch=batch, progress=note)
    finally:
        engine.dispose()
    if json:
        print_json({"key_id": done.key_id, "tables": done.counts, "unopenable": done.unopenable})
    else:
        for table, counts in done.counts.items():
            print(f"{table}: {counts['sealed']} sealed, {counts['resealed']} resealed, {counts['unopenable']} unopenable")
        if not done.unopenable:
            print(f"every payload is sealed under key {done.key_id}")
    if done.unopenable:
        print(f"cronkit: error: {done.unopenable} payloads open with no key given: set "
              "CRONKIT_PREVIOUS_SECRET_KEY to the key they were sealed with and run rekey again", file=sys.stderr)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("rekey")(cli_errors(rekey_command))
