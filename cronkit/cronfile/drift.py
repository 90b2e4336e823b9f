"""Compare the installed cronkit block with what the registry renders now, task by task.

A task's lines are told apart by the `cronkit run TASK` they contain. Install state (what the
last install wrote) tells a hand edit of the installed lines from a change in the registry or
settings since the install.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cronkit.config.settings import Settings
from cronkit.cronfile import state as install
from cronkit.cronfile.block import runs_check, task_of_line
from cronkit.cronfile.hostzone import detected_zone, same_zone
from cronkit.cronfile.installed import installed_times
from cronkit.registry import Registry


@dataclass
class Drift:
    """One difference between the installed block and what the registry renders now."""

    task: str | None
    kind: str  # missing, extra, changed, hand-edited, host-zone (task None)
    installed: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape of `status --json` (`block.drift` and each task's `drift`)."""
        return {"task": self.task, "kind": self.kind, "installed": self.installed, "expected": self.expected}

    def _check_lines(self) -> bool:
        lines = self.installed + self.expected
        return bool(lines) and all(runs_check(line) for line in lines)

    def reason(self) -> str:
        """Return the line `cronkit health` prints for this difference."""
        who = f"task {self.task}" if self.task else (
            "the block's `cronkit check` line" if self._check_lines() else "a line of the block that names no task")
        return {
            "missing": f"crontab: {who} is not in the installed block: run cronkit install",
            "extra": f"crontab: {who} is installed but not rendered by the registry here: run cronkit install",
            "changed": f"crontab: {who} renders differently now than when installed: run cronkit install",
            "hand-edited": f"crontab: {who}: the installed line was edited by hand: run cronkit install",
            "host-zone": f"crontab: the host zone is {self.expected[0] if self.expected else '?'} now,"
                         f" {self.installed[0] if self.installed else '?'} at install: the lines may fire at"
                         " the wrong times: run cronkit install (with --host-zone if it cannot be detected)",
        }[self.kind]


@dataclass
class Installation:
    """What is installed, compared with what would be installed now."""

    state: dict[str, Any] | None
    block_id: str | None
    target: str | None
    installed: list[str] | None  # lines of the block found in the crontab; None: no block
    expected: list[str]
    installed_at: dict[str, datetime]
    drift: list[Drift]

    @property
    def block_present(self) -> bool:
        return self.installed is not None


def _by_task(lines: Iterable[str]) -> dict[str | None, list[str]]:
    grouped: dict[str | None, list[str]] = {}
    for line in lines:
        text = line.rstrip("\n")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        grouped.setdefault(task_of_line(text), []).append(text)
    return grouped


def compare_lines(installed: Sequence[str], expected: Sequence[str], recorded: Sequence[str] | None) -> list[Drift]:
    """Report, by task, how the installed block differs from what the registry renders now.

    `recorded` is what the last install wrote (install state): a task whose installed lines
    differ from them was edited by hand; one whose recorded lines differ from the expected
    ones changed in the registry or settings since.
    """
    have, want = _by_task(installed), _by_task(expected)
    was = _by_task(recorded) if recorded is not None else None
    drift: list[Drift] = []
    for task in sorted(set(have) | set(want), key=lambda t: (t is None, t or "")):
        got, exp = have.get(task, []), want.get(task, [])
        if got == exp:
            continue
        if not got:
            kind = "missing"
        elif not exp:
            kind = "extra" if task is not None and (was is None or got == was.get(task, [])) else "hand-edited"
        elif was is not None and got != was.get(task, []):
            kind = "hand-edited"
        else:
            kind = "changed"
        drift.append(Drift(task, kind, got, exp))
    return drift


def zone_drift(state: Mapping[str, Any], root: str = "/") -> Drift | None:
    """Flag a host whose detected zone changed since the install (installed: then; expected: now).

    The zone detected at install is compared, not the `--host-zone` given: a zone pinned by
    hand on a host that detection reads differently is not a change. An install recorded
    without a detected zone (older state, or detection failed then) is not judged.
    """
    then = state.get("detected_zone")
    if not isinstance(then, str):
        return None
    now = detected_zone(root)
    if now is not None and same_zone(then, now, root):
        return None
    return Drift(None, "host-zone", [then], [now or "unknown (cannot be detected)"])


def _recorded_lines(state: Mapping[str, Any]) -> list[str] | None:
    """Return the lines the last install wrote: its whole block (the `cronkit check` lines too),
    else, in state written before the block was recorded, its task lines."""
    block = state.get("block")
    if isinstance(block, str):
        return block.splitlines()
    lines = state.get("lines")
    return list(lines) if isinstance(lines, list) else None


def read_installation(settings: Settings, registry: Registry) -> Installation:
    """Read install state and the installed block, render the registry now, and compare them."""
    state = install.read_install_state(settings)
    target = (state or {}).get("target") or install.DEFAULT_TARGET
    expected = install.expected_lines(settings, registry, target)
    installed = install.installed_lines(settings, registry, target, state)
    installed_at = installed_times(state) if state else {}
    recorded = _recorded_lines(state) if state else None
    drift = compare_lines(installed, expected, recorded) if installed is not None else []
    moved = zone_drift(state) if state and installed is not None else None
    if moved is not None:
        drift.append(moved)
    return Installation(state, (state or {}).get("block_id"), target, installed, expected, installed_at, drift)


__all__ = ["Drift", "Installation", "compare_lines", "read_installation", "zone_drift"]
