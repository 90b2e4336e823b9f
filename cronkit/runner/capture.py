"""Output capture: a run's stdout, stderr and cronkit's own notes, kept in a private file under CRONKIT_HOME.

Every attempt's child appends to the same file (O_APPEND), `<home>/capture/<run id>-<task>.out`
(runlog.leftover says why there). When the run ends, the output is redacted and copied to the
task's log file a piece at a time, and only its tail is redacted for the run log, so the
runner's memory and the time redaction takes do not grow with the output (issue 12); the copy
stops at a signal or when its time is up, saying so in the log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from ..runlog.leftover import OUTPUT_TAIL_BYTES, capture_path, read_tail

COPY_PIECE = 1024 * 1024  # bytes redacted at a time on the way to the task's log file


class Capture:
    """Collect one run's output; notes made before the capture file exists wait for it."""

    def __init__(self, task: str, home: Path) -> None:
        self.task = task
        self.home = home
        self.path: str | None = None
        self._waiting: list[str] = []

    def open(self, run_id: int) -> str:
        """Create the capture file (0600, in a 0700 directory), write the notes that waited, return its path."""
        path = capture_path(self.home, run_id, self.task)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.close(fd)
        self.path = str(path)
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

    def collect(self, redact: Callable[[str], str], log_dir: Path, header: str, *,
                stop_by: float = float("inf"), cancelled: Callable[[], bool] = lambda: False) -> str | None:
        """Copy the redacted output under `header` to the task's log file; return the redacted tail.

        The copy goes a piece at a time and stops at `stop_by` (time.monotonic()) or when
        `cancelled()` says a signal came, noting in the log what it left out.
        """
        if not self.path:
            return None
        try:
            size = os.path.getsize(self.path)
            if not size:
                return None
            if size <= OUTPUT_TAIL_BYTES:  # the common case: one redaction serves both
                with open(self.path, "rb") as fh:
                    text = redact(fh.read().decode("utf-8", "replace"))
                _append_log(log_dir / f"{self.task}.log", header + text + ("" if text.endswith("\n") else "\n"))
                return text
            tail = redact(read_tail(self.path).decode("utf-8", "replace"))
        except OSError:
            return None
        self._copy(redact, log_dir / f"{self.task}.log", header, stop_by, cancelled)
        encoded = tail.encode()
        if len(encoded) > OUTPUT_TAIL_BYTES:
            tail = encoded[-OUTPUT_TAIL_BYTES:].decode("utf-8", "ignore")
        return tail

    def _copy(self, redact: Callable[[str], str], log: Path, header: str, stop_by: float,
              cancelled: Callable[[], bool]) -> None:
        """Append the redacted output to `log` piece by piece, each piece ending on a line where it can."""
        assert self.path is not None
        try:
            log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            return  # the run log keeps the tail even when the log directory is not writable
        with os.fdopen(fd, "a", encoding="utf-8") as out, open(self.path, "rb") as raw:
            out.write(header)
            done, carry, last = 0, b"", b"\n"
            while True:
                if cancelled() or time.monotonic() >= stop_by:
                    left = os.fstat(raw.fileno()).st_size - done
                    why = "a signal came" if cancelled() else "the time for copying it ran out"
                    gap = "" if last == b"\n" else "\n"
                    out.write(f"{gap}cronkit: {left} more bytes of output not copied to this log ({why});"
                              " the run log keeps its tail\n")
                    return
                chunk = raw.read(COPY_PIECE)
                piece = carry + chunk
                if not chunk:
                    if piece:
                        out.write(redact(piece.decode("utf-8", "replace")))
                        last = piece[-1:]
                    break
                cut = piece.rfind(b"\n") + 1
                if cut == 0 and len(piece) < COPY_PIECE:
                    carry = piece
                    continue
                cut = cut or len(piece)  # a line longer than a piece goes in pieces
                out.write(redact(piece[:cut].decode("utf-8", "replace")))
                done += cut
                last, carry = piece[cut - 1:cut], piece[cut:]
            if last != b"\n":
                out.write("\n")

    def discard(self) -> None:
        """Remove the capture file, if the run made one."""
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _append_log(path: Path, text: str) -> None:
    """Append to a task's log file (0600, directory 0700); an unwritable log directory is no failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError:
        pass
