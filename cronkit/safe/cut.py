"""Redaction of text too long to redact at once: cut only where no secret crosses the cut.

Output is copied a piece at a time, and only its tail is kept in the run log, so long text is
cut before it is redacted. A cut inside a secret (or between a secret and the `password=` or
`Bearer ` that marks it) would leave a part on each side that no pattern recognises. So every
cut is moved to a safe point: outside every span the redactor would mask, as found in a window
that reaches OVERLAP characters past the cut (and at least the longest known secret).

A secret longer than the window (a `password=` followed by megabytes without a blank) cannot be
seen whole: it is masked from its start, and what follows is dropped up to the next blank, since
none of the patterns' unbounded secrets holds one. The same holds at the start of a tail
that begins inside a run of characters without a blank reaching back past the window.
"""

from __future__ import annotations

import re

from cronkit.safe.redact import LOOKBEHIND, MASK, Redactor

OVERLAP = 64 * 1024  # characters read past a cut to see the secrets that cross it
HEAD = 256  # the longest run before a pattern's secret: its word, quotes, separator and blanks
_BLANK = re.compile(r"\s")


def _reach(redactor: Redactor) -> int:
    """Return how far past a cut a window must reach: OVERLAP, or more for a long known secret."""
    return max(OVERLAP, 2 * (redactor.longest + LOOKBEHIND))


def _back_out(cut: int, spans: list[tuple[int, int]], end: int) -> int:
    """Move `cut` back before every span it falls in (a span touching `end` may go on past it)."""
    moved = True
    while moved:
        moved = False
        for begin, stop in spans:
            if begin < cut and (cut < stop or stop >= end):
                cut, moved = begin, True
    return cut


def safe_cut(redactor: Redactor, text: str, limit: int) -> tuple[int, int]:
    """Return (where to cut `text`, where the text kept after the cut resumes).

    `text` reaches at least `_reach(redactor)` past `limit`: the window. The cut prefers the last
    line end before `limit`, else `limit`, moved back before any secret crossing it; the text
    resumes at the cut. With no safe point before, the cut moves forward past the secrets instead.
    A secret that runs to the window's end is longer than the window: the cut goes before it and
    the text resumes at the window's end, the secret's start masked, its rest to be skipped up to a
    blank.
    """
    newline = text.rfind("\n", 0, limit)
    wanted = newline + 1 if newline >= 0 else limit
    end = min(len(text), limit + _reach(redactor))  # the window: what lies further cannot matter
    low = max(0, limit - _reach(redactor))
    spans = redactor.spans(text, low, end)
    cut = _back_out(wanted, spans, end)
    if low and (cut - low <= redactor.longest + HEAD or not _BLANK.search(text, low + HEAD, cut + 1)):
        # A match starting before the window's low end could cross the cut: a known value, or a
        # pattern's secret, which holds no blank past its head. Look at the whole window.
        spans = redactor.spans(text, 0, end)
        cut = _back_out(wanted, spans, end)
    if cut > 0:
        return cut, cut
    cut = wanted
    moved = True
    while moved:
        moved = False
        for begin, stop in spans:
            if begin < cut < stop:
                if stop >= end:
                    return _back_out(begin, spans, end), end
                cut, moved = stop, True
    return cut, cut


def skip_to_blank(text: str) -> tuple[str, bool]:
    """Drop the start of `text` up to its first blank; return (the rest, whether a blank was reached)."""
    blank = _BLANK.search(text)
    return (text[blank.start():], True) if blank else ("", False)


class PieceRedactor:
    """Redact a stream of text a piece at a time, each cut where no secret crosses it."""

    def __init__(self, redactor: Redactor, piece: int) -> None:
        self.redactor = redactor
        self.piece = max(1, piece)
        self.window = self.piece + _reach(redactor)
        self.pending = ""
        self.skipping = False  # inside a secret longer than the window: drop up to a blank

    def feed(self, text: str) -> str:
        """Take more text; return the redacted text that is ready (possibly empty)."""
        if self.skipping:
            text, found = skip_to_blank(text)
            self.skipping = not found
        self.pending += text
        if len(self.pending) < self.window:
            return ""
        done: list[str] = []
        while len(self.pending) >= self.window:
            cut, resume = safe_cut(self.redactor, self.pending, self.piece)
            done.append(self.redactor(self.pending[:cut]))
            self.pending = self.pending[resume:]
            if resume > cut:  # the rest of the window is one secret: what follows it too, up to a blank
                done.append(MASK)
                self.pending, found = skip_to_blank(self.pending)
                self.skipping = not found
        return "".join(done)

    def close(self) -> str:
        """Return the rest, redacted."""
        rest, self.pending = self.pending, ""
        return self.redactor(rest)


def safe_start(redactor: Redactor, text: str, start: int, *, cut_before: bool) -> int:
    """Return where a tail of `text` may begin, at or after `start`, so that it starts outside every secret.

    `text` holds up to `_reach(redactor)` characters of context before `start`; `cut_before` says
    that more of the output precedes `text`. The tail starts on the line after `start` when it has
    one (a partial first line could begin inside a `name=` prefix).
    """
    newline = text.find("\n", start)
    begin = newline + 1 if 0 <= newline < len(text) - 1 else start
    spans = redactor.spans(text)
    moved = True
    while moved:
        moved = False
        for low, high in spans:
            if low < begin < high:
                begin, moved = high, True
    if cut_before and begin < len(text) and not _BLANK.search(text, 0, begin + 1):
        # One run without a blank from before the window to here: possibly a long secret's end.
        blank = _BLANK.search(text, begin)
        begin = blank.start() if blank else len(text)
    return begin


def reach(redactor: Redactor) -> int:
    """Return how many characters of context a tail needs before its start (see safe_start)."""
    return _reach(redactor)


__all__ = ["OVERLAP", "PieceRedactor", "reach", "safe_cut", "safe_start", "skip_to_blank"]
