"""Output capture: a run's stdout, stderr and cronkit's own notes, kept in a private file under CRONKIT_HOME.

Every attempt's child appends to the same file (O_APPEND), `<home>/capture/<run id>-<task>.out`
(runlog.leftover says why there). When the run ends, the output is redacted and copied to the
task's log file a piece at a time, and only its tail is redacted for the run log, so the
runner's memory and the time redaction takes do not grow with the output (issue 12); the copy
stops at a signal or when its time is up, saying so in the log.
"""

from __future__ import annotations

import codecs
import errno
import os
import time
from collections.abc import Callable
from pathlib import Path

from cronkit.clock import now
from cronkit.runlog.leftover import OUTPUT_TAIL_BYTES, capture_path, redacted_tail
from cronkit.safe.cut import PieceRedactor
from cronkit.safe.encrypt import seal, sealing
from cronkit.safe.redact import Redactor

COPY_PIECE = 1024 * 1024  # bytes redacted at a time on the way to the task's log file
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class Capture:
    """Collect one run's output; notes made before the capture file exists wait for it."""

    def __init__(self, task: str, home: Path) -> None:
        self.task = task
        self.home = home
        self.path: str | None = None
        self._waiting: list[str] = []
        self._unwritten: list[str] = []  # notes the capture file had no room for: they go in the tail

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

        line = f"cronkit: {now().isoformat(timespec='seconds')} {text}\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)  # O_APPEND: safe beside the task
            try:
                _write(fd, line)
            finally:
                os.close(fd)
        except OSError:
            self._unwritten.append(line)

    def collect(self, redact: Redactor, log_dir: Path, header: str, *,
                stop_by: float = float("inf"), cancelled: Callable[[], bool] = lambda: False) -> str | None:
        """Copy the redacted output under `header` to the task's log file; return the redacted tail.

        The copy goes a piece at a time, each cut where no secret crosses it (safe.cut), and stops
        at `stop_by` (time.monotonic()), when `cancelled()` says a signal came, or when the log's
        disk is full, noting what it left out: in the log, and in the tail when the log has no room.
        The notes the capture file had no room for end the tail.
        """
        tail = self._collect(redact, log_dir, header, stop_by, cancelled)
        if not self._unwritten:
            return tail
        notes, self._unwritten = redact("".join(self._unwritten)), []
        return (tail or "") + ("" if not tail or tail.endswith("\n") else "\n") + notes

    def _collect(self, redact: Redactor, log_dir: Path, header: str, stop_by: float,
                 cancelled: Callable[[], bool]) -> str | None:
        if not self.path:
            return None
        log = log_dir / f"{self.task}.log"
        try:
            size = os.path.getsize(self.path)
            if not size:
                return None
            if size <= OUTPUT_TAIL_BYTES:  # the common case: one redaction serves both
                with open(self.path, "rb") as fh:
                    text = redact(fh.read().decode("utf-8", "replace"))
                full = _append_log(log, header + text + ("" if text.endswith("\n") else "\n"))
                return text if full is None else text + _full_note(log, size, full)
            tail = redacted_tail(self.path, redact, OUTPUT_TAIL_BYTES)
        except OSError:
            return None
        encoded = tail.encode()
        if len(encoded) > OUTPUT_TAIL_BYTES:
            tail = encoded[-OUTPUT_TAIL_BYTES:].decode("utf-8", "ignore")
        return tail + (self._copy(redact, log, header, stop_by, cancelled) or "")

    def _copy(self, redact: Redactor, log: Path, header: str, stop_by: float,
              cancelled: Callable[[], bool]) -> str | None:
        """Append the redacted output to `log` piece by piece; return a note for the tail when the disk filled."""
        assert self.path is not None
        try:
            log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:  # the run log keeps the tail even when the log directory is not writable
            return _full_note(log, os.path.getsize(self.path), exc) if exc.errno in DISK_FULL else None
        pieces = PieceRedactor(redact, COPY_PIECE)
        decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        size, copied, last = 0, 0, "\n"
        try:
            with open(self.path, "rb") as raw:
                size = os.fstat(raw.fileno()).st_size
                _log_write(fd, header)
                while True:
                    if cancelled() or time.monotonic() >= stop_by:
                        why = "a signal came" if cancelled() else "the time for copying it ran out"
                        gap = "" if last == "\n" else "\n"
                        _log_write(fd, f"{gap}cronkit: {size - copied} more bytes of output"
                                   f" not copied to this log ({why}); the run log keeps its tail\n")
                        return None
                    chunk = raw.read(COPY_PIECE)
                    text = pieces.feed(decode(chunk, final=not chunk)) + ("" if chunk else pieces.close())
                    if text:
                        _log_write(fd, text)
                        last = text[-1]
                    copied = raw.tell() - len(pieces.pending.encode("utf-8", "replace"))
                    if not chunk:
                        break
                if last != "\n":
                    _log_write(fd, "\n")
        except OSError as exc:
            if exc.errno not in DISK_FULL:
                return None
            note = _full_note(log, size - copied, exc)
            try:
                _log_write(fd, "\n" + note)  # a line may still fit
            except OSError:
                pass
            return note
        finally:
            os.close(fd)
        return None

    def discard(self) -> None:
        """Remove the capture file, if the run made one."""
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _append_log(path: Path, text: str) -> OSError | None:
    """Append to a task's log file (0600, directory 0700); an unwritable log directory is no failure.

    Return the error when the disk is full, so that the run log's copy can say what is missing.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            _log_write(fd, text)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc if exc.errno in DISK_FULL else None
    return None


def _log_write(fd: int, text: str) -> None:
    """Write to a task's log file: as it is, or (encrypt_payloads) as one sealed line that
    `cronkit logs` opens (a line per piece, so a reader can open the log from any line on)."""
    if text and sealing():
        text = (seal(text, "log") or "") + "\n"
    _write(fd, text)


def _write(fd: int, text: str) -> None:
    """Write all of `text` to `fd` (OSError, with ENOSPC, when the disk is full)."""
    view = memoryview(text.encode("utf-8", "replace"))
    while view:
        view = view[os.write(fd, view):]


def _full_note(log: Path, dropped: int, exc: OSError) -> str:
    """Say, as a line of cronkit's own, how much output the log did not get and why."""
    return (f"cronkit: {dropped} bytes of output not copied to {log}: {exc.strerror or exc}"
            "; the run log keeps this tail\n")
