"""Render the weekly trend report and the monthly executive summary as Markdown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cronkit.tasks.analytics.kpis import MONTHLY_METRICS, WEEKLY_METRICS
from cronkit.tasks.analytics.periods import DAY, Period


def fmt_num(value: float | None, kind: str = "int") -> str:
    """Format a figure: `int` with thousands separators, `pct`/`share` in %, `hours` from seconds."""
    if value is None:
        return "–"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "hours":
        return f"{value / 3600:,.1f} h"
    if kind == "share":
        return f"{value * 100:.1f}%"
    return f"{int(value):,}"


def fmt_change(metric: Mapping[str, Any], kind: str, with_pct: bool = True) -> str:
    """Format a change record's change (pp for rates), with its change in percent if asked."""
    delta = metric["change"]
    if kind in ("pct", "share"):
        text = f"{delta * 100:+.1f} pp"
    elif kind == "hours":
        text = f"{delta / 3600:+,.1f} h"
    else:
        text = f"{int(delta):+,}"
    pct = metric["change_pct"]
    if with_pct and kind not in ("pct", "share"):
        text += f" ({pct:+.1f}%)" if pct is not None else " (new)" if delta else ""
    return text


def kpi_table(rows: list[tuple[str, Mapping[str, Any], str]], this: str, last: str) -> list[str]:
    """Return the lines of a `metric | this | last | change` table."""
    lines = [f"| metric | {this} | {last} | change |", "|---|---:|---:|---:|"]
    for label, metric, kind in rows:
        lines.append(
            f"| {label} | {fmt_num(metric['current'], kind)} "
            f"| {fmt_num(metric['previous'], kind)} "
            f"| {fmt_change(metric, kind)} |"
        )
    return lines


def md_cell(text: str) -> str:
    """Escape `text` for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


# --- weekly ------------------------------------------------------------------------------


def _weekly_movers(body: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for direction, title in (("up", "Top movers up"), ("down", "Top movers down")):
        lines += [f"## {title} (active students)", ""]
        movers = body["top_movers"][direction]
        if not movers:
            lines += ["None.", ""]
            continue
        lines += ["| course | this week | previous week | change |", "|---|---:|---:|---:|"]
        for m in movers:
            pct = f" ({m['change_pct']:+.1f}%)" if m["change_pct"] is not None else " (new)"
            lines.append(
                f"| {md_cell(m['title'])} | {m['active_students']:,} | {m['previous']:,} "
                f"| {int(m['change']):+,}{pct} |"
            )
        lines.append("")
    return lines


def _weekly_per_course(body: Mapping[str, Any]) -> list[str]:
    active = [
        c
        for c in body["courses"]
        if any(c[name]["current"] or c[name]["previous"] for name, _, _, _ in WEEKLY_METRICS)
    ]
    active.sort(key=lambda c: (-c["active_students"]["current"], c["course_id"]))
    lines = ["## Per course", ""]
    if not active:
        return lines + ["No course activity in either week.", ""]
    lines += [
        "| course | active students | new enrollments | completions | completion rate |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in active:
        cells = [
            f"{fmt_num(c[name]['current'], kind)} "
            f"({fmt_change(c[name], kind, with_pct=False)})"
            for name, _, kind, _ in WEEKLY_METRICS
        ]
        lines.append(f"| {md_cell(c['title'])} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def render_weekly_markdown(body: Mapping[str, Any], period: Period) -> str:
    """Render the weekly report body as Markdown."""
    lines = [
        f"# Weekly trend report {period.key}",
        "",
        f"Week: {period.label}, compared with {period.previous_key} "
        f"({period.previous_start.date().isoformat()} to "
        f"{(period.start - DAY).date().isoformat()}).",
        "",
        "## Overall",
        "",
        *kpi_table(
            [(label, body["overall"][name], kind) for name, _, kind, label in WEEKLY_METRICS],
            "this week",
            "previous week",
        ),
        "",
    ]
    lines += _weekly_movers(body)
    lines += _weekly_per_course(body)
    return "\n".join(lines)


# --- monthly -----------------------------------------------------------------------------


def render_monthly_markdown(body: Mapping[str, Any], period: Period) -> str:
    """Render the monthly executive summary body as Markdown."""
    lines = [
        f"# Executive summary {period.key}",
        "",
        f"Month: {period.label}, compared with {period.previous_key}.",
        "",
        "## Key figures",
        "",
        *kpi_table(
            [(label, body["kpis"][name], kind) for name, kind, label in MONTHLY_METRICS],
            period.key,
            period.previous_key,
        ),
        "",
        "## Top courses (by active students)",
        "",
    ]
    if not body["top_courses"]:
        lines += ["No course activity this month.", ""]
    else:
        lines += [
            "| # | course | active students | new enrollments | completions | completion rate "
            "| time spent |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for i, c in enumerate(body["top_courses"], 1):
            lines.append(
                f"| {i} | {md_cell(c['title'])} | {c['active_students']:,} | {c['enrollments']:,} "
                f"| {c['completions']:,} | {fmt_num(c['completion_rate'], 'pct')} "
                f"| {fmt_num(c['time_spent_seconds'], 'hours')} |"
            )
        lines.append("")
    return "\n".join(lines)
