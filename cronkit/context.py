"""TaskContext: what a task function receives."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import cached_property

from cronkit.errors import Cancelled, ServiceUnavailable
from cronkit.plain import TYPE_CHECKING, field, record

if TYPE_CHECKING:
    import logging
    from typing import Any

    import redis
    from sqlalchemy.engine import Engine

    from cronkit.config.settings import Settings
    from cronkit.registry.params import Param


class LazyLogger:
    """A logger made on first use: importing `logging` costs a cron tick about 10 ms, and most ticks never log.

    It stands in for the `logging.Logger` it makes (every attribute is the real logger's);
    `setup` (the runner's: handlers on the captured stderr) runs once, before the first message.
    """

    def __init__(self, name: str, setup: Callable[[], None] | None = None) -> None:
        self._name = name
        self._setup = setup
        self._logger: logging.Logger | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._logger is None:
            if self._setup is not None:
                self._setup()
            import logging  # lazy: see the class docstring

            self._logger = logging.getLogger(self._name)
        return getattr(self._logger, attribute)


def lazy_logger(name: str, setup: Callable[[], None] | None = None) -> logging.Logger:
    """Return a LazyLogger typed as the Logger it stands for."""
    return LazyLogger(name, setup)  # type: ignore[return-value]


@record
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
    logger: logging.Logger = field(default_factory=lambda: lazy_logger("cronkit.task"))
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
        # lazy: SQLAlchemy, only for a task that asks
        from cronkit.runlog.engines import create_engine_for

        return create_engine_for(self.settings.app_db_url)

    @cached_property
    def redis(self) -> redis.Redis:
        """Connect to Redis (CRONKIT_REDIS_URL) on first use; ServiceUnavailable when unset."""
        if not self.settings.redis_url:
            raise ServiceUnavailable(f"{self.task}: needs Redis, but CRONKIT_REDIS_URL is not set")
        from cronkit.locks.redisconn import connect  # lazy: redis, only for a task that asks

        return connect(self.settings.redis_url)
