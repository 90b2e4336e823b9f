"""The six kinds of finding (SPEC 16), each a pure function of a task's recent runs.

A detector gets plain data: the task's finished runs of the window, oldest first (`Run`), its
limits (timeout, grace, memory limit) and its Rules; it returns a Finding or None. Nothing here
reads the run log or the clock, so the tests and the quality bench (bench/insights.py) feed
them lists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cronkit.config.insights import CRITICAL, DEFAULT_RULES, WARNING, Rules
from cronkit.insights.robust import (
    binned,
    binomial_tail,
    changes,
    mann_kendall_z,
    percentile,
    robust_z,
    theil_sen,
)
from cronkit.insights.words import amount, span
from cronkit.runlog.times import iso

DAY_MS = 86_400_000
SUCCEEDED = "succeeded"
FAILED = ("failed", "timed_out", "lost")
SLOW_RUN_HISTORY = 100  # earlier succeeded runs a slow run is compared with, at most


@dataclass(frozen=True)
class Run:
    """One run of a task as the insights read it (times in epoch milliseconds)."""

    id: int
    started_ms: int
    status: str
    trigger: str = "cron"
    scheduled_ms: int | None = None
    duration_ms: int | None = None
    max_rss_kb: int | None = None


@dataclass(frozen=True)
class Limits:
    """What a task may take: its timeout and grace (seconds), its memory limit (KiB) if it has one."""

    timeout_s: float
    grace_s: float
    memory_kb: int | None = None


@dataclass(frozen=True)
class Finding:
    """One insight: a task, a kind, how serious, since when, the numbers it rests on, and what to do."""

    task: str
    kind: str
    severity: str
    since_ms: int
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape of `insights --json` (SPEC 16)."""
        return {"task": self.task, "kind": self.kind, "severity": self.severity, "since": iso(self.since_ms),
                "evidence": self.evidence, "message": self.message}


def slow_run(task: str, runs: Sequence[Run], limits: Limits, rules: Rules) -> Finding | None:
    """The latest succeeded run is an outlier against the earlier succeeded runs."""
    done = [r for r in runs if r.status == SUCCEEDED and r.duration_ms is not None]
    if len(done) <= rules.slow_run_min_runs:
        return None
    latest, earlier = done[-1], [float(r.duration_ms or 0) for r in done[-1 - SLOW_RUN_HISTORY:-1]]
    took = float(latest.duration_ms or 0)
    z, centre, scale = robust_z(took, earlier, floor=max(1.0, 0.01 * sum(earlier) / len(earlier)))
    if z <= rules.slow_run_z or took - centre < rules.slow_run_min_excess * 1000:
        return None
    near = took >= 0.8 * limits.timeout_s * 1000
    ratio = f"{took / centre:.1f} times" if centre > 0 else "far above"
    return Finding(task, "slow_run", CRITICAL if near else WARNING, latest.started_ms,
                   f"run {latest.id} took {span(took)}, {ratio} its usual {span(centre)} (robust z {_z(z)} over "
                   f"{len(earlier)} runs){' and close to its ' + span(limits.timeout_s * 1000) + ' timeout' if near else ''}:"
                   f" see what it did differently (cronkit show {latest.id})",
                   {"run_id": latest.id, "duration_ms": int(took), "median_ms": int(centre),
                    "scale_ms": round(scale, 1), "z": _z(z), "runs": len(earlier), "timeout_ms": int(limits.timeout_s * 1000)})


@dataclass(frozen=True)
class Trend:
    """A fitted rise: its level at the latest run, its slope per day, and how sure the rise is."""

    level: float
    per_day: float
    z: float
    runs: int
    first_ms: int


def fit_trend(points: Sequence[tuple[int, float]], min_z: float = float("-inf")) -> Trend:
    """Fit (epoch ms, value) points, oldest first: Theil–Sen over at most robust.TREND_POINTS bins.

    A rise whose Mann–Kendall z stays below `min_z` is not fitted (slope 0): the test is the cheaper half.
    """
    xs, ys = binned([t / DAY_MS for t, _ in points], [v for _, v in points])
    z = mann_kendall_z(ys)
    if z < min_z:
        return Trend(ys[-1], 0.0, z, len(points), points[0][0])
    slope, intercept = theil_sen(xs, ys)
    last = points[-1][0] / DAY_MS
    return Trend(intercept + slope * last, slope, z, len(points), points[0][0])


def rising(points: Sequence[tuple[int, float]], rules: Rules,
           limit: Callable[[Trend], float]) -> tuple[Trend, float] | None:
    """Return the significant rise that reaches `limit(trend)` soonest, and in how many days; None
    when no rise is significant.

    A rise fitted over the whole window, its latest half and its latest quarter (each of at least
    rules.trend_min_runs runs): growth that began a week ago shows in the latest part while the
    weeks before it, flat, would hide it in a fit of the whole window.
    """
    best: tuple[Trend, float] | None = None
    for size in (len(points), len(points) // 2, len(points) // 4):
        if size < rules.trend_min_runs:
            break
        trend = fit_trend(points[-size:], rules.trend_z)
        if trend.per_day > 0 and trend.z >= rules.trend_z:
            days = max(0.0, (limit(trend) - trend.level) / trend.per_day)
            if best is None or days < best[1]:
                best = (trend, days)
    return best


def duration_trend(task: str, runs: Sequence[Run], limits: Limits, rules: Rules) -> Finding | None:
    """The trend of succeeded durations reaches the timeout within rules.trend_days."""
    points = [(r.started_ms, float(r.duration_ms)) for r in runs if r.status == SUCCEEDED and r.duration_ms is not None]
    timeout = limits.timeout_s * 1000
    found = rising(points, rules, lambda _trend: timeout)
    if found is None or found[1] > rules.trend_days:
        return None
    trend, days = found
    return Finding(task, "duration_trend", CRITICAL if days <= rules.critical_days else WARNING, trend.first_ms,
                   f"reaches its {span(timeout)} timeout in about {_days(days)} at the current trend: "
                   f"{span(trend.level)} now, +{span(trend.per_day)} a day over {trend.runs} runs; "
                   "raise the timeout or find what grows (input size, a table without an index)",
                   _trend_evidence(trend, days, limit_ms=int(timeout)))


def memory_trend(task: str, runs: Sequence[Run], limits: Limits, rules: Rules) -> Finding | None:
    """The trend of peak memory reaches the memory limit (else doubles) within rules.trend_days."""
    points = [(r.started_ms, float(r.max_rss_kb)) for r in runs if r.status == SUCCEEDED and r.max_rss_kb]
    limit = limits.memory_kb
    found = rising(points, rules, lambda trend: float(limit) if limit is not None else 2 * max(trend.level, 1.0))
    if found is None or found[1] > rules.trend_days:
        return None
    trend, days = found
    if limit is not None:
        what = f"reaches its {amount(limit)} memory limit in about {_days(days)}"
        severity = CRITICAL if days <= rules.critical_days else WARNING
    else:
        what, severity = f"doubles in about {_days(days)}", WARNING
    return Finding(task, "memory_trend", severity, trend.first_ms,
                   f"peak memory {what} at the current trend: {amount(trend.level)} now, +{amount(trend.per_day)}"
                   f" a day over {trend.runs} runs; look for what the task keeps (a cache, a list that grows)",
                   _trend_evidence(trend, days, limit_kb=limit))


def _trend_evidence(trend: Trend, days: float, **limit: Any) -> dict[str, Any]:
    return {"level": round(trend.level), "per_day": round(trend.per_day, 1), "days_to_limit": round(days, 1),
            "mann_kendall_z": _z(trend.z), "runs": trend.runs, **limit}


def surprise(failures: int, runs: int, earlier: int, before: int) -> float:
    """Return how likely `failures` of `runs` are at the rate of the `before` runs (`earlier` failed).

    A one-sided binomial test against the earlier rate (Jeffreys' estimate: no history is no
    evidence of a clean one), times the windows the earlier runs hold: the chance that a window
    this bad turns up somewhere in the history (a scan correction). Without it an hourly task
    with rare isolated failures would raise a finding every few months (bench/insights.py).
    """
    baseline = (earlier + 0.5) / (before + 1)
    return min(1.0, binomial_tail(failures, runs, baseline) * (1 + before / runs))


def failure_rate(task: str, runs: Sequence[Run], limits: Limits, rules: Rules) -> Finding | None:
    """The failure rate of the last runs is far above the rate of the runs before them."""
    decided = [r for r in runs if r.status == SUCCEEDED or r.status in FAILED]
    recent, before = decided[-rules.failure_window:], decided[:-rules.failure_window]
    if len(recent) < rules.failure_window:
        return None
    failed = [r for r in recent if r.status in FAILED]
    earlier = sum(1 for r in before if r.status in FAILED)
    if len(failed) < rules.failure_min:
        return None
    baseline = (earlier + 0.5) / (len(before) + 1)
    p = surprise(len(failed), len(recent), earlier, len(before))
    if p >= rules.failure_p:
        return None
    rate = len(failed) / len(recent)
    return Finding(task, "failure_rate", CRITICAL if rate >= 0.5 else WARNING, failed[0].started_ms,
                   f"fails {len(failed)} of its last {len(recent)} runs, against {earlier} of the {len(before)} before"
                   f" (p = {p:.1g}): look at what changed around the first of them (cronkit show {failed[0].id})",
                   {"recent_failures": len(failed), "recent_runs": len(recent), "earlier_failures": earlier,
                    "earlier_runs": len(before), "baseline_rate": round(baseline, 4), "p_value": float(f"{p:.3g}")})


def flapping(task: str, runs: Sequence[Run], limits: Limits, rules: Rules) -> Finding | None:
    """The last runs switch between succeeded and failed again and again."""
    everything = [r for r in runs if r.status == SUCCEEDED or r.status in FAILED]
    # The usual rate: of the runs before the window and the window before it, which a flap that
    # began a little earlier shares.
    decided, before = everything[-rules.flapping_window:], everything[:-2 * rules.flapping_window]
    outcomes = [r.status == SUCCEEDED for r in decided]
    flips, failures = changes(outcomes), outcomes.count(False)
    if flips < rules.flapping_changes or failures < rules.flapping_min_failures:
        return None
    earlier = sum(1 for r in before if r.status in FAILED)
    if len(before) >= len(decided) and surprise(failures, len(decided), earlier, len(before)) >= rules.failure_p:
        return None  # as often as the task always failed: its usual isolated failures, not a flap
    first = next(i for i in range(1, len(outcomes)) if outcomes[i] != outcomes[i - 1])
    return Finding(task, "flapping", WARNING, decided[first].started_ms,
                   f"flapping: {flips} changes between success and failure in its last {len(decided)} runs "
                   f"({failures} failed): an intermittent cause (a flaky dependency, a race, a full disk now and"
                   " then) rather than a broken task",
                   {"changes": flips, "failures": failures, "runs": len(decided), "earlier_failures": earlier,
                    "earlier_runs": len(before)})


def late_starts(task: str, runs: Sequence[Run], limits: Limits, rules: Rules) -> Finding | None:
    """The p95 lateness of the last cron starts exceeds a fraction of the task's grace."""
    starts = [r for r in runs if r.trigger == "cron" and r.scheduled_ms is not None][-rules.late_window:]
    if len(starts) < rules.late_window:
        return None
    late = [max(0, r.started_ms - (r.scheduled_ms or 0)) for r in starts]
    p95 = percentile(late, 95)
    threshold = rules.late_grace_fraction * limits.grace_s * 1000
    if p95 <= threshold:
        return None
    first = next(r for r, ms in zip(starts, late, strict=True) if ms > threshold)
    severity = CRITICAL if p95 > limits.grace_s * 1000 else WARNING
    return Finding(task, "late_starts", severity, first.started_ms,
                   f"cron starts it late: p95 {span(p95)} after the slot over its last {len(starts)} cron runs, "
                   f"more than {rules.late_grace_fraction:g} of its {span(limits.grace_s * 1000)} grace (later than the "
                   "grace, a run is skipped): look at the host's load and the cron daemon",
                   {"p95_ms": int(p95), "grace_ms": int(limits.grace_s * 1000), "runs": len(starts),
                    "max_ms": max(late)})


Detector = Callable[[str, Sequence[Run], Limits, Rules], "Finding | None"]
DETECTORS: dict[str, Detector] = {
    "slow_run": slow_run, "duration_trend": duration_trend, "failure_rate": failure_rate,
    "flapping": flapping, "memory_trend": memory_trend, "late_starts": late_starts,
}


def detect(task: str, runs: Sequence[Run], limits: Limits, rules: Rules = DEFAULT_RULES) -> list[Finding]:
    """Return every finding of a task from its runs (finished, oldest first), in DETECTORS' order."""
    found = []
    for kind, detector in DETECTORS.items():
        if kind not in rules.disabled:
            finding = detector(task, runs, limits, rules)
            if finding is not None:
                found.append(finding)
    return found


def _z(z: float) -> float:
    return round(z, 1) if z != float("inf") else 1e9


def _days(days: float) -> str:
    if days < 1:
        return "less than a day"
    return f"{days:.0f} day{'s' if round(days) != 1 else ''}"


__all__ = ["DETECTORS", "Finding", "Limits", "Run", "Trend", "detect", "duration_trend", "failure_rate",
           "fit_trend", "flapping", "late_starts", "memory_trend", "rising", "slow_run", "surprise"]
