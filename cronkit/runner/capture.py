"""Output capture: a run's stdout, stderr and cronkit's own notes, kept in a private temp file.

Every attempt's child appends to the same file (O_APPEND); when the run ends, the redacted text
goes to the task's log file and its tail to the run log.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..runlog.writer import OUTPUT_TAIL_BYTES


class Capture:
    """Collect one run's output; notes made before the capture file exists wait for it."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.path: str | None = None
        self._waiting: list[str] = []

    def open(self) -> str:
        """Create the capture file, write the notes that waited for it, and return its path."""
        fd, self.path = tempfile.mkstemp(prefix=f"cronkit-{self.task}-", suffix=".out")
        os.close(fd)
        waiting, self._waiting = self._waiting, []
        for text in waiting:
            self.note(text)
        return self.path

    def note(self, text: str) -> None:
        """Add a line of cronkit's own to the output (before the first attempt: keep it for later)."""
        if not self.path:
            self._waiting.append(text)
            return
        from ..clock import now

        stamp = now().isoformat(timespec="seconds")
        try:
            with open(self.path, "a", encoding="utf-8") as fh:  # O_APPEND: safe beside the task's writes
                fh.write(f"cronkit: {stamp} {text}\n")
        except OSError:
            pass

    def collect(self, redact: Callable[[str], str], log_dir: Path, header: str) -> str | None:
        """Redact the output, append it under `header` to the task's log file, return the stored tail."""
        raw = self._read()
        if not raw:
            return None
        text = redact(raw.decode("utf-8", "replace"))
        _append_log(log_dir / f"{self.task}.log", header + text + ("" if text.endswith("\n") else "\n"))
        encoded = text.encode()
        if len(encoded) > OUTPUT_TAIL_BYTES:
            text = encoded[-OUTPUT_TAIL_BYTES:].decode("utf-8", "ignore")
        return text

    def discard(self) -> None:
        """Remove the capture file, if the run made one."""
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def _read(self) -> bytes | None:
        if not self.path:
            return None
        try:
            with open(self.path, "rb") as fh:
                return fh.read()
        except OSError:
            return None


def _append_log(path: Path, text: str) -> None:
    """Append to a task's log file (0600, directory 0700); an unwritable log directory is no failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError:
        pass  # the run log keeps the tail even when the log directory is not writable
