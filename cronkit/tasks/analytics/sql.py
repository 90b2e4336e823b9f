"""Build the SQL pieces the analytics tasks share, and open the platform database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func
from sqlalchemy.engine import Engine

from cronkit.context import TaskContext
from cronkit.tasks import platform as p


def open_app_db(ctx: TaskContext) -> Engine:
    """Return the platform database's engine, its tables created when missing."""
    engine = ctx.app_db
    p.create_all(engine)
    return engine


def count_if(condition: Any) -> Any:
    """Return a SUM that counts the rows where `condition` holds (0 when there are none)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def between(column: Any, start: datetime, end: datetime) -> Any:
    """Return `start <= column < end`."""
    return and_(column >= start, column < end)
