"""The insights' statistics and detectors on plain lists: no run log, no clock."""

from __future__ import annotations

import math
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronkit.config.insights import DEFAULT_RULES, Rules, rules_from_table
from cronkit.errors import ConfigError
from cronkit.insights.detect import (
    DAY_MS,
    Limits,
    Run,
    detect,
    duration_trend,
    failure_rate,
    flapping,
    late_starts,
    memory_trend,
    slow_run,
    surprise,
)
from cronkit.insights.robust import (
    binned,
    binomial_tail,
    changes,
    mad,
    mann_kendall_z,
    median,
    percentile,
    robust_z,
    theil_sen,
)
from cronkit.insights.words import amount, span

LIMITS = Limits(timeout_s=600, grace_s=300)


def runs_of(durations: list[int], *, every_ms: int = DAY_MS, statuses: str | None = None,
            rss: list[int] | None = None, late_ms: list[int] | None = None) -> list[Run]:
    out = []
    for i, ms in enumerate(durations):
        status = {"x": "failed", ".": "succeeded", "t": "timed_out"}[statuses[i]] if statuses else "succeeded"
        slot = i * every_ms
        out.append(Run(i + 1, slot + (late_ms[i] if late_ms else 500), status, "cron", slot, ms,
                       rss[i] if rss else 80_000))
    return out


def clean(n: int, seed: int = 7, base: float = 120_000, cv: float = 0.1) -> list[int]:
    rng = random.Random(seed)
    return [int(base * rng.gauss(1, cv)) for _ in range(n)]


# --- robust statistics ---------------------------------------------------------------------------

def test_median_and_mad_of_known_lists() -> None:
    assert median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5
    assert mad([1, 1, 2, 2, 4, 6, 9]) == 1
    z, centre, scale = robust_z(10, [1, 1, 2, 2, 4, 6, 9])
    assert centre == 2 and scale == pytest.approx(1.4826) and z == pytest.approx(8 / 1.4826)
    assert robust_z(5, [3, 3, 3])[0] == math.inf  # MAD 0 and no floor: any rise is infinitely far


def test_theil_sen_recovers_a_line_through_outliers() -> None:
    xs = [float(i) for i in range(20)]
    ys = [3 * x + 7 for x in xs]
    ys[4], ys[15] = 500.0, -300.0  # two wild points do not move it
    slope, intercept = theil_sen(xs, ys)
    assert slope == pytest.approx(3) and intercept == pytest.approx(7)


def test_binning_keeps_the_line_and_bounds_the_points() -> None:
    xs = [float(i) for i in range(1000)]
    bx, by = binned(xs, [2 * x for x in xs], limit=50)
    assert len(bx) == len(by) == 50
    assert theil_sen(bx, by)[0] == pytest.approx(2)


def test_mann_kendall_sign_and_strength() -> None:
    assert mann_kendall_z(list(range(10))) == pytest.approx(44 / math.sqrt(125))
    assert mann_kendall_z(list(range(10, 0, -1))) < -3
    assert mann_kendall_z([5, 5, 5, 5]) == 0.0


def test_binomial_tail_matches_the_sum_and_the_edges() -> None:
    assert binomial_tail(0, 20, 0.3) == 1.0 and binomial_tail(21, 20, 0.3) == 0.0
    assert binomial_tail(20, 20, 0.5) == pytest.approx(0.5 ** 20)
    assert binomial_tail(3, 20, 0.01) == pytest.approx(1 - sum(math.comb(20, i) * 0.01 ** i * 0.99 ** (20 - i)
                                                               for i in range(3)))


@given(st.lists(st.booleans(), min_size=0, max_size=30))
def test_changes_count_switches(outcomes: list[bool]) -> None:
    assert changes(outcomes) == sum(1 for i in range(1, len(outcomes)) if outcomes[i] != outcomes[i - 1])
    assert changes(outcomes) <= max(0, len(outcomes) - 1)


def test_percentile_is_nearest_rank() -> None:
    assert percentile(list(range(1, 21)), 95) == 19 and percentile([5], 50) == 5


# --- the kinds -----------------------------------------------------------------------------------

def test_a_clean_noisy_history_with_rare_isolated_failures_raises_nothing() -> None:
    durations = clean(30 * 24, cv=0.2)
    statuses = "".join("x" if i in (100, 400, 650) else "." for i in range(len(durations)))
    runs = runs_of(durations, every_ms=3_600_000, statuses=statuses, late_ms=[500 + i % 7 * 300 for i in range(720)])
    assert detect("t", runs[-500:], LIMITS) == []


def test_slow_run_against_the_median_and_mad() -> None:
    durations = clean(30)
    durations[-1] = 400_000
    found = slow_run("t", runs_of(durations), LIMITS, DEFAULT_RULES)
    assert found is not None and found.kind == "slow_run" and found.severity == "warning"
    assert found.evidence["run_id"] == 30 and found.evidence["runs"] == 29 and found.evidence["z"] > 5
    assert found.message.startswith("run 30 took 6m40s, 3.3 times its usual 2m")
    durations[-1] = 590_000  # within 80% of the 10m timeout: critical
    assert (slow := slow_run("t", runs_of(durations), LIMITS, DEFAULT_RULES)) and slow.severity == "critical"


def test_slow_run_needs_history_and_a_second_above_the_median() -> None:
    durations = clean(10)
    durations[-1] = 500_000
    assert slow_run("t", runs_of(durations), LIMITS, DEFAULT_RULES) is None  # 9 earlier runs, 10 needed
    quick = [100 + i % 3 for i in range(30)]
    quick[-1] = 900  # 9 times slower, far out, but 0.8 s: not worth a finding
    assert slow_run("t", runs_of(quick), LIMITS, DEFAULT_RULES) is None


def test_duration_trend_reaching_the_timeout_within_two_weeks() -> None:
    rng = random.Random(3)
    durations = [int(200_000 + 12_000 * i + rng.gauss(0, 5_000)) for i in range(24)]  # +12 s a day, timeout 10 min
    found = duration_trend("t", runs_of(durations), LIMITS, DEFAULT_RULES)
    assert found is not None and found.kind == "duration_trend"
    assert 7 <= found.evidence["days_to_limit"] <= 14 and found.evidence["limit_ms"] == 600_000
    assert found.message.startswith("reaches its 10m00s timeout in about ")
    assert re.search(r"now, \+1[12]s a day over (24|12) runs; raise the timeout", found.message)
    flat = [int(200_000 + 1_000 * i) for i in range(24)]  # rising, but the timeout is 400 days away
    assert duration_trend("t", runs_of(flat), LIMITS, DEFAULT_RULES) is None


def test_a_recent_rise_after_flat_weeks_is_a_trend() -> None:
    durations = clean(40, cv=0.03, base=100_000) + [int(100_000 + 40_000 * i) for i in range(1, 12)]
    found = duration_trend("t", runs_of(durations), LIMITS, DEFAULT_RULES)
    assert found is not None and found.evidence["runs"] < 51  # fitted on the latest part


def test_memory_trend_to_the_limit_or_doubling() -> None:
    rss = [100_000 + 15_000 * i for i in range(20)]  # every 6 hours: +60M a day from 385M now
    found = memory_trend("t", runs_of(clean(20), every_ms=DAY_MS // 4, rss=rss), LIMITS, DEFAULT_RULES)
    assert found is not None and 5 < found.evidence["days_to_limit"] < 8 and found.evidence["limit_kb"] is None and "doubles in about" in found.message
    limited = Limits(600, 300, memory_kb=512 * 1024)
    found = memory_trend("t", runs_of(clean(20), rss=[300_000 + 20_000 * i for i in range(20)]), limited, DEFAULT_RULES)
    assert found is not None and found.severity == "critical" and "reaches its 512M memory limit" in found.message
    steady = [100_000 + (i * 7919) % 3000 for i in range(40)]
    assert memory_trend("t", runs_of(clean(40), rss=steady), LIMITS, DEFAULT_RULES) is None


def test_failure_rate_jump_and_its_baseline() -> None:
    statuses = "." * 60 + ".x..x.x..xx...x....x"
    found = failure_rate("t", runs_of(clean(80), statuses=statuses), LIMITS, DEFAULT_RULES)
    assert found is not None and found.evidence["recent_failures"] == 7 and found.evidence["earlier_runs"] == 60
    assert found.since_ms == 61 * DAY_MS + 500 and found.evidence["p_value"] < 0.01
    assert found.message.startswith("fails 7 of its last 20 runs, against 0 of the 60 before")
    usual = "x....." * 10 + "x....x....x....x...."  # fails as often as it always did
    assert failure_rate("t", runs_of(clean(80), statuses=usual), LIMITS, DEFAULT_RULES) is None
    two = "." * 60 + "x" + "." * 18 + "x"  # two failures: fewer than failure_min
    assert failure_rate("t", runs_of(clean(80), statuses=two), LIMITS, DEFAULT_RULES) is None


def test_surprise_counts_the_windows_of_the_history() -> None:
    alone = binomial_tail(3, 20, 2.5 / 481)
    assert surprise(3, 20, 2, 480) == pytest.approx(alone * 25)


def test_flapping_needs_changes_and_failures_beyond_the_usual() -> None:
    found = flapping("t", runs_of(clean(40), statuses="." * 30 + ".x.x.xx.x."), LIMITS, DEFAULT_RULES)
    assert found is not None and found.evidence["changes"] == 8 and found.evidence["failures"] == 5
    two = "." * 30 + "..x....x.."  # two isolated failures: 4 changes, but not a flap
    assert flapping("t", runs_of(clean(40), statuses=two), LIMITS, DEFAULT_RULES) is None
    chronic = ".x.x.x.x.x" * 4  # it always flapped: nothing new, but still 9 changes
    assert flapping("t", runs_of(clean(40), statuses=chronic), LIMITS, DEFAULT_RULES) is None


def test_late_starts_against_half_the_grace() -> None:
    late = [1_000] * 10 + [160_000 + 1000 * i for i in range(10)]
    found = late_starts("t", runs_of(clean(20), every_ms=3_600_000, late_ms=late), LIMITS, DEFAULT_RULES)
    assert found is not None and found.severity == "warning" and found.evidence["p95_ms"] == 168_000
    assert found.evidence["grace_ms"] == 300_000 and found.since_ms == 10 * 3_600_000 + 160_000
    on_time = [2_000] * 19 + [200_000]  # one hiccup is no drift
    assert late_starts("t", runs_of(clean(20), late_ms=on_time), LIMITS, DEFAULT_RULES) is None


def test_manual_runs_are_no_late_starts() -> None:
    runs = [Run(i, i * DAY_MS + 400_000, "succeeded", "manual", i * DAY_MS, 1000) for i in range(20)]
    assert late_starts("t", runs, LIMITS, DEFAULT_RULES) is None


def test_rules_disable_and_tune() -> None:
    durations = clean(30)
    durations[-1] = 400_000
    runs = runs_of(durations)
    assert [f.kind for f in detect("t", runs, LIMITS)] == ["slow_run"]
    assert detect("t", runs, LIMITS, Rules(disabled=("slow_run",))) == []
    assert detect("t", runs, LIMITS, Rules(slow_run_z=1000)) == []


# --- the table and the words ---------------------------------------------------------------------

def test_rules_from_a_table_and_its_errors() -> None:
    rules = rules_from_table("nightly", {"slow_run_z": 6, "failure_window": 30, "disabled": ["flapping"]})
    assert rules.slow_run_z == 6.0 and rules.failure_window == 30 and rules.disabled == ("flapping",)
    for table, error in [
        ({"slow_run_zz": 1}, "tasks.nightly.insights.slow_run_zz: unknown setting"),
        ({"failure_window": 2.5}, "tasks.nightly.insights.failure_window: must be a whole number"),
        ({"slow_run_z": "high"}, "tasks.nightly.insights.slow_run_z: must be a number"),
        ({"disabled": ["slowness"]}, "tasks.nightly.insights.disabled: must be a list of kinds"),
        ({"failure_p": 0}, "tasks.nightly.insights.failure_p: must be between 0 and 1"),
        ("fast", "tasks.nightly.insights: must be a table"),
    ]:
        with pytest.raises(ConfigError, match=error.replace(".", r"\.")):
            rules_from_table("nightly", table)


def test_words() -> None:
    assert [span(850), span(4200), span(45_000), span(432_000), span(3_720_000)] == \
        ["850ms", "4.2s", "45s", "7m12s", "1h02m"]
    assert [amount(900), amount(301 * 1024), amount(1.5 * 1024 * 1024)] == ["900K", "301M", "1.5G"]


def test_a_tasks_memory_limit_is_the_memory_trends_limit() -> None:
    from cronkit.insights.read import limits_of
    from cronkit.registry import Registry

    registry = Registry()
    registry.add("0 3 * * *", "x:y", name="capped", limits={"memory": "512M"}, timeout="5m", grace="2m")
    registry.add("0 3 * * *", "x:y", name="free")
    assert limits_of(registry["capped"]) == Limits(300, 120, 512 * 1024)
    assert limits_of(registry["free"]).memory_kb is None
