"""Name an adopted crontab job after what it runs: stable (the same command, the same name) and unique.

`cd /srv/app && ./bin/backup.sh --full > /var/log/b.log 2>&1` is `backup`: the program's
base name without its extension, then up to two of its arguments that are words, not options,
redirections or paths to logs. A name already taken gets four hex digits of the command's hash.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Container

MAX_NAME = 40
WRAPPERS = frozenset({"nice", "ionice", "nohup", "sudo", "env", "timeout", "flock", "chronic", "exec",
                      "time", "setlock", "run-one", "systemd-cat", "cronic"})
INTERPRETERS = frozenset({"sh", "bash", "dash", "zsh", "python", "python3", "php", "perl", "ruby", "node"})
EXTENSIONS = frozenset({"sh", "bash", "py", "php", "pl", "rb", "js"})
_SEPARATORS = ("&&", "||", ";", "|")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_REDIRECT = re.compile(r"\d*[<>].*|&>.*")
_NOT_NAME = re.compile(r"[^a-z0-9]+")


def command_words(command: str) -> list[str]:
    """Split a command as a shell would, roughly; an unbalanced quote splits at blanks."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:
        return command.split()


def _program(words: list[str]) -> list[str]:
    """Return the words of the command's main program: after `cd DIR &&`, assignments and wrappers."""
    start = 0
    for index, word in enumerate(words):  # the last `cd X &&` / `;` decides where the work starts
        if word in _SEPARATORS and index > 0 and words[start] == "cd":
            start = index + 1
    words = words[start:]
    while words:
        first = words[0].rsplit("/", 1)[-1]
        if (_ASSIGNMENT.fullmatch(words[0]) or first in WRAPPERS or words[0].startswith("-")
                or words[0].isdigit()):
            words = words[1:]
            if first in ("timeout", "flock") and words and not words[0].startswith("-"):
                words = words[1:]  # timeout's duration, flock's lock file
            continue
        if first.rstrip("0123456789.") in INTERPRETERS and len(words) > 1:
            words = words[1:]  # `bash script.sh`, `python3 -m app.jobs`: the script names the job
            continue
        break
    return words


def base_name(command: str) -> str:
    """Return the name a command suggests, before making it unique."""
    words = _program(command_words(command))
    parts: list[str] = []
    for index, word in enumerate(words):
        if word in _SEPARATORS or _REDIRECT.fullmatch(word):
            break
        if index and (word.startswith("-") or word.isdigit()):
            continue
        text = word.rstrip("/").rsplit("/", 1)[-1]
        stem, dot, extension = text.rpartition(".")
        if dot and stem and extension in EXTENSIONS:
            text = stem
        slug = _NOT_NAME.sub("-", text.lower()).strip("-")
        if index and not any(ch.isalpha() for ch in slug):
            continue  # `+7`, `30`: numbers say little about a job
        if slug and slug not in parts:
            parts.append(slug)
        if len(parts) == 3:
            break
    name = "-".join(parts)[:MAX_NAME].strip("-")
    return name or "job"


def unique_name(command: str, taken: Container[str]) -> str:
    """Return the command's name, with four hex digits of its hash (then more) when it is taken."""
    name = base_name(command)
    if name not in taken:
        return name
    digest = hashlib.sha256(command.encode("utf-8", "surrogateescape")).hexdigest()
    for size in (4, 6, 8, 12, 64):
        candidate = f"{name[:MAX_NAME]}-{digest[:size]}"
        if candidate not in taken:
            return candidate
    counter = 2
    while f"{name}-{digest[:8]}-{counter}" in taken:
        counter += 1
    return f"{name}-{digest[:8]}-{counter}"
