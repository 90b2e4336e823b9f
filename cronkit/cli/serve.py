"""`cronkit serve`, `cronkit token create|list|revoke` and `cronkit audit`."""

from __future__ import annotations

import sys
from typing import Any

import typer

from cronkit import runlog
from cronkit.cli.common import (
    JSON_OPTION,
    cli_errors,
    get_registry,
    get_settings,
    print_json,
    print_table,
    short_time,
)
from cronkit.clock import now
from cronkit.errors import UsageError
from cronkit.host import cli_actor
from cronkit.runlog.times import now_ms, parse_since, to_ms
from cronkit.web.app import serve as run_server
from cronkit.web.audit import list_audit
from cronkit.web.auth import check_scope, create_token, list_tokens, revoke_token

token_app = typer.Typer(help="API tokens of `cronkit serve`: create (shown once), list, revoke.\n\n"
                        "Example: cronkit token create grafana --role viewer", no_args_is_help=True)


def _engine(ctx: typer.Context, *, create: bool = False) -> Any:
    return runlog.open(get_settings(ctx).db_url, create=create, settle=get_settings(ctx)).sqlalchemy_engine()


@token_app.command("create")
@cli_errors
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A name for the token (who or what uses it)."),
    role: str | None = typer.Option(None, "--role", help="viewer (reads), operator (also triggers, pauses, resumes) "
                                    "or admin (also the audit and tokens)."),
    scope: str | None = typer.Option(None, "--scope", help="The older words for the roles: read (viewer), "
                                     "trigger (operator), admin."),
    task: list[str] = typer.Option([], "--task", help="Only tasks matching this glob, e.g. 'daily-*', for every "
                                   "action, reads included (repeat for several)."),
    env: list[str] = typer.Option([], "--env", help="Only in a service of this environment (repeat for several)."),
    json: bool = JSON_OPTION,
) -> None:
    """Create an API token and print it once; only its hash is stored.

    Example: cronkit token create ops-oncall --role operator --task 'daily-*' --env production
    """
    if (role is None) == (scope is None):
        raise UsageError("token create: give one of --role viewer|operator|admin (or the older --scope)")
    chosen = role if role is not None else check_scope(scope or "")
    info, token = create_token(_engine(ctx, create=True), name, chosen, task, at=now_ms(), actor=cli_actor(),
                               envs=env)
    if json:
        print_json({"name": info.name, "token": token, "role": info.role, "scopes": list(info.scopes),
                    "tasks": list(info.globs), "environments": list(info.envs)})
        return
    print(token)
    limits = "".join([f", tasks {', '.join(info.globs)}" if info.globs else "",
                      f", environments {', '.join(info.envs)}" if info.envs else ""])
    print(f"token {info.name} (role {info.role}{limits}) created: store it now, it is not shown again; "
          f"send it as 'Authorization: Bearer <token>'", file=sys.stderr)


@token_app.command("list")
@cli_errors
def list_(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """List the tokens (names, scopes, dates; never the tokens).

    Example: cronkit token list --json
    """
    rows = list_tokens(_engine(ctx))
    if json:
        print_json(rows)
        return
    columns = [("name", "left", 0), ("role", "left", 0), ("tasks", "left", 0), ("envs", "left", 0),
               ("created", "left", 1), ("last used", "left", 3), ("state", "left", 0)]
    print_table(f"{len(rows)} tokens", columns, [{
        "name": r["name"], "role": r["role"], "tasks": ", ".join(r["tasks"]) or "*",
        "envs": ", ".join(r["environments"]) or "*", "created": short_time(r["created_at"]),
        "last used": short_time(r["last_used_at"]),
        "state": "active" if r["active"] else f"revoked {short_time(r['revoked_at'])}",
    } for r in rows])


@token_app.command("revoke")
@cli_errors
def revoke(ctx: typer.Context, name: str = typer.Argument(..., help="The token's name, as `cronkit token list` shows it.")) -> None:
    """Revoke a token: the service refuses it from the next request on.

    Example: cronkit token revoke ops-oncall
    """
    revoke_token(_engine(ctx), name, at=now_ms(), actor=cli_actor())
    print(f"token {name} revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")

    @app.command("audit")
    @cli_errors
    def audit(
        ctx: typer.Context,
        since: str | None = typer.Option(None, "--since", help="Only rows since: 2026-11-28, or 2h / 7d ago."),
        limit: int = typer.Option(100, "--limit", min=1, max=100_000, help="At most this many rows."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show the audit trail of API triggers and token changes, newest first.

        Example: cronkit audit --since 7d
        """
        since_ms = to_ms(parse_since(since, now())) if since else None
        rows = list_audit(_engine(ctx), since_ms=since_ms, limit=limit)
        if json:
            print_json(rows)
            return
        columns = [("id", "right", 0), ("at", "left", 0), ("token", "left", 1), ("action", "left", 0),
                   ("task", "left", 2), ("result", "left", 0), ("run", "right", 3), ("from", "left", 4),
                   ("detail", "left", 5)]
        print_table(f"{len(rows)} audit rows, newest first", columns, [{
            "id": str(r["id"]), "at": short_time(r["at"]), "token": r["token"] or "-", "action": r["action"],
            "task": r["task"] or "-", "result": r["result"], "run": str(r["run_id"] or "-"),
            "from": r["remote_addr"] or "-", "detail": (r["detail"] or "")[:120],
        } for r in rows], wrap="detail")

    @app.command("serve")
    @cli_errors
    def serve(
        ctx: typer.Context,
        host: str | None = typer.Option(None, "--host", help="Address to listen on (serve_host; default 127.0.0.1)."),
        port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Port (serve_port; default 8765)."),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level: warning, info, debug."),
    ) -> None:
        """Serve the HTTP API: health, status, runs, triggers, metrics (SIGTERM stops it gracefully).

        Example: cronkit serve --port 8765
        """
        settings = get_settings(ctx)
        run_server(settings, get_registry(ctx), host or settings.serve_host, port or settings.serve_port,
                   log_level=log_level)
