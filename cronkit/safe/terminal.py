"""Make text a task produced safe to print on an operator's terminal.

A task's output, error message or traceback may hold terminal escape sequences (a title change,
clear screen, OSC 8 hyperlinks, cursor moves), a carriage return that hides what came before it
on the line, or Unicode bidirectional overrides that reorder what is shown. `printable` shows
every such character as a visible escape (`\\x1b`, `\\r`, `\\u202e`), keeping newlines and tabs
(and a CR that ends a line, as in CRLF output, is dropped). It is linear (str.translate).
"""

from __future__ import annotations

import re

_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
_NAMED = {0x08: "\\b", 0x0C: "\\f", 0x0D: "\\r", 0x0B: "\\v", 0x00: "\\0"}


def _visible(code: int) -> str:
    if code in _NAMED:
        return _NAMED[code]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE = {code: _visible(code) for code in (*range(0x00, 0x20), *range(0x7F, 0xA0), *_BIDI)
          if code not in (0x09, 0x0A)}
# Lone surrogates come from bytes that were not UTF-8 (surrogateescape): show the byte.
_SURROGATE = re.compile("[\udc80-\udcff]")
_CRLF = re.compile("\r+\n")


def printable(text: str) -> str:
    """Return `text` with control characters (not newline or tab) shown as visible escapes."""
    if not text:
        return text
    if "\r" in text:
        text = _CRLF.sub("\n", text)
    text = text.translate(_TABLE)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)
    return text
