"""Where a run's raw output waits while the run lasts, and what becomes of it when the runner dies.

The runner captures a run's output in `<CRONKIT_HOME>/capture/<run id>-<task>.out` (directory
0700, file 0600), never under $TMPDIR, so that a later command can find what a killed runner left:
when the run is marked `lost`, `salvager` keeps the redacted tail of that file as the run's output
and deletes the raw file. The raw output is never kept anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

CAPTURE_DIR = "capture"
OUTPUT_TAIL_BYTES = 64 * 1024


def capture_path(home: Path, run_id: int, task: str) -> Path:
    """Return where the run `run_id` of `task` captures its raw output."""
    return home / CAPTURE_DIR / f"{run_id}-{task}.out"


def read_tail(path: Path | str, limit: int = OUTPUT_TAIL_BYTES) -> bytes:
    """Return at most the last `limit` bytes of a file, starting on a line when one starts in them.

    A tail cut inside a line could begin in the middle of a secret's `name=` prefix, so the
    partial first line is dropped (unless the tail is one line: then it is kept as it is).
    """
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        start = max(0, size - limit)
        fh.seek(start)
        data = fh.read(limit)
    if start > 0:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data = data[newline + 1:]
    return data


def salvager(home: Path, redact: Callable[[str], str]) -> Callable[[int, str], str | None]:
    """Return salvage(run_id, task): the redacted tail a dead runner left, its raw file deleted."""

    def salvage(run_id: int, task: str) -> str | None:
        path = capture_path(home, run_id, task)
        try:
            raw = read_tail(path)
        except OSError:
            return None
        try:
            text = redact(raw.decode("utf-8", "replace"))
            return text or None
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass

    return salvage


__all__ = ["CAPTURE_DIR", "OUTPUT_TAIL_BYTES", "capture_path", "read_tail", "salvager"]
