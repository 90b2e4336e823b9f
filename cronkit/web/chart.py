"""The task page's duration chart: server-rendered SVG, one point per run, p50/p95/timeout lines.

Scales to its box (viewBox + width 100%), so the same markup reads at 390 px and at 1440 px.
Failed runs are drawn as crosses, successful ones as dots: the shape tells what the colour does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

W, H = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 84, 12, 12, 34


def _fmt_s(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def duration_chart(stats: dict[str, Any], timeout_s: float | None) -> Markup:
    """Return the SVG of a task's run durations over the stats' window."""
    points = stats["points"]
    since: datetime = stats["since"]
    now: datetime = stats["now"]
    p50, p95 = stats["p50"], stats["p95"]
    top = max([p.duration_s for p in points] + [p95 or 0.0])
    show_timeout = timeout_s is not None and timeout_s > 0 and timeout_s <= max(top * 3, 1.0)
    if show_timeout and timeout_s is not None:
        top = max(top, timeout_s)
    top = top * 1.1 if top > 0 else 1.0
    span = max((now - since).total_seconds(), 1.0)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + plot_w * min(max((at - since).total_seconds() / span, 0.0), 1.0)

    def y(seconds: float) -> float:
        return TOP + plot_h * (1 - min(seconds / top, 1.0))

    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="chart-title" '
           f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
           f'<title id="chart-title">Run durations over the last 30 days: {len(points)} runs</title>',
           f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>']
    for frac in (0.0, 0.5, 1.0):
        value = top * frac
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{_fmt_s(value)}</text>')
    for frac, label in ((0.0, since.strftime("%b %d")), (1.0, "now")):
        out.append(f'<text class="axis" x="{LEFT + plot_w * frac:.1f}" y="{H - 8}" '
                   f'text-anchor="{"start" if frac == 0 else "end"}">{escape(label)}</text>')
    lines = [("p50", p50), ("p95", p95)] + ([("timeout", timeout_s)] if show_timeout else [])
    for name, value in lines:
        if value is None:
            continue
        out.append(f'<line class="line-{name}" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}">'
                   f'<title>{name} {_fmt_s(value)}</title></line>')
        out.append(f'<text class="label label-{name}" x="{W - RIGHT - 4}" y="{y(value) - 4:.1f}" '
                   f'text-anchor="end">{name} {_fmt_s(value)}</text>')
    if timeout_s and not show_timeout:
        out.append(f'<text class="label label-timeout" x="{LEFT + 6}" y="{TOP + 16}" text-anchor="start">'
                   f'timeout {_fmt_s(timeout_s)}: far above</text>')
    for p in points:
        cx, cy = x(p.at), y(p.duration_s)
        tip = escape(f"run {p.run_id} · {p.at:%Y-%m-%d %H:%M}Z · {_fmt_s(p.duration_s)} · {p.state}")
        if p.state == "bad":
            out.append(f'<path class="pt bad" d="M{cx - 4:.1f} {cy - 4:.1f}l8 8m0 -8l-8 8"><title>{tip}</title></path>')
        else:
            out.append(f'<circle class="pt {p.state}" cx="{cx:.1f}" cy="{cy:.1f}" r="3.5"><title>{tip}</title></circle>')
    if not points:
        out.append(f'<text class="empty" x="{W / 2}" y="{H / 2}" text-anchor="middle">no finished runs in 30 days</text>')
    out.append("</svg>")
    return Markup("".join(out))


__all__ = ["duration_chart"]
