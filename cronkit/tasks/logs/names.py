"""Tell rotated log files from live logs by their names, and name the log each belongs to."""

from __future__ import annotations

import re

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4")

# A rotation mark at the end of a name: .N, -YYYYMMDD[-HHMMSS], .YYYY-MM-DD[_HH[-MM[-SS]]].
_SUFFIX = re.compile(
    r"(?P<base>.+?)"
    r"(?:\.\d{1,6}|-\d{8}(?:[-_]?\d{2,6})?|\.\d{4}-\d{2}-\d{2}(?:_\d{2}(?:-\d{2}){0,2})?)"
)
# A date inside the name, before the extension: app-2024-05-01.log, app.20240501.log.
_INFIX = re.compile(
    r"(?P<stem>.+?)[-._](?:\d{4}-\d{2}-\d{2}|\d{8})(?P<ext>\.[A-Za-z][A-Za-z0-9]{0,9})"
)


def classify(name: str) -> tuple[str, bool] | None:
    """Return (log name, compressed) for a rotated file name, None for a live log."""
    compressed = name.endswith(COMPRESSED_SUFFIXES)
    core = name[: name.rfind(".")] if compressed else name
    base, stripped = core, False
    for _ in range(3):
        match = _SUFFIX.fullmatch(base)
        if not match:
            break
        base, stripped = match["base"], True
    if stripped:
        return base, compressed
    match = _INFIX.fullmatch(core)
    if match:
        return match["stem"] + match["ext"], compressed
    if compressed and core:
        return core, True
    return None
