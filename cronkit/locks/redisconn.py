"""Redis connections with bounded timeouts, so a hung server never hangs a run."""

from __future__ import annotations

import redis

REDIS_SOCKET_TIMEOUT = 5.0


def connect(url: str, timeout: float = REDIS_SOCKET_TIMEOUT) -> redis.Redis:
    """Return a client for `url` whose every call gives up after `timeout` seconds."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=False
    )


# Errors that mean "try again later" rather than "this task is wrong".
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)
