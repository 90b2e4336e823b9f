"""Other schedulers rendered from the registry: Kubernetes CronJobs and systemd timers.

Each renderer is a pure function of (registry, settings[, executable]) returning
{file name: text}, deterministic byte for byte; every unit it writes runs
`cronkit run TASK --trigger cron`, so locks, retries and the run log stay cronkit's.
Writing the files (with the record of what cronkit wrote) is `targets.files`.
"""

from __future__ import annotations

from cronkit.config.settings import Settings
from cronkit.errors import UsageError
from cronkit.registry import Registry

TARGETS = ("kubernetes", "systemd", "serve-unit")  # serve-unit: `cronkit serve` as a systemd service
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



def check_target(target: str) -> str:
    if target not in TARGETS:
        raise UsageError(f"--target: must be one of {', '.join(TARGETS)}, not {target!r}")
    return target


def render_target(target: str, registry: Registry, settings: Settings, executable: str, user: str | None = None,
                  user_units: bool = False) -> dict[str, str]:
    """Return {file name: text} for `target`; the executable and the units' user (`user`, or
    `user_units` for the user's own systemd) matter to systemd only."""
    if check_target(target) == "serve-unit":
        from cronkit.targets.serve_unit import render as render_serve

        return render_serve(registry, settings, executable, user, user_units)
    if target == "kubernetes":
        from cronkit.targets.kubernetes import render

        return render(registry, settings)
    from cronkit.targets.systemd import render as render_systemd

    return render_systemd(registry, settings, executable, user, user_units)


def joined(files: dict[str, str]) -> str:
    """Return the files as one text, each preceded by `# --- <file name>`, in name order."""
    return "".join(f"# --- {name}\n{files[name]}" for name in sorted(files))
