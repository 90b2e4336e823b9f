"""Secret redaction for everything cronkit stores or prints."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"
SENSITIVE_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
# Values shorter than this are too common to replace wherever they appear ("1", "true").
MIN_KNOWN_VALUE = 4

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s/]+)(?=@)")
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Token|Basic)\s+)(?P<secret>[A-Za-z0-9._~+/=-]{6,})", re.IGNORECASE)
# `name: value` / `name=value` where the name ENDS in a secret word (db_password=..., "api_key": ...);
# names that merely contain one (secret-rotation: ..., password_reset_tokens_deleted=0) are left alone.
_ASSIGNMENT = re.compile(
    r"""(?P<head>\b(?:[\w.]*[_.-])?(?:secret|token|password|passwd|pwd|apikey|credentials?)s?"""
    r"""|\b[\w.]*[_.-]key)(?P<sep>["']?\s*[:=]\s*["']?)(?P<secret>[^\s"',;&}]+)""",
    re.IGNORECASE,
)


def _mask(match: re.Match[str]) -> str:
    return match.group("head") + (match.groupdict().get("sep") or "") + MASK


class Redactor:
    """Replace known secret values and secret-looking patterns with `***`."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        values = sorted({v for v in known if v and len(v) >= MIN_KNOWN_VALUE}, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, values))) if values else None

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
        return cls(known)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._known is not None:
            text = self._known.sub(MASK, text)
        text = _URL_PASSWORD.sub(_mask, text)
        text = _BEARER.sub(_mask, text)
        return _ASSIGNMENT.sub(_mask, text)

    def value(self, obj: object) -> object:
        """Redact every string inside a JSON-like value."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            return {k: (MASK if SENSITIVE_NAME.search(str(k)) and isinstance(v, str) else self.value(v))
                    for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v) for v in obj]
        return obj


def redactor_for(settings: object, environ: Mapping[str, str]) -> Redactor:
    """Build the redactor for a run: sensitive environment variables and settings, task tables too."""
    from dataclasses import asdict, is_dataclass

    values: dict[str, object] = {}
    if is_dataclass(settings):
        for name, value in asdict(settings).items():  # type: ignore[arg-type]
            if isinstance(value, str):
                values[name] = value
        for task, table in getattr(settings, "task_config", {}).items():
            for key, value in table.items():
                values[f"{task}.{key}"] = value
    return Redactor.from_sources(environ, values)
