"""Write the demo's log files: access logs of various ages and sizes, some rotated and gzipped.

Part of `cronkit demo seed` (cronkit.tasks.demo); daily-log-pruning has them to work on.
"""

from __future__ import annotations

import gzip
import os
import random
from datetime import datetime, timedelta
from pathlib import Path

# Just over log pruning's default max_file_size_mb, so the demo shows a size cap at work.
DEFAULT_LARGE_LOG_MB = 101

LOG_PATHS = (
    "/api/courses",
    "/api/lessons/42",
    "/api/quizzes/7/submit",
    "/api/me",
    "/api/enrollments",
    "/health",
)


def _log_text(rng: random.Random, at: datetime, size: int) -> bytes:
    """Return about `size` bytes of plausible access-log lines ending before `at`."""
    lines, total = [], 0
    t = at - timedelta(seconds=size // 20)
    while total < size:
        t += timedelta(milliseconds=rng.randint(5, 400))
        status = rng.choices((200, 201, 304, 404, 500), weights=(80, 5, 8, 5, 2))[0]
        line = (
            f"{t:%Y-%m-%dT%H:%M:%S.%f}Z {'ERROR' if status >= 500 else 'INFO'} "
            f"{rng.choice(('GET', 'POST'))} {rng.choice(LOG_PATHS)} status={status} "
            f"ms={rng.randint(2, 900)}\n"
        )
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def _write_large(path: Path, rng: random.Random, at: datetime, size: int) -> None:
    chunk = _log_text(rng, at, 1 << 20)
    with path.open("wb") as fh:
        remaining = size
        while remaining > 0:
            piece = chunk[:remaining]
            fh.write(piece)
            remaining -= len(piece)


def seed_logs(
    log_dir: Path,
    now: datetime,
    rng: random.Random | None = None,
    *,
    large_log_mb: float = DEFAULT_LARGE_LOG_MB,
) -> dict[str, int]:
    """Write log files of various ages and sizes into `log_dir`, mtimes set; return counts.

    app.log (current), app.log.1 (yesterday), app.log.2.gz ... app.log.14.gz (one per day, older),
    worker.log and its rotations, three logs older than 30 days, and api.log larger than
    `large_log_mb`. Existing files of the same names are rewritten.
    """
    rng = rng or random.Random(0)
    log_dir.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, float, int, bool]] = [
        ("app.log", 0.02, 64_000, False),
        ("app.log.1", 1, 48_000, False),
    ]
    files += [(f"app.log.{n}.gz", n, 40_000, True) for n in range(2, 15)]
    files += [
        ("worker.log", 0.1, 20_000, False),
        ("worker.log.1", 3, 20_000, False),
        ("worker.log.2", 9, 20_000, False),
    ]
    files += [
        ("worker.log.3.gz", 31, 20_000, True),
        ("audit-old.log", 45, 30_000, False),
        ("app-archive.log.gz", 95, 30_000, True),
    ]
    total = old = 0
    for name, age_days, size, compressed in files:
        path = log_dir / name
        at = now - timedelta(days=age_days)
        data = _log_text(rng, at, size)
        path.write_bytes(gzip.compress(data, mtime=0) if compressed else data)
        os.utime(path, (at.timestamp(), at.timestamp()))
        total += path.stat().st_size
        old += age_days > 30
    count = len(files)
    large_bytes = int(large_log_mb * 1024 * 1024)
    if large_bytes:
        path = log_dir / "api.log"
        at = now - timedelta(minutes=5)
        _write_large(path, rng, at, large_bytes)
        os.utime(path, (at.timestamp(), at.timestamp()))
        total += large_bytes
        count += 1
    return {
        "log_files": count,
        "old_log_files": old,
        "log_bytes": total,
        "large_log_files": 1 if large_bytes else 0,
    }
