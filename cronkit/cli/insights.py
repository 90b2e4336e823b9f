"""`cronkit insights`: findings from the run log before anything breaks (SPEC 16)."""

from __future__ import annotations

import typer

from .common import JSON_OPTION, cli_errors, get_registry, get_settings, print_json
from .tables import console, print_lines, print_table, short_time

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow"}


def register(app: typer.Typer) -> None:
    @app.command("insights")
    @cli_errors
    def insights(
        ctx: typer.Context,
        task: str | None = typer.Argument(None, help="Only this task's findings."),
        days: float = typer.Option(30, "--days", min=0.01, max=3650, help="Window in days, ending now."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show what the run log says is coming: slow runs, durations or memory growing toward a limit,
        failure rates that jumped, flapping, late starts.

        Example: cronkit insights --days 14; cronkit insights nightly-export --json
        """
        from ..clock import now
        from ..insights.read import as_dicts
        from ..insights.read import insights as find

        found = as_dicts(find(get_settings(ctx), get_registry(ctx), now(), days=days, task=task))
        if json:
            print_json({"insights": found})
            return
        if not found:
            scope = f"task {task}" if task else "any task"
            print_lines(console(), f"no findings for {scope} over the last {days:g} days", highlight=False)
            return
        rows = [{"task": f["task"], "kind": f["kind"],
                 "severity": f"[{SEVERITY_STYLE[f['severity']]}]{f['severity']}[/{SEVERITY_STYLE[f['severity']]}]",
                 "since": short_time(f["since"]), "finding": _escaped(f["message"])} for f in found]
        columns = [("task", "left", 0), ("kind", "left", 0), ("severity", "left", 1), ("since", "left", 2),
                   ("finding", "left", 0)]
        print_table(f"last {days:g} days", columns, rows, wrap="finding")


def _escaped(text: str) -> str:
    from rich.markup import escape

    return escape(text)
