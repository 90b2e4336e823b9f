"""Find, cut and splice cronkit's block in crontab text, and tell which task a line runs.

Pure functions of text: no I/O, no clock. A block is the lines from `# BEGIN cronkit:<id>` to
`# END cronkit:<id>`, both included; every byte outside it belongs to someone else.
"""

from __future__ import annotations

import difflib
import shlex

from cronkit.errors import ConfigError
from cronkit.registry import NAME_PATTERN

BEGIN_MARK = "# BEGIN cronkit:"
END_MARK = "# END cronkit:"


class CrontabParseError(ConfigError):
    """The crontab holds cronkit markers that do not pair up; it is left untouched."""

    what_to_do = "Edit the crontab (`crontab -e`) so that each BEGIN/END cronkit marker pair is whole, then install again."


def begin_line(block_id: str) -> str:
    """Return the line that opens the block of `block_id`."""
    return f"{BEGIN_MARK}{block_id}"


def end_line(block_id: str) -> str:
    """Return the line that closes the block of `block_id`."""
    return f"{END_MARK}{block_id}"


def find_block(text: str, block_id: str) -> tuple[int, int] | None:
    """Return the (start, end) character span of our block, END line and its newline included.

    Only whole lines equal to `# BEGIN cronkit:<id>` / `# END cronkit:<id>` count; other
    ids and other tools' markers are foreign text. Raise CrontabParseError when our markers
    do not form exactly one BEGIN ... END pair.
    """
    begin, end = begin_line(block_id), end_line(block_id)
    begins: list[int] = []
    ends: list[tuple[int, int]] = []
    pos = 0
    while pos < len(text):
        # Lines end at "\n" only, as cron reads them (str.splitlines would also split at \r, \f, ...).
        stop = text.find("\n", pos)
        stop = len(text) if stop < 0 else stop + 1
        bare = text[pos:stop].removesuffix("\n")
        if bare == begin:
            begins.append(pos)
        elif bare == end:
            ends.append((pos, stop))
        pos = stop
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1:
        raise CrontabParseError(
            f"crontab holds {len(begins)} {begin!r} and {len(ends)} {end!r} lines; expected one pair. "
            "Fix the crontab by hand; cronkit left it untouched"
        )
    if ends[0][0] < begins[0]:
        raise CrontabParseError(f"crontab has {end!r} before {begin!r}; cronkit left it untouched")
    return begins[0], ends[0][1]


def extract(text: str, block_id: str) -> str | None:
    """Return our block's text (markers included) or None when the crontab has none."""
    span = find_block(text, block_id)
    return None if span is None else text[span[0]:span[1]]


def inner_lines(block: str) -> list[str]:
    """Return the lines of a block between its markers (comments included)."""
    return block.splitlines()[1:-1]


def splice(text: str, block_id: str, block: str | None) -> str:
    """Return `text` with our block replaced by `block` (added when absent, removed when None).

    Every byte outside the block is kept. A new block goes at the end, so environment lines
    such as MAILTO above it apply to its lines; when the last line has no newline the block
    goes just before that line, which stays last and unterminated, so removal restores the
    text exactly.
    """
    if block is not None and not block.endswith("\n"):
        raise ValueError("a block ends with a newline")
    span = find_block(text, block_id)
    if span is not None:
        return text[:span[0]] + (block or "") + text[span[1]:]
    if block is None:
        return text
    if text == "" or text.endswith("\n"):
        return text + block
    cut = text.rfind("\n") + 1
    return text[:cut] + block + text[cut:]


def unified_diff(before: str, after: str, old_label: str, new_label: str) -> str:
    """Return a unified diff of two crontab texts (empty when equal)."""
    lines = list(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), old_label, new_label
    ))
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def settings_files(block: str | None) -> set[str]:
    """Return the `--config FILE`s the job lines of a block read (the run settings of a home)."""
    found: set[str] = set()
    for line in (block or "").splitlines():
        words = _words(line)
        found.update(value for word, value in zip(words, words[1:]) if word == "--config")
    return found


def task_of_line(line: str) -> str | None:
    """Return the task a cron line runs (`... cronkit ... run TASK ...`), None for any other line.

    The one parser of "which task does this line run", for install's change report and for
    drift. Blank lines and comments run nothing. The line is split into words as the shell
    cron hands it to would split it (after cron's `\\%` -> `%`), so a quoted path holding
    ` run ` stays one word; the task is the word after the first `run` word that is a task
    name, so a cron.d user field named `run` is not taken for the verb. A line the shell
    could not split (an unbalanced quote) runs no task.
    """
    words = _words(line)
    for word, following in zip(words, words[1:]):
        if word == "run" and NAME_PATTERN.fullmatch(following):
            return following
    return None


def runs_check(line: str) -> bool:
    """Return whether a cron line is one of the block's `cronkit check` lines (render.check_lines)."""
    words = _words(line)
    return "check" in words and task_of_line(line) is None


def _words(line: str) -> list[str]:
    """Split a cron line's command into words as the shell would; none for a blank line, a comment
    or a line the shell could not split (an unbalanced quote)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return []
    try:
        return shlex.split(text.replace("\\%", "%"))
    except ValueError:
        return []


CHECK_LINES = "cronkit check"  # the key of the block's own `cronkit check` lines (lines_by_owner)
OTHER_LINES = "other lines"  # the key of a block's lines that run neither a task nor the check


def lines_by_owner(block: str | None) -> dict[str, list[str]]:
    """Return the job lines of a block keyed by what they run: a task's name, CHECK_LINES for the
    block's own `cronkit check` lines, OTHER_LINES for any other line that is not a comment."""
    result: dict[str, list[str]] = {}
    for line in (block or "").splitlines():
        task = task_of_line(line)
        if task is None and _words(line):
            task = CHECK_LINES if runs_check(line) else OTHER_LINES
        if task is not None:
            result.setdefault(task, []).append(line)
    return result
