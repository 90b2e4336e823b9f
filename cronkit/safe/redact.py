"""Secret redaction for everything cronkit stores or prints."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from urllib.parse import unquote

from cronkit.plain import asdict, is_record

MASK = "***"
SENSITIVE_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
# Values shorter than this are too common to replace wherever they appear ("1", "true").
MIN_KNOWN_VALUE = 4

# Every pattern is linear in the text's length and starts with a character class or literal
# text (`://`, the first letters of the secret words), which the regex engine skips to by a
# fast scan. What used to decide a match before that text (the URL scheme, the start of the
# name, a word boundary) is checked by a fixed-width lookbehind placed after it. The old
# patterns began with free-running runs of name characters that the engine rescanned from
# every position: quadratic, even cubic, on long lines without separators (a 200 KB line took
# minutes, a 20 MB one never finished).
#
# URL password: `scheme://user:secret@host`; the secret runs to the LAST `@` before the path or
# a blank, so a password holding `@` (p@ss) is masked whole.
_URL_PASSWORD = re.compile(r"(?P<head>://(?<=[A-Za-z0-9+.-]://)[^:/@\s]*:)(?P<secret>[^\s/]+)(?=@)")


# A URL's password before the `@` that ends it is in sight: where a cut must not fall either.
_URL_MAYBE_PASSWORD = re.compile(r"://(?<=[A-Za-z0-9+.-]://)[^:/@\s]*:[^\s/]*")


def _alternation(entries: Iterable[tuple[str, str]]) -> str:
    """Match any (word, what follows it) case-insensitively, led by a class of first letters."""
    entries = list(entries)
    first = sorted({c for word, _ in entries for c in (word[0].lower(), word[0].upper())})
    alts = "|".join(f"(?<={re.escape(word[0])}){word[1:]}{after}" for word, after in entries)
    return f"[{''.join(map(re.escape, first))}](?i:{alts})"


def _starts_word(word: str, joiner: str = "_") -> tuple[str, str]:
    """`word` where it starts a word: not after a letter or digit (nor `_` unless it joins)."""
    before = r"[^\W_]" if joiner == "_" else r"\w"
    return word, f"(?<!{before}{word})"


_BEARER_WORDS = ("bearer", "token", "basic")
# The two long patterns are compiled on first use (a cron tick whose output names no secret word
# compiles neither): compiling them was a millisecond of every `cronkit run`.


@cache
def _bearer() -> re.Pattern[str]:
    return re.compile(
        "(?P<head>" + _alternation(_starts_word(w, joiner="") for w in _BEARER_WORDS) + r"\s+)"
        # `cronkit token create`, `token revoke` name a command, not a token: a hint in a message stays whole.
        r"(?P<secret>(?!(?:create|revoke)(?![A-Za-z0-9._~+/=-]))[A-Za-z0-9._~+/=-]{6,})"
    )


# `name: value` / `name=value` where the name ENDS in a secret word (db_password=..., "api_key": ...);
# names that merely contain one (secret-rotation: ..., password_reset_tokens_deleted=0) are left alone.
# The word starts the name or follows `_`, `.` or `-`; `key` follows `_`, or `.`/`-` after a name
# character.
_ASSIGNMENT_WORDS = ("secret", "token", "passw", "pwd", "credential", "key")
_SECRET_WORDS = ("credentials", "credential", "password", "passwd", "apikey", "secret", "token", "pwd")


@cache
def _assignment() -> re.Pattern[str]:
    return re.compile(
        "(?P<head>" + _alternation(
            [(word, after + "s?") for word, after in map(_starts_word, _SECRET_WORDS)]
            + [("_key", ""), (".key", r"(?<=[\w.]\.key)"), ("-key", r"(?<=[\w.]-key)")]
        ) + r""")(?P<sep>["']?\s*[:=]\s*["']?)(?P<secret>[^\s"',;&}]+)"""
    )


def _mask(match: re.Match[str]) -> str:
    return match.group("head") + (match.groupdict().get("sep") or "") + MASK


# How far before a match its pattern looks (the fixed-width lookbehinds: a URL's scheme character, the
# letter before a secret word): a cut that close before a match would change what matches after it.
LOOKBEHIND = 16
LOOKAHEAD = 1  # the `@` that must follow a URL's password


class Redactor:
    """Replace known secret values and secret-looking patterns with `***`."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        # A secret of several lines (a PEM key) is also known line by line: text cut at a line
        # (an error's first line, a line-by-line reader) must not show one of them.
        known = [v for v in known if v]
        lines = [line.strip() for v in known if "\n" in v for line in v.splitlines()]
        values = sorted({v for v in [*known, *lines] if len(v) >= MIN_KNOWN_VALUE}, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, values))) if values else None
        self.longest = len(values[0]) if values else 0  # a cut must see this far past itself

    @classmethod
    def from_sources(cls, *mappings: Mapping[str, object]) -> Redactor:
        """Collect the values of sensitive names (and URL passwords) from env-like mappings."""
        known: list[str] = []
        for mapping in mappings:
            for name, value in mapping.items():
                if not isinstance(value, str):
                    continue
                if SENSITIVE_NAME.search(name):
                    known.append(value)
                for match in _URL_PASSWORD.finditer(value):
                    known.append(match.group("secret"))
                    if "%" in match.group("secret"):  # a task may print it decoded (p%40ss is p@ss)
                        known.append(unquote(match.group("secret")))
        return cls(known)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._known is not None:
            text = self._known.sub(MASK, text)
        # Cheap whole-text checks (C speed) skip the patterns that cannot match at all.
        if "://" in text:
            text = _URL_PASSWORD.sub(_mask, text)
        folded = text.casefold()  # as IGNORECASE matches: the long s, the Kelvin sign
        if any(word in folded for word in _BEARER_WORDS):
            text = _bearer().sub(_mask, text)
        if ("=" in text or ":" in text) and any(word in folded for word in _ASSIGNMENT_WORDS):
            text = _assignment().sub(_mask, text)
        return text

    def spans(self, text: str, start: int = 0, stop: int | None = None) -> list[tuple[int, int]]:
        """Return where in `text[start:stop]` something would be masked: (begin, end) in `text`'s positions.

        Each span reaches LOOKBEHIND characters before its match and LOOKAHEAD after, whatever
        pattern found it: a cut outside every span leaves each secret whole on one side, with what
        its pattern looks at around it.
        """
        stop = len(text) if stop is None else stop
        part = text[start:stop] if start or stop < len(text) else text
        patterns = [self._known] if self._known is not None else []
        if "://" in part:  # the cheap checks of __call__: skip what cannot match
            patterns += [_URL_PASSWORD, _URL_MAYBE_PASSWORD]
        folded = part.casefold()
        if any(word in folded for word in _BEARER_WORDS):
            patterns.append(_bearer())
        if ("=" in part or ":" in part) and any(word in folded for word in _ASSIGNMENT_WORDS):
            patterns.append(_assignment())
        return [(max(0, m.start() - LOOKBEHIND), m.end() + LOOKAHEAD)
                for pattern in patterns for m in pattern.finditer(text, start, stop)]

    def value(self, obj: object) -> object:
        """Redact every string inside a JSON-like value, the keys of its mappings at every depth too."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            out: dict[object, object] = {}
            for k, v in obj.items():
                shown = MASK if SENSITIVE_NAME.search(str(k)) and isinstance(v, str) else self.value(v)
                key = self(k) if isinstance(k, str) else k
                if key != k:  # a masked key must not replace another key's value
                    number = 2
                    base = key
                    while key in out or key in obj:
                        key, number = f"{base} #{number}", number + 1
                out[key] = shown
            return out
        if isinstance(obj, (list, tuple)):
            return [self.value(v) for v in obj]
        return obj


def redactor_for(settings: object, environ: Mapping[str, str]) -> Redactor:
    """Build the redactor for a run: sensitive environment variables and settings, task tables too."""
    values: dict[str, object] = {}
    if is_record(settings):
        for name, value in asdict(settings).items():
            if isinstance(value, str):
                values[name] = value
        for task, table in getattr(settings, "task_config", {}).items():
            for key, value in table.items():
                values[f"{task}.{key}"] = value
        for name, notifier in getattr(settings, "notifiers", {}).items():  # their URLs' passwords
            for number, url in enumerate((getattr(notifier, "url", None), *getattr(notifier, "urls", ()))):
                values[f"notify.{name}.url{number}"] = url
    # `[secret_env]` values are secrets whatever their variable's name.
    secret_env = {f"SECRET_{name}": value for name, value in getattr(settings, "secret_env", {}).items()}
    return Redactor.from_sources(environ, values, secret_env)


def _userinfo_span(url: str) -> tuple[int, int] | None:
    """Return the span of a URL's password, from after the user's `:` to the LAST `@`.

    Works on malformed URLs too (a password holding `@`, `/` or blanks): the authority starts
    after `scheme://` and the last `@` ends it. Without `://` nothing tells the scheme's `:` from
    the password's, so everything from the first `:` to the last `@` counts as the password.
    """
    scheme_end = url.find("://")
    at = url.rfind("@")
    if scheme_end < 0:
        colon = url.find(":")
        return (colon + 1, at) if 0 <= colon < at else None
    if at < scheme_end + 3:
        return None
    colon = url.find(":", scheme_end + 3, at)
    return None if colon < 0 else (colon + 1, at)


def redact_url(url: str) -> str:
    """Return `url` fit for any message: its password masked whole, secret query values too."""
    span = _userinfo_span(url)
    if span is not None:
        url = url[:span[0]] + MASK + url[span[1]:]
    return Redactor()(url)


def url_password(url: str) -> str | None:
    """Return the password of `url` as `redact_url` finds it (None without one)."""
    span = _userinfo_span(url)
    return None if span is None else url[span[0]:span[1]]
