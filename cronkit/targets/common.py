"""What every target's renderer shares: cronkit's mark on a rendered file, the margin left to the
outer scheduler, and runs of consecutive values (for the schedules they write)."""

from __future__ import annotations

# The outer schedulers kill a run only if cronkit itself hangs: cronkit stops the task at its
# timeout, waits runner.STOP_GRACE (10 s) between TERM and KILL and records the outcome; this
# margin leaves it the time to do so.
OUTER_MARGIN = 60
# The Kubernetes CronJob controller checks every 10 s: a shorter starting deadline may miss.
MIN_STARTING_DEADLINE = 10


def rendered_by(install_id: str, environment: str | None = None) -> str:
    """Return the start of the first line of every CronJob and task unit file: cronkit's mark,
    which `uninstall` looks for before it removes a file (without `environment`: the part that
    names the installation)."""
    return f"# Rendered by cronkit from registry {install_id}, environment {environment or ''}"


def value_runs(values: set[int]) -> list[tuple[int, int]]:
    """Return the runs of consecutive numbers in a non-empty set, as (first, last) pairs in order."""
    ordered = sorted(values)
    runs = [(ordered[0], ordered[0])]
    for value in ordered[1:]:
        if value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs
