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

from cronkit.safe.cut import reach, safe_start
from cronkit.safe.redact import Redactor

CAPTURE_DIR = "capture"
OUTPUT_TAIL_BYTES = 64 * 1024


def capture_path(home: Path, run_id: int, task: str) -> Path:
    """Return where the run `run_id` of `task` captures its raw output."""
    return home / CAPTURE_DIR / f"{run_id}-{task}.out"


def redacted_tail(path: Path | str, redact: Redactor, limit: int = OUTPUT_TAIL_BYTES) -> str:
    """Return the redacted tail of a file: about its last `limit` bytes, starting outside every secret.

    The bytes before the tail are read too, so that a secret crossing the tail's start is seen
    whole and left out (safe.cut.safe_start): a tail cut inside a secret would keep its end.
    The tail starts on a line when one starts in it.
    """
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        start = max(0, size - limit)
        first = max(0, start - 4 * reach(redact))  # a character is 4 bytes at most
        fh.seek(first)
        data = fh.read(size - first)
    if start == 0:
        return redact(data.decode("utf-8", "replace"))
    at = start - first
    while at < len(data) and data[at] & 0xC0 == 0x80:  # not inside a character
        at += 1
    head = data[:at].decode("utf-8", "replace")
    text = head + data[at:].decode("utf-8", "replace")
    return redact(text[safe_start(redact, text, len(head), cut_before=first > 0):])


def salvager(home: Path, redact: Redactor) -> Callable[[int, str], str | None]:
    """Return salvage(run_id, task): the redacted tail a dead runner left, its raw file deleted."""

    def salvage(run_id: int, task: str) -> str | None:
        path = capture_path(home, run_id, task)
        try:
            return redacted_tail(path, redact) or None
        except OSError:
            return None
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass

    return salvage


__all__ = ["CAPTURE_DIR", "OUTPUT_TAIL_BYTES", "capture_path", "redacted_tail", "salvager"]
