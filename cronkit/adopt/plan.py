"""Decide what `cronkit adopt` takes from a crontab: which job lines become command tasks, under
which names, which stay as they are and why, and the crontab text left when they are taken out.

A pure function of the crontab's text and the names already taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cronkit.adopt.names import unique_name
from cronkit.adopt.parse import CronLine, job_env, read_lines
from cronkit.cronfile.block import task_of_line
from cronkit.errors import ScheduleError
from cronkit.schedule import validate_schedule


@dataclass(frozen=True)
class AdoptedJob:
    """One job line that becomes a command task."""

    line: CronLine
    name: str
    schedule: str
    shell: str
    env: dict[str, str]
    command: str


@dataclass(frozen=True)
class KeptJob:
    """A job line left in the crontab as it is, and why."""

    line: CronLine
    note: str


@dataclass
class Plan:
    """What adoption does to one crontab."""

    adopted: list[AdoptedJob] = field(default_factory=list)
    kept: list[KeptJob] = field(default_factory=list)
    remaining: str = ""  # the crontab's text without the adopted lines


def make_plan(text: str, *, system: bool, run_as: str | None, taken: set[str]) -> Plan:
    """Plan the adoption of a crontab's job lines (`system`: a cron.d file; `run_as`: its lines' user).

    `taken` holds the task names in use; the names chosen are added to it.
    """
    plan = Plan()
    pieces: list[str] = []
    for line in read_lines(text, system=system):
        if line.kind != "job":
            pieces.append(text[line.start:line.end])
            continue
        note = _refusal(line, system, run_as)
        if note is not None:
            plan.kept.append(KeptJob(line, note))
            pieces.append(text[line.start:line.end])
            continue
        shell, env = job_env(line)
        name = unique_name(line.command, taken)
        taken.add(name)
        plan.adopted.append(AdoptedJob(line, name, " ".join(line.schedule.split()), shell, env, line.command))
    plan.remaining = "".join(pieces)
    return plan


def _refusal(line: CronLine, system: bool, run_as: str | None) -> str | None:
    """Return why a job line stays in the crontab, None when it can be adopted."""
    if line.schedule == "@reboot":
        return "@reboot: runs once at boot, not on a schedule; kept as it is"
    if line.stdin:
        return "uses % to feed standard input, which only cron does; kept as it is"
    if task_of_line(line.text) is not None or line.command.split(" ", 1)[0].rsplit("/", 1)[-1] == "cronkit":
        return "runs cronkit already; kept as it is"
    if system and line.user != run_as:
        return f"runs as {line.user}, not {run_as}; kept as it is (adopt it with --user {line.user})"
    try:
        validate_schedule(line.schedule, where="schedule")
    except ScheduleError as exc:
        return f"{exc}; kept as it is"
    if "\0" in line.command:
        return "holds a NUL byte; kept as it is"
    return None
