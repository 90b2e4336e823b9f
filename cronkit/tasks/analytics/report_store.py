"""Store a report (its `reports` row, its .md and .json files) and run a report task's flow."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.engine import Connection, Engine

from cronkit.context import TaskContext
from cronkit.errors import ConfigError
from cronkit.tasks import platform as p
from cronkit.tasks._support import atomic_write
from cronkit.tasks.analytics.periods import Period, utc
from cronkit.tasks.analytics.sql import open_app_db


def int_config(ctx: TaskContext, key: str, default: int) -> int:
    """Return the task option `key`, a whole number >= 0; ConfigError otherwise."""
    value = ctx.config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"tasks.{ctx.task}.{key}: must be a whole number >= 0")
    return value


def report_paths(reports_dir: Path, kind: str, key: str) -> tuple[Path, Path]:
    """Return the Markdown and JSON file paths of a report (`weekly-2026-W47.md`, `.json`)."""
    stem = f"{kind}-{key}"
    return reports_dir / f"{stem}.md", reports_dir / f"{stem}.json"


def save_report(
    ctx: TaskContext, engine: Engine, period: Period, body: dict[str, Any], markdown: str
) -> list[str]:
    """Replace the period's row in `reports`, then (re)write its Markdown and JSON files."""
    body_text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    rep = p.reports
    with engine.begin() as conn:
        conn.execute(delete(rep).where(rep.c.kind == period.kind, rep.c.period == period.key))
        conn.execute(
            insert(rep),
            [
                {
                    "kind": period.kind,
                    "period": period.key,
                    "period_start": period.start,
                    "period_end": period.end,
                    "created_at": utc(ctx.now),
                    "body": body_text,
                    "markdown": markdown,
                }
            ],
        )
    md_path, json_path = report_paths(ctx.settings.reports_dir, period.kind, period.key)
    atomic_write(md_path, markdown)
    atomic_write(json_path, body_text)
    return [str(md_path), str(json_path)]


def run_report(
    ctx: TaskContext,
    period: Period,
    build: Callable[[Connection], dict[str, Any]],
    render: Callable[[dict[str, Any], Period], str],
    summary: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """Build a report body for `period`, store and write it (unless a dry run), return the counts."""
    engine = open_app_db(ctx)
    ctx.logger.info("%s: %s", ctx.task, period.key)
    with engine.connect() as conn:
        body = build(conn)
    ctx.check_cancelled()
    files = [] if ctx.dry_run else save_report(ctx, engine, period, body, render(body, period))
    result: dict[str, Any] = {
        "period": period.key,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        **summary(body),
        "files": files,
    }
    if ctx.dry_run:
        result["dry_run"] = True
    return result
