"""TaskContext: what a task function receives."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .errors import Cancelled, ServiceUnavailable

if TYPE_CHECKING:
    import redis
    from sqlalchemy.engine import Engine

    from .config import Settings
    from .params import Param


@dataclass
class TaskContext:
    """A task's view of its run: settings, params, the slot, lazy handles and cancellation.

    - `config`: the task's `[tasks.<name>]` table merged over its registered defaults.
    - `slot`: the scheduled instant (UTC) a cron run serves; None for manual runs.
    - `date`: the `--date` value, for backfilling a past period; None when not given.
    - `params`: `--param key=value` pairs, as strings; `param(name)` reads one as its declared kind.
    - `now`: the instant the run started (UTC); the clock tasks should use.
    """

    task: str
    settings: Settings
    config: Mapping[str, Any]
    now: datetime
    params: Mapping[str, str] = field(default_factory=dict)
    slot: datetime | None = None
    date: date | None = None
    dry_run: bool = False
    run_id: int | None = None
    attempt: int = 1
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("cronkit.task"))
    cancel_event: threading.Event = field(default_factory=threading.Event)
    declared: Mapping[str, Param] | None = None  # the task's `params=`, which `param` reads by

    def param(self, name: str, default: Any = None) -> Any:
        """Return `--param name=...` read as its declared kind (int, float, bool, date, hour as a UTC
        datetime, str), `default` when not given; the string for a task that declares no params."""
        if name not in self.params:
            return default
        spec = (self.declared or {}).get(name)
        return spec.check(name, self.params[name], self.now) if spec is not None else self.params[name]

    @property
    def cancelled(self) -> bool:
        """True once the run has been asked to stop (SIGTERM, SIGINT or timeout)."""
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise Cancelled when the run has been asked to stop; call it between batches."""
        if self.cancel_event.is_set():
            raise Cancelled(f"{self.task}: cancelled")

    @property
    def reference_time(self) -> datetime:
        """Return the instant that defines "the previous period": the slot, else now."""
        return self.slot or self.now

    @cached_property
    def app_db(self) -> Engine:
        """Open the platform database (CRONKIT_APP_DB_URL) on first use."""
        from .runlog.engines import create_engine_for

        return create_engine_for(self.settings.app_db_url)

    @cached_property
    def redis(self) -> redis.Redis:
        """Connect to Redis (CRONKIT_REDIS_URL) on first use; ServiceUnavailable when unset."""
        if not self.settings.redis_url:
            raise ServiceUnavailable(f"{self.task}: needs Redis, but CRONKIT_REDIS_URL is not set")
        from .redisutil import connect

        return connect(self.settings.redis_url)
