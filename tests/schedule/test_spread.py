"""Deterministic spread: `H` parts resolve from a hash of the task name, into valid Debian cron."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronkit.errors import ScheduleError
from cronkit.registry import Registry
from cronkit.schedule import parse_fields, validate_schedule
from cronkit.schedule.spread import FIELD_LIMITS, H_RANGES, has_spread, resolve
from tests.conftest import write_registry
from tests.fixturetypes import RunCli


def fifty(seed: str = "") -> Registry:
    registry = Registry()
    registry.apply_spread_seed(seed)
    for i in range(50):
        registry.add("H * * * *", "m:f", name=f"hourly-{i}")
    return registry


def test_fifty_hourly_tasks_spread_over_at_least_forty_minutes_the_same_every_time() -> None:
    first, second = fifty(), fifty()
    minutes = [t.resolved_schedule.split()[0] for t in first]
    assert len(set(minutes)) >= 40
    assert [t.resolved_schedule for t in first] == [t.resolved_schedule for t in second]
    assert all(t.schedule == "H * * * *" for t in first)


def test_the_seed_moves_the_values_and_apply_resolves_again() -> None:
    plain, seeded = fifty(), fifty("deployment-b")
    assert [t.resolved_schedule for t in plain] != [t.resolved_schedule for t in seeded]
    plain.apply_spread_seed("deployment-b")
    assert [t.resolved_schedule for t in plain] == [t.resolved_schedule for t in seeded]


def test_forms_and_ranges() -> None:
    assert resolve("0 3 * * *", "x") == "0 3 * * *"
    out = resolve("H H H H H", "x").split()
    assert 0 <= int(out[0]) <= 59 and 0 <= int(out[1]) <= 23 and 1 <= int(out[2]) <= 28
    assert 1 <= int(out[3]) <= 12 and 0 <= int(out[4]) <= 6
    stepped = resolve("H/15 * * * *", "x").split()[0]
    start, rest = stepped.split("-")
    assert 0 <= int(start) < 15 and rest == "59/15"
    assert 9 <= int(resolve("0 H(9-17) * * *", "x").split()[1]) <= 17
    assert resolve("H(5-5) * * * *", "x") == "5 * * * *"
    assert not has_spread("0 0 * * THU")  # day names are not H parts


@pytest.mark.parametrize("expr, message", [
    ("H(30-10) * * * *", "low first"),
    ("H(0-70) * * * *", "within 0-59"),
    ("H/0 * * * *", "step must be 1 to 60"),
    ("H/61 * * * *", "step must be 1 to 60"),
    ("H(1-2 * * * *", "use H, H(a-b)"),
    ("H/5x * * * *", "use H, H(a-b)"),
    ("H * * *", "expected 5 fields"),
])
def test_bad_h_parts_fail_at_registration(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=re.escape(message)):
        Registry().add(expr, "m:f", name="bad")


def test_list_json_shows_written_and_resolved(run_cli: RunCli, tmp_path: Path) -> None:
    reg = write_registry(tmp_path / "spreadtasks.py",
                         'registry.add("H H * * *", "spreadtasks:f", name="nightly", environments=["*"])\n')
    out = run_cli("--tasks", str(reg), "list", "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)[0]
    assert row["schedule"] == "H H * * *"
    minute, hour, *rest = row["resolved_schedule"].split()
    assert rest == ["*", "*", "*"] and 0 <= int(minute) <= 59 and 0 <= int(hour) <= 23
    again = json.loads(run_cli("--tasks", str(reg), "list", "--json").stdout)[0]
    assert again["resolved_schedule"] == row["resolved_schedule"]
    seeded = json.loads(run_cli("--tasks", str(reg), "list", "--json",
                                env={"CRONKIT_SPREAD_SEED": "other"}).stdout)[0]
    assert seeded["schedule"] == "H H * * *"


# --- property: a resolved H schedule is valid Debian cron within the written ranges ---------------


@st.composite
def h_part(draw: st.DrawFn, index: int) -> tuple[str, tuple[int, int]]:
    floor, ceiling = FIELD_LIMITS[index]
    kind = draw(st.sampled_from(["H", "range", "step", "range-step"]))
    low, high = H_RANGES[index]
    if kind in ("range", "range-step"):
        low = draw(st.integers(floor, ceiling))
        high = draw(st.integers(low, ceiling))
    text = "H" if kind in ("H", "step") else f"H({low}-{high})"
    if kind in ("step", "range-step"):
        text += f"/{draw(st.integers(1, high - low + 1))}"
    return text, (low, high)


@st.composite
def h_schedule(draw: st.DrawFn) -> tuple[str, list[tuple[int, int] | None]]:
    fields: list[str] = []
    ranges: list[tuple[int, int] | None] = []
    for index in range(5):
        if draw(st.booleans()):
            text, bounds = draw(h_part(index))
            fields.append(text)
            ranges.append(bounds)
        else:
            fields.append("*")
            ranges.append(None)
    if all(r is None for r in ranges):
        text, bounds = draw(h_part(0))
        fields[0], ranges[0] = text, bounds
    return " ".join(fields), ranges


@settings(max_examples=300, deadline=None)
@given(h_schedule(), st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20),
       st.text(max_size=8))
def test_resolved_schedule_is_valid_debian_cron_within_the_written_ranges(
        case: tuple[str, list[tuple[int, int] | None]], name: str, seed: str) -> None:
    expr, ranges = case
    try:
        resolved = resolve(expr, name, seed)
        validate_schedule(resolved)
    except ScheduleError as exc:
        # Only an impossible date (e.g. H(30-31) in February alone) may be refused, by schedule.py.
        assert "never" in str(exc) or "impossible" in str(exc) or "does not" in str(exc), str(exc)
        return
    assert "H" not in resolved
    _, sets = parse_fields(resolved)
    for index, bounds in enumerate(ranges):
        if bounds is not None:
            assert sets[index] and all(bounds[0] <= v <= bounds[1] for v in sets[index]), (expr, resolved)
