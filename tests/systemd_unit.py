"""A model of how systemd (252) reads a service's ExecStart=, Environment= and WorkingDirectory=,
so that a test can run a rendered unit's command the way systemd would start it.

Written from systemd's own rules, not from cronkit's renderer: specifiers (`%%` is `%`; cronkit
writes no other), words split on white space with single and double quotes and C escapes
(src/basic/extract-word.c with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE), then, in a command's
arguments only, `$$` for `$`, `${NAME}` and a whole-word `$NAME` replaced from the environment
(src/basic/env-util.c replace_env_argv). Anything this model does not know is an error, so a
unit that leans on something else fails the test instead of passing by luck.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
            '"': '"', "'": "'", "s": " "}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UnitError(ValueError):
    """The unit says something systemd would reject or this model does not cover."""


def specifiers(text: str) -> str:
    """Resolve specifiers: `%%` is `%`; any other would be expanded by systemd, which cronkit never asks for."""
    out, index = [], 0
    while index < len(text):
        ch = text[index]
        if ch == "%":
            if text[index + 1:index + 2] != "%":
                raise UnitError(f"specifier %{text[index + 1:index + 2]} in {text!r}")
            index += 1
        out.append(ch)
        index += 1
    return "".join(out)


def _escape_at(text: str, index: int) -> tuple[str, int]:
    """Return the character a C escape starting after the backslash at `index - 1` stands for, and the next index."""
    ch = text[index:index + 1]
    if ch in _ESCAPES:
        return _ESCAPES[ch], index + 1
    if ch == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[index + 1:index + 3]):
        return chr(int(text[index + 1:index + 3], 16)), index + 3
    raise UnitError(f"escape \\{ch} in {text!r}")


def split_words(text: str) -> list[str]:
    """Split a setting's value into words the way extract_first_word does (unquote, C-unescape)."""
    words: list[str] = []
    index = 0
    while True:
        while index < len(text) and text[index] in " \t":
            index += 1
        if index == len(text):
            return words
        word: list[str] = []
        quote = ""
        while index < len(text):
            ch = text[index]
            index += 1
            if ch == "\\":
                if index == len(text):
                    raise UnitError(f"trailing backslash in {text!r}")
                unescaped, index = _escape_at(text, index)
                word.append(unescaped)
            elif quote:
                if ch == quote:
                    quote = ""
                else:
                    word.append(ch)
            elif ch in "'\"":
                quote = ch
            elif ch in " \t":
                break
            else:
                word.append(ch)
        if quote:
            raise UnitError(f"unterminated quote in {text!r}")
        words.append("".join(word))


def _replace_variables(word: str, environ: dict[str, str]) -> list[str]:
    """Return an argument after systemd's `$` handling (a whole-word `$NAME` may become several words)."""
    if word.startswith("$") and _NAME.fullmatch(word[1:]):
        return (environ.get(word[1:]) or "").split()
    out, index = [], 0
    while index < len(word):
        if word.startswith("$$", index):
            out.append("$")
            index += 2
        elif word.startswith("${", index):
            end = word.find("}", index)
            if end < 0 or not _NAME.fullmatch(word[index + 2:end]):
                raise UnitError(f"bad variable in {word!r}")
            out.append(environ.get(word[index + 2:end], ""))
            index = end + 1
        else:
            out.append(word[index])
            index += 1
    return ["".join(out)]


@dataclass
class Service:
    """What systemd starts for a service: argv, the environment the unit adds, the working directory."""

    argv: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    working_directory: str | None = None


def parse_service(text: str) -> Service:
    """Return the [Service] section's command, environment and working directory as systemd reads them."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip()
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise UnitError(f"not an assignment: {line!r}")
        if section == "[Service]":
            settings.setdefault(key.strip(), []).append(value.strip())
    environment: dict[str, str] = {}
    for value in settings.get("Environment", []):
        for word in split_words(specifiers(value)):
            name, sep, assigned = word.partition("=")
            if not sep or not _NAME.fullmatch(name):
                raise UnitError(f"invalid environment assignment {word!r}")
            environment[name] = assigned
    exec_start = settings.get("ExecStart", [])
    if len(exec_start) != 1:
        raise UnitError(f"a oneshot or exec service here has one ExecStart=, not {len(exec_start)}")
    words = split_words(specifiers(exec_start[0]))
    if not words or not words[0].startswith("/"):
        raise UnitError(f"ExecStart= must start with an absolute path: {exec_start[0]!r}")
    argv = [words[0], *(arg for word in words[1:] for arg in _replace_variables(word, environment))]
    working = settings.get("WorkingDirectory")
    directory = specifiers(working[-1]).removeprefix("-") if working else None
    return Service(argv, environment, directory)
