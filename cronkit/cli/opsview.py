"""How `cronkit status`, `cronkit health`, `cronkit stats` and `cronkit insights` answer: the bodies and their text.

The command table (cli/commands.py) names these bodies; the fast path and the typer app run them alike.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from cronkit.cli.state import CliState
from cronkit.cli.tables import (
    console,
    duration,
    escape,
    minute,
    packed,
    pause_text,
    print_json,
    print_lines,
    print_table,
    short_time,
    styled_status,
)
from cronkit.clock import now
from cronkit.cronfile.block import runs_check
from cronkit.errors import ConfigError
from cronkit.health.report import check_status, start_failure
from cronkit.health.stats import stats as build_stats
from cronkit.health.verdict import health_report, insight_line, start_failure_text
from cronkit.insights.read import as_dicts, insights
from cronkit.registry.environments import check_environment
from cronkit.registry.loader import configured_registry
from cronkit.runlog.engines import require_existing

SERVICE_STYLE = {"up": "green", "down": "bold red", "unused": "dim"}
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow"}


def _second(iso: str | None) -> str:
    """Show an ISO instant as `2026-06-12 03:00:05 UTC`."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _yes(value: bool) -> str:
    return "[green]yes[/green]" if value else "[bold red]no[/bold red]"


def _missed(missed: dict[str, Any] | None) -> str:
    if missed is None:
        return "-"
    if not missed["count"]:
        return "0"
    more = "+" if missed["capped"] else ""
    return f"[bold red]{missed['count']}{more}[/bold red], latest {minute(missed['latest'])}"


def _drift(items: list[dict[str, Any]]) -> str:
    return ", ".join(f"[yellow]{item['kind']}[/yellow]" for item in items) or "-"


def print_status(report: dict[str, Any]) -> None:
    """Render a status report for people: summary, services, notes, one row per task, drift."""
    out = console()
    print_lines(out, "\n".join(packed(parts, out.width) for parts in _summary(report)))
    for line in _notes(report):
        print_lines(out, line, highlight=False)
    _print_tasks(report["tasks"])
    for task in report["tasks"]:
        if task.get("paused"):
            print_lines(out, f"[yellow]paused:[/yellow] {escape(pause_text(task))}", highlight=False)
    block = report["block"]
    for item in block["drift"]:
        if item["kind"] == "host-zone":
            print_lines(out, f"[yellow]host zone changed:[/yellow] {item['installed'][0]} at install,"
                        f" {item['expected'][0]} now", highlight=False)
    for item in block["drift"]:
        if item["task"] is None and item["kind"] != "host-zone":
            for line in _drift_lines(item):
                print_lines(out, line, highlight=False)


def _summary(report: dict[str, Any]) -> list[list[str]]:
    """Return the summary lines of `status`, each a list of parts (a narrow terminal breaks between them)."""
    last_check = _second(report["last_health_check"])
    if report.get("last_health_result"):
        last_check += f" ({report['last_health_result']})"
    block = report["block"]
    services = [f"{name} [{SERVICE_STYLE.get(state, '')}]{state}[/{SERVICE_STYLE.get(state, '')}]"
                for name, state in report["services"].items()]
    return [
        ["[bold]cronkit[/bold]", f"environment [bold]{report['environment']}[/bold]", f"zone {report['timezone']}",
         f"checked {_second(report['checked_at'])}"],
        [f"initialized {_yes(report['initialized'])}", f"enabled {_yes(report['enabled'])}",
         f"block {block['id']} ({block['target']})" if block["id"] else "no install recorded"],
        [f"jobs {report['total_jobs']} scheduled of {report['registered_tasks']} registered",
         f"{report['active_jobs']} running", f"failed {report['failed_jobs']}", f"last health check {last_check}"],
        ["services: " + services[0], *services[1:]],
    ]


def _notes(report: dict[str, Any]) -> list[str]:
    """Return the lines under the summary: service errors, a start failure, preflight refusals, insights."""
    lines = [f"  [red]{name}[/red]: {escape(str(error))}" for name, error in report["service_errors"].items()]
    if report.get("start_failure"):
        lines.append(f"[bold red]{escape(start_failure_text(report['start_failure']))}[/bold red]")
    lines += [f"[yellow]{escape(item['reason'])}[/yellow]" for item in report.get("preflight", ())]
    for item in report.get("insights", ()):  # SPEC 16: what `cronkit insights` finds
        style = SEVERITY_STYLE[item["severity"]]
        lines.append(f"[{style}]insight[/{style}] {item['task']} {item['kind']}: {escape(item['message'])}")
    return lines


def _print_tasks(tasks: list[dict[str, Any]]) -> None:
    """Print the table of `status`: one row per task."""
    columns = [("task", "left", 0), ("schedule", "left", 1), ("zone", "left", 5), ("next run (UTC)", "left", 3),
               ("last run (UTC)", "left", 2), ("status", "left", 0), ("took", "left", 6), ("missed", "left", 0),
               ("drift", "left", 4)]
    rows = []
    for task in tasks:
        last = task["last_run"] or {}
        rows.append({
            "task": task["name"] if task["scheduled"] else f"[dim]{task['name']}[/dim]",
            "schedule": task["schedule"], "zone": task["timezone"],
            "next run (UTC)": "[yellow]paused[/yellow]" if task.get("paused")
            else minute(task["next_run"]) if task["scheduled"] else "[dim]not here[/dim]",
            "last run (UTC)": minute(last.get("started_at")),
            "status": styled_status(last["status"]) if last else "-",
            "took": duration(last.get("duration_ms")), "missed": _missed(task["missed"]),
            "drift": _drift(task["drift"]),
        })
    print_table("", columns, rows)


def _drift_lines(item: dict[str, Any]) -> list[str]:
    """Say a drift of a block line that runs no task, and show its lines whole: installed, expected."""
    lines = item["installed"] + item["expected"]
    checks = bool(lines) and all(runs_check(line) for line in lines)
    what = "the block's `cronkit check` line" if checks else "a block line naming no task"
    said = [f"[yellow]{what} ({item['kind']}):[/yellow] run cronkit install"]
    said += [f"  installed: {escape(line)}" for line in item["installed"]]
    said += [f"  expected:  {escape(line)}" for line in item["expected"]]
    return said


def _mib(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f}M"


def _pair(p50: int | None, p95: int | None, show: Any) -> str:
    return "-" if p50 is None else f"{show(p50)}/{show(p95)}"


def print_stats(rows: list[dict[str, Any]], days: float) -> None:
    right = "right"
    columns = [("task", "left", 0), ("runs", right, 0), ("ok", right, 3), ("failed", right, 0),
               ("skipped", right, 5), ("success", right, 0), ("p50", right, 2), ("p95", right, 1),
               ("cpu p50/p95", right, 4), ("rss p50/p95", right, 4),
               ("last success", "left", 4), ("last failure", "left", 4), ("dead letters", right, 0)]
    table_rows = []
    for row in rows:
        table_rows.append({
            "task": row["task"], "runs": str(row["runs"]), "ok": str(row["successes"]),
            "failed": f"[red]{row['failures']}[/red]" if row["failures"] else "0",
            "skipped": str(row["skipped"]),
            "success": "-" if row["success_rate"] is None else f"{row['success_rate'] * 100:.1f}%",
            "p50": duration(row["p50_ms"]), "p95": duration(row["p95_ms"]),
            "cpu p50/p95": _pair(row["cpu_p50_ms"], row["cpu_p95_ms"], duration),
            "rss p50/p95": _pair(row["rss_p50_kb"], row["rss_p95_kb"], _mib),
            "last success": short_time(row["last_success"]), "last failure": short_time(row["last_failure"]),
            "dead letters": f"[bold red]{row['open_dead_letters']}[/bold red]" if row["open_dead_letters"] else "0",
        })
    print_table(f"last {days:g} days", columns, table_rows)


def status_command(state: CliState, *, json: bool) -> int:
    """Print the scheduler's state (`cronkit status`); return the exit code."""
    configured_registry(state.settings())  # none configured: say so first, whatever the run log
    check_environment(state.registry(), state.settings(), rendering=False)  # `--env prodution`: exit 78
    require_existing(state.settings().db_url)  # a mistyped path is an error, not an empty log
    # The table names no schedule in words: only --json describes them (cron_descriptor's import).
    check = check_status(state.settings(), state.registry(), now(), texts=json)
    check.close()
    report = check.report.as_dict()
    if json:
        print_json(report)
    else:
        print_status(report)
    return 0


def health_command(state: CliState, *, json: bool) -> int:
    """Check the scheduler (`cronkit health`): 0 when healthy, 1 with every reason (one per line)."""
    settings = state.settings()  # bad settings: no check can run (exit 78)
    configured_registry(settings)  # none configured: a usage of cronkit to fix (exit 78), not a verdict
    try:
        registry = state.registry()
    except ConfigError as exc:  # the registry the cron lines run is broken: a verdict (exit 1), not a usage error
        return _unloadable_registry(state, exc, json)
    check_environment(registry, settings, rendering=False)  # a verdict about a mistyped environment is wrong
    healthy, reasons, report = health_report(settings, registry, now())
    warnings = _notify_warnings(settings, registry)
    if json:
        print_json({"healthy": healthy, "reasons": reasons, "checked_at": report.as_dict()["checked_at"],
                    "services": report.services, "warnings": warnings, "insights": list(report.insights)})
        return 0 if healthy else 1
    print("healthy" if healthy else "\n".join(reasons))
    listed = set(reasons)
    for insight in report.insights:  # listed, never a reason (unless insights_critical_unhealthy)
        if insight_line(insight) not in listed:
            print(insight_line(insight))
    for warning in warnings:
        print(f"cronkit: warning: {warning}", file=sys.stderr)
    return 0 if healthy else 1


def _notify_warnings(settings: Any, registry: Any) -> list[str]:
    """Return what is wrong with the notification settings without making the scheduler unhealthy."""
    if not settings.notifiers:
        return []
    # lazy: the notification stack only when notifiers are configured
    from cronkit.notify.hcsync import shared_checks

    return shared_checks(settings, registry)


def _unloadable_registry(state: CliState, exc: Exception, as_json: bool) -> int:
    """Answer `health` when the registry cannot be loaded: unhealthy, with the error and whatever
    the block's cron runs recorded when they could not start either (start-failure record)."""
    reasons = [str(exc)]
    failure = start_failure(state.settings())
    if failure:
        reasons.append(start_failure_text(failure))
    if as_json:
        print_json({"healthy": False, "reasons": reasons, "checked_at": now().isoformat(timespec="seconds"),
                    "services": {}})
    else:
        for reason in reasons:
            print(reason)
    return 1


def stats_command(state: CliState, *, days: float, json: bool) -> int:
    """Print per task figures over the last `days` (`cronkit stats`); return the exit code."""
    rows = build_stats(state.settings(), days, now(), state.registry())
    if json:
        print_json(rows)
    else:
        print_stats(rows, days)
    return 0


def insights_command(state: CliState, *, task: str | None, days: float, json: bool) -> int:
    """Print the findings of the last `days` (`cronkit insights`); return the exit code (0 whatever is found)."""
    found = as_dicts(insights(state.settings(), state.registry(), now(), days=days, task=task))
    if json:
        print_json({"insights": found})
        return 0
    if not found:
        print(f"no findings for {f'task {task}' if task else 'any task'} over the last {days:g} days")
        return 0
    rows = [{"task": f["task"], "kind": f["kind"],
             "severity": f"[{SEVERITY_STYLE[f['severity']]}]{f['severity']}[/{SEVERITY_STYLE[f['severity']]}]",
             "since": short_time(f["since"]), "finding": escape(f["message"])} for f in found]
    columns = [("task", "left", 0), ("kind", "left", 0), ("severity", "left", 1), ("since", "left", 2),
               ("finding", "left", 0)]
    print_table(f"last {days:g} days", columns, rows, wrap="finding")
    return 0
