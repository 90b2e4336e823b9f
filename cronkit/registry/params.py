"""Task parameters (SPEC section 14): what `--param` and `--date` a task takes, checked before a run.

A task declares its parameters with `params={"user_id": Param("int", min=1)}` and what `--date`
means to it with `dates=`; `cronkit run` checks the command line against them before anything
is recorded, so a typo is a usage error (exit 2), not a failed run with a dead letter.
Standard library only: this is on the run path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

from cronkit.errors import RegistryError, UsageError
from cronkit.plain import TYPE_CHECKING, record

if TYPE_CHECKING:
    from typing import Any, Literal

    Kind = Literal["str", "int", "float", "bool", "date", "hour"]
    # What `--date D` means to a task: "any" (no check), "past" (D is not after today),
    # "ended" (D is over: before today), "none" (the task takes no --date).
    Dates = Literal["any", "past", "ended", "none"]
KINDS: tuple[str, ...] = ("str", "int", "float", "bool", "date", "hour")
DATES: tuple[str, ...] = ("any", "past", "ended", "none")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_PLACEHOLDER = {"str": "TEXT", "int": "N", "float": "X", "bool": "true|false", "date": "YYYY-MM-DD",
                "hour": "YYYY-MM-DDTHH"}


@record(frozen=True)
class Param:
    """One `--param NAME=VALUE` a task takes.

    `kind`: str, int, float, bool, date (YYYY-MM-DD) or hour (YYYY-MM-DDTHH, UTC unless an
    offset is given); `choices` for str; `min`/`max` for int and float; `past`: a date or hour
    must not be in the future.
    """

    kind: Kind = "str"
    help: str = ""
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    past: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RegistryError(f"param kind {self.kind!r}: use one of {', '.join(KINDS)}")

    def describe(self) -> str:
        """Return `N, 1 or more` style text for `cronkit list TASK`."""
        parts = [_PLACEHOLDER[self.kind]]
        if self.choices:
            parts = ["|".join(self.choices)]
        if self.min is not None and self.max is not None:
            parts.append(f"{self.min:g} to {self.max:g}")
        elif self.min is not None:
            parts.append(f"{self.min:g} or more")
        elif self.max is not None:
            parts.append(f"{self.max:g} or less")
        if self.past:
            parts.append("not in the future")
        return ", ".join(parts)

    def check(self, name: str, value: str, now: datetime) -> Any:
        """Return the value read as its kind; raise UsageError naming the parameter."""
        bad = f"--param {name}: {value!r} is not "
        text = value.strip()
        number: float
        if self.kind == "int":
            try:
                number = int(text)
            except ValueError:
                raise UsageError(bad + "a whole number") from None
        elif self.kind == "float":
            try:
                number = float(text)
            except ValueError:
                raise UsageError(bad + "a number") from None
            if number != number:
                raise UsageError(bad + "a number")
        elif self.kind == "bool":
            if text.lower() not in _TRUE + _FALSE:
                raise UsageError(bad + "true or false")
            return text.lower() in _TRUE
        elif self.kind == "date":
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise UsageError(bad + "a date (YYYY-MM-DD)") from None
            if self.past and day > now.date():
                raise UsageError(f"--param {name}: {text} is in the future")
            return day
        elif self.kind == "hour":
            hour = parse_hour(text, f"--param {name}")
            if self.past and hour > now:
                raise UsageError(f"--param {name}: {text} is in the future")
            return hour
        else:
            if self.choices and text not in self.choices:
                raise UsageError(bad + f"one of {', '.join(self.choices)}")
            return value
        if self.min is not None and number < self.min:
            raise UsageError(f"--param {name}: {text} is below {self.min:g}")
        if self.max is not None and number > self.max:
            raise UsageError(f"--param {name}: {text} is above {self.max:g}")
        return number


def parse_hour(text: str, what: str) -> datetime:
    """Read `2026-11-20T13` (or `...T13:00`, with an optional offset) as that hour's start, in UTC."""
    candidate = text + ":00" if len(text) == 13 else text
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an hour such as 2026-11-20T13") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value.minute or value.second or value.microsecond:
        raise UsageError(f"{what}: {text!r} is not on the hour")
    return value.astimezone(UTC)


def check_declaration(where: str, params: Mapping[str, Any] | None, dates: str) -> dict[str, Param] | None:
    """Validate a task's `params=` (names to Param, or to a kind name) and `dates=`."""
    if dates not in DATES:
        raise RegistryError(f"{where}: dates must be one of {', '.join(DATES)}, not {dates!r}")
    if params is None:
        return None
    out: dict[str, Param] = {}
    for name, spec in params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise RegistryError(f"{where}: param name {name!r} is not an identifier")
        if isinstance(spec, str):
            spec = Param(spec)  # type: ignore[arg-type]
        if not isinstance(spec, Param):
            raise RegistryError(f"{where}: param {name}: use Param(...) or a kind name ({', '.join(KINDS)})")
        out[name] = spec
    return out


def check_request(task: str, params: Mapping[str, Param] | None, dates: str, given: Mapping[str, str],
                  day: date | None, today: date, now: datetime) -> None:
    """Check a run's `--param`s and `--date` against the task's declaration; raise UsageError."""
    if params is not None:
        for name, value in given.items():
            if name not in params:
                known = ", ".join(params) or "none"
                raise UsageError(f"{task}: unknown param {name!r} (known: {known})")
            params[name].check(name, value, now)
    if day is None:
        return
    if dates == "none":
        raise UsageError(f"{task}: takes no --date")
    if dates == "past" and day > today:
        raise UsageError(f"--date: {day.isoformat()} is in the future (today is {today.isoformat()})")
    if dates == "ended" and day >= today:
        raise UsageError(f"--date: {day.isoformat()} has not ended yet (today is {today.isoformat()})")
