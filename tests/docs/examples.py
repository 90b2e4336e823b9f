"""Find the examples of the documentation: the fenced code blocks of README.md and docs/*.md.

A block is a user's example when its language is `python`, `sh`, `bash`, `console` or `toml`.
The line just before its fence may hold a marker (documented in docs/development.md):

    <!-- example: skip (why it cannot run here) -->   not run; the reason is required
    <!-- example: exit N -->                          runs, and must end with exit code N

A small collector rather than a library: pytest-examples runs Python only (no shell blocks), and
Sybil's Markdown parser would still need our own evaluator for shell blocks and their sandbox
(fake crontab, private home), which is most of this; this is one small file the tests own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = {"python", "sh", "bash", "console", "toml"}
MARKER = re.compile(r"<!--\s*example:\s*(skip\s*\((?P<reason>[^)]+)\)|exit\s+(?P<code>\d+))\s*-->")
FENCE = re.compile(r"^(?P<fence>```+)(?P<lang>[\w-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text, and its marker's verdict."""

    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    skip: str | None = None  # the reason, when marked skip
    exit_code: int = 0

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def commands(self) -> str:
        """Return the shell text to run: a console block's `$ ` lines (with their continuations)."""
        if self.lang != "console":
            return self.text
        out, going = [], False
        for line in self.text.splitlines():
            if line.startswith("$ "):
                out.append(line[2:])
            elif going:
                out.append(line)
            else:
                continue
            going = line.rstrip().endswith("\\")
        return "\n".join(out) + "\n"


def pages() -> list[Path]:
    """Return README.md and every Markdown page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """Return the example blocks of one page, in order."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith(opening["fence"])), len(lines))
        lang = opening["lang"]
        if lang in LANGUAGES:
            marker = MARKER.search(lines[i - 1]) if i else None
            if i and "<!-- example" in lines[i - 1] and not marker:
                raise ValueError(f"{path}:{i}: unreadable example marker {lines[i - 1]!r}")
            found.append(Block(path, i + 1, lang, "\n".join(lines[i + 1:end]) + "\n",
                               skip=marker["reason"].strip() if marker and marker["reason"] else None,
                               exit_code=int(marker["code"]) if marker and marker["code"] else 0))
        i = end + 1
    return found
