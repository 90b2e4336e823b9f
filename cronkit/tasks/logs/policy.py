"""Read and check daily-log-pruning's options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cronkit.errors import ConfigError


@dataclass(frozen=True)
class Policy:
    """What the pass keeps: rotated files' age and count per log, live logs' size, compression."""

    retention_days: int
    max_bytes: int
    max_files: int
    compress: bool

    @classmethod
    def from_config(cls, config: Any) -> Policy:
        """Return the policy of the task options `config`; ConfigError naming a bad option."""

        def number(key: str, minimum: float) -> float:
            value = config.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
                raise ConfigError(f"tasks.daily-log-pruning.{key}: must be a number >= {minimum:g}")
            return float(value)

        compress = config.get("compress_old_logs", True)
        if not isinstance(compress, bool):
            raise ConfigError("tasks.daily-log-pruning.compress_old_logs: must be true or false")
        return cls(
            retention_days=int(number("retention_days", 1)),
            max_bytes=int(number("max_file_size_mb", 0.001) * 1024 * 1024),
            max_files=int(number("max_files", 0)),
            compress=compress,
        )
