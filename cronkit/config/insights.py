"""The thresholds of the insights (SPEC 16), their defaults, and the `[tasks.NAME.insights]` table
that tunes them per task (validated when the settings are read)."""

from __future__ import annotations

from collections.abc import Mapping

from cronkit.config.values import checked_flag
from cronkit.errors import ConfigError
from cronkit.plain import TYPE_CHECKING, fields, record, replace

if TYPE_CHECKING:
    from typing import Any

KINDS = ("slow_run", "duration_trend", "failure_rate", "flapping", "memory_trend", "late_starts")
WARNING, CRITICAL = "warning", "critical"


@record(frozen=True)
class Rules:
    """When each kind of finding is raised; every field is a key of `[tasks.NAME.insights]`."""

    # slow_run: the latest succeeded run against the earlier ones (robust z-score over median/MAD).
    slow_run_z: float = 5.0
    slow_run_min_runs: int = 10  # earlier succeeded runs needed
    slow_run_min_excess: float = 1.0  # seconds above the median, at least
    # duration_trend and memory_trend: a Theil–Sen slope, significant by the Mann–Kendall test.
    trend_days: float = 14.0  # raised when the limit is reached within this many days
    trend_min_runs: int = 10
    trend_z: float = 3.0  # the Mann–Kendall z a rise must reach to count as a trend
    critical_days: float = 3.0  # reaching the limit sooner than this is critical
    # failure_rate: the last runs against the runs before them (one-sided binomial test).
    failure_window: int = 20
    failure_p: float = 0.01
    failure_min: int = 3
    # flapping: changes between succeeded and failed among the last runs.
    flapping_window: int = 10
    flapping_changes: int = 4
    flapping_min_failures: int = 3
    # late_starts: the p95 lateness of the last cron starts against the task's grace.
    late_window: int = 20
    late_grace_fraction: float = 0.5
    # Kinds not raised for this task at all.
    disabled: tuple[str, ...] = ()


DEFAULT_RULES = Rules()
_COUNTS = {"slow_run_min_runs", "trend_min_runs", "failure_window", "failure_min", "flapping_window",
           "flapping_changes", "flapping_min_failures", "late_window"}


def _number(where: str, value: Any, *, whole: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        raise ConfigError(f"{where}: must be a {'whole ' if whole else ''}number >= 0")
    if whole and not float(value).is_integer():
        raise ConfigError(f"{where}: must be a whole number >= 0")
    return int(value) if whole else float(value)


def rules_from_table(task: str, table: Any) -> Rules:
    """Return the Rules of a `[tasks.<task>.insights]` table; ConfigError naming the bad key."""
    where = f"tasks.{task}.insights"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table such as {{slow_run_z = 6}}")
    known = [f.name for f in fields(Rules)]
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown setting (known: {', '.join(known)})")
        if key == "disabled":
            if not isinstance(value, list) or any(k not in KINDS for k in value):
                raise ConfigError(f"{where}.disabled: must be a list of kinds ({', '.join(KINDS)})")
            values[key] = tuple(value)
        else:
            values[key] = _number(f"{where}.{key}", value, whole=key in _COUNTS)
    rules = replace(DEFAULT_RULES, **values)
    if rules.failure_window < 2 or rules.flapping_window < 2 or rules.late_window < 1:
        raise ConfigError(f"{where}: failure_window and flapping_window must be >= 2, late_window >= 1")
    if not 0 < rules.failure_p < 1:
        raise ConfigError(f"{where}.failure_p: must be between 0 and 1")
    return rules


def task_rules(task_config: Mapping[str, Mapping[str, Any]]) -> dict[str, Rules]:
    """Return the Rules of every task table that has an `insights` table."""
    return {name: rules_from_table(name, table["insights"])
            for name, table in task_config.items() if "insights" in table}


def insight_settings(critical_unhealthy: Any, tasks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Return the Settings fields of the insights: `insights_critical_unhealthy` and every task's Rules."""
    fields: dict[str, Any] = {"insights_critical_unhealthy": checked_flag("insights_critical_unhealthy",
                                                                          critical_unhealthy)}
    if any("insights" in table for table in tasks.values()):
        fields["task_insights"] = task_rules(tasks)
    return fields


__all__ = ["CRITICAL", "DEFAULT_RULES", "KINDS", "WARNING", "Rules", "insight_settings", "rules_from_table",
           "task_rules"]
