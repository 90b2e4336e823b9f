"""Other schedulers rendered from the registry: Kubernetes CronJobs and systemd timers.

Each renderer is a pure function of (registry, settings[, executable]) returning
{file name: text}, deterministic byte for byte; every unit it writes runs
`cronkit run TASK --trigger cron`, so locks, retries and the run log stay cronkit's.
Writing the files (with the record of what cronkit wrote) is `targets.files`; what the renderers
share (the mark on a rendered file, the outer margin) is `targets.common`.
"""

from __future__ import annotations

from cronkit.config.settings import Settings
from cronkit.errors import UsageError
from cronkit.registry import Registry
from cronkit.targets.kubernetes import render as render_kubernetes
from cronkit.targets.serve_unit import render as render_serve
from cronkit.targets.systemd import render as render_systemd

TARGETS = ("kubernetes", "systemd", "serve-unit")  # serve-unit: `cronkit serve` as a systemd service


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise UsageError(f"--target: must be one of {', '.join(TARGETS)}, not {target!r}")
    return target


def render_target(target: str, registry: Registry, settings: Settings, executable: str, user: str | None = None,
                  user_units: bool = False) -> dict[str, str]:
    """Return {file name: text} for `target`; the executable and the units' user (`user`, or
    `user_units` for the user's own systemd) matter to systemd only."""
    if check_target(target) == "serve-unit":
        return render_serve(registry, settings, executable, user, user_units)
    if target == "kubernetes":
        return render_kubernetes(registry, settings)
    return render_systemd(registry, settings, executable, user, user_units)


def joined(files: dict[str, str]) -> str:
    """Return the files as one text, each preceded by `# --- <file name>`, in name order."""
    return "".join(f"# --- {name}\n{files[name]}" for name in sorted(files))
