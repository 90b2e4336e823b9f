"""Check values that arrive from outside (command lines, HTTP requests) before they reach SQL or exec.

A row id is a SQL BIGINT: a larger number overflows inside the database driver. Text that goes into
a process's arguments or environment, or into the run log as UTF-8, holds no NUL (exec refuses it)
and no lone surrogate (UTF-8 cannot encode it).
"""

from __future__ import annotations

import re

MAX_ROW_ID = 2**63 - 1  # SQLite's INTEGER, PostgreSQL's BIGINT
MAX_INT64 = MAX_ROW_ID
MIN_INT64 = -(2**63)
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def row_id(text: str) -> int | None:
    """Return the row id `text` spells in ASCII digits (1 to MAX_ROW_ID); None for anything else.

    `str.isdigit` takes `²` and `٣`, which int() refuses or reads: an id is plain digits.
    """
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ROW_ID else None


def text_problem(text: str) -> str | None:
    """Say what makes `text` unfit for an argument, an environment or the run log; None when it is fit."""
    found = _UNSAFE.search(text)
    if found is None:
        return None
    return "holds a NUL character" if found.group() == "\x00" else "holds a lone surrogate (not valid Unicode text)"
