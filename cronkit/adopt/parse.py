"""Read a crontab as Debian's cron 3.0pl1 reads it: environment lines, job lines, the rest.

A pure function of text. Written from cron's source: `env.c` (`load_env`: `NAME = value`, the
value optionally quoted, surrounding blanks dropped), `entry.c` (`load_entry`: five fields or an
`@nickname`, the user field of a system crontab, then the command up to the newline) and
`do_command.c` (an unescaped `%` ends the command and starts its standard input; `\\%` stands
for `%` and `\\\\` for a backslash).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from cronkit.cronfile.block import BEGIN_MARK, END_MARK

CRON_DEFAULT_SHELL = "/bin/sh"
CRON_DEFAULT_PATH = "/usr/bin:/bin"
BLANKS = " \t"
_ENV_LINE = re.compile(r"[ \t]*(?P<name>[^ \t=]+)[ \t]*=[ \t]*(?P<value>.*?)[ \t\r]*")


@dataclass(frozen=True)
class CronLine:
    """One line of a crontab (without its newline), what cron makes of it, and its place in the text.

    `kind`: blank, comment, env, job, block (inside a cronkit block) or other (a line cron would
    reject). A job has its schedule (fields or `@nickname` as written), its user field in a
    system crontab, its command as cron hands it to the shell, and `stdin` when an unescaped `%`
    gives it standard input.
    """

    number: int
    start: int
    end: int  # the offset after the line's newline (or the end of the text)
    text: str
    kind: str
    env: tuple[tuple[str, str], ...] = ()  # the assignments in effect here, in the order first made
    schedule: str = ""
    user: str | None = None
    command: str = ""
    stdin: bool = False


def read_lines(text: str, *, system: bool) -> list[CronLine]:
    """Return every line of a crontab (`system`: a cron.d file, with a user field on job lines)."""
    lines: list[CronLine] = []
    env: dict[str, str] = {}
    block: str | None = None
    pos, number = 0, 0
    while pos < len(text):
        stop = text.find("\n", pos)
        end = len(text) if stop < 0 else stop + 1
        line = text[pos:end].removesuffix("\n")
        number += 1
        kind, assignment, job = _classify(line, block, system)
        if line.startswith(BEGIN_MARK) and block is None:
            block = line[len(BEGIN_MARK):]
        elif block is not None and line == f"{END_MARK}{block}":
            block = None
        if assignment is not None:
            env[assignment[0]] = assignment[1]
        if job is None:
            lines.append(CronLine(number, pos, end, line, kind))
        else:
            lines.append(CronLine(number, pos, end, line, kind, tuple(env.items()), job.schedule, job.user,
                                  job.command, job.stdin))
        pos = end
    return lines


class _Job(NamedTuple):
    schedule: str
    user: str | None
    command: str
    stdin: bool


def _classify(line: str, block: str | None, system: bool) -> tuple[str, tuple[str, str] | None, _Job | None]:
    """Return what cron makes of one line: its kind, and the parts of an assignment or a job."""
    if block is not None or line.startswith(BEGIN_MARK):
        return "block", None, None
    bare = line.strip(BLANKS + "\r")
    if not bare:
        return "blank", None, None
    if bare.startswith("#"):
        return "comment", None, None
    assignment = env_assignment(line)
    if assignment is not None:
        return "env", assignment, None
    job = _job(line, system)
    return ("job" if job is not None else "other"), None, job


def env_assignment(line: str) -> tuple[str, str] | None:
    """Return (name, value) when cron reads the line as an environment setting, else None."""
    match = _ENV_LINE.fullmatch(line)
    if match is None:
        return None
    name, value = match.group("name"), match.group("value")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return name, value


def _job(line: str, system: bool) -> _Job | None:
    """Split a job line into schedule, user and command; None when cron would reject it."""
    rest = line.lstrip(BLANKS)
    count = 1 if rest.startswith("@") else 5
    words: list[str] = []
    for _ in range(count + (1 if system else 0)):
        word, rest = _word(rest)
        if not word:
            return None
        words.append(word)
    command = rest.lstrip(BLANKS)
    if not command.strip(BLANKS + "\r"):
        return None
    shell_text, stdin = cron_command(command)
    return _Job(" ".join(words[:count]), words[count] if system else None, shell_text, stdin)


def _word(text: str) -> tuple[str, str]:
    """Return the next blank-separated word and what follows it."""
    text = text.lstrip(BLANKS)
    cut = len(text)
    for blank in BLANKS:
        found = text.find(blank)
        if 0 <= found < cut:
            cut = found
    return text[:cut], text[cut:]


def cron_command(command: str) -> tuple[str, bool]:
    """Return the command as cron hands it to the shell and whether a `%` gives it standard input."""
    out: list[str] = []
    escaped = False
    for ch in command:
        if escaped:
            if ch in "%\\":
                out[-1] = ch
            else:
                out.append(ch)
            escaped = False
            continue
        out.append(ch)
        if ch == "\\":
            escaped = True
        elif ch == "%":
            return "".join(out[:-1]), True
    return "".join(out), False


def job_env(line: CronLine) -> tuple[str, dict[str, str]]:
    """Return the shell cron runs a job with and the environment its crontab gives it.

    The assignments in effect at the line, SHELL and PATH always (cron's defaults /bin/sh and
    /usr/bin:/bin when the crontab sets none), so a manual run sees what cron gave the job.
    """
    env = dict(line.env)
    env.setdefault("SHELL", CRON_DEFAULT_SHELL)
    env.setdefault("PATH", CRON_DEFAULT_PATH)
    return env["SHELL"], env
