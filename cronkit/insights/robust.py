"""Robust statistics on plain lists: median and MAD, Theil–Sen slopes, the Mann–Kendall trend test,
a one-sided binomial tail, nearest-rank percentiles, outcome changes.

Pure functions of numbers (no run log, no clock), so the detectors and the quality bench share
them. No scipy: the binomial tail is summed exactly with math.comb; the trend test's normal
approximation is the textbook one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAD_TO_SIGMA = 1.4826  # MAD times this estimates the standard deviation of normal data
TREND_POINTS = 40  # the most points a slope is fitted on; longer series are binned to this many


def median(values: Sequence[float]) -> float:
    """Return the median of `values` (the mean of the middle two for an even count)."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def mad(values: Sequence[float], centre: float | None = None) -> float:
    """Return the median absolute deviation of `values` from `centre` (their median by default)."""
    centre = median(values) if centre is None else centre
    return median([abs(v - centre) for v in values])


def robust_z(value: float, history: Sequence[float], floor: float = 0.0) -> tuple[float, float, float]:
    """Return (z, median, scale): how many robust standard deviations `value` lies above `history`.

    scale is MAD_TO_SIGMA * MAD, at least `floor` (a history of identical values has MAD 0, and
    any difference would otherwise be infinitely far).
    """
    centre = median(history)
    scale = max(MAD_TO_SIGMA * mad(history, centre), floor)
    if scale <= 0:
        return (math.inf if value > centre else 0.0), centre, scale
    return (value - centre) / scale, centre, scale


def binned(xs: Sequence[float], ys: Sequence[float], limit: int = TREND_POINTS) -> tuple[list[float], list[float]]:
    """Return at most `limit` points: consecutive runs of points replaced by their medians (`xs` ascending).

    A pairwise method costs n² pairs; binning keeps it bounded while each bin's median stays
    robust to the odd outlier inside it.
    """
    n = len(xs)
    if n <= limit:
        return list(map(float, xs)), list(map(float, ys))
    out_x, out_y = [], []
    for b in range(limit):
        lo, hi = b * n // limit, (b + 1) * n // limit
        mid = (lo + hi - 1) / 2  # xs ascend: their median is the middle one (or the mean of two)
        out_x.append((xs[int(mid)] + xs[int(mid + 0.5)]) / 2)
        out_y.append(median(ys[lo:hi]))
    return out_x, out_y


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Return (slope, intercept) of the Theil–Sen line: the median of the pairwise slopes, and the
    median of y - slope * x. `xs` ascending; pairs with equal x are skipped."""
    slopes = [(ys[j] - ys[i]) / (xs[j] - xs[i])
              for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[j] != xs[i]]
    if not slopes:
        return 0.0, median(ys)
    slope = median(slopes)
    return slope, median([y - slope * x for x, y in zip(xs, ys, strict=True)])


def mann_kendall_z(ys: Sequence[float]) -> float:
    """Return the Mann–Kendall statistic of a rising trend as a normal z-score (with continuity
    correction; ties count as no change, which only makes the test more cautious)."""
    n = len(ys)
    if n < 3:
        return 0.0
    s = sum((ys[j] > ys[i]) - (ys[j] < ys[i]) for i in range(n) for j in range(i + 1, n))
    var = n * (n - 1) * (2 * n + 5) / 18
    if s > 0:
        return (s - 1) / math.sqrt(var)
    if s < 0:
        return (s + 1) / math.sqrt(var)
    return 0.0


def binomial_tail(k: int, n: int, p: float) -> float:
    """Return P(X >= k) for X ~ Binomial(n, p), summed exactly."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    p = min(max(p, 0.0), 1.0)
    return min(1.0, sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the nearest-rank percentile of `values` (as `stats` computes its p50 and p95)."""
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def changes(outcomes: Sequence[bool]) -> int:
    """Return how many times a sequence of outcomes switches between True and False."""
    return sum(1 for a, b in zip(outcomes, outcomes[1:], strict=False) if a != b)


__all__ = ["MAD_TO_SIGMA", "TREND_POINTS", "binned", "binomial_tail", "changes", "mad", "mann_kendall_z",
           "median", "percentile", "robust_z", "theil_sen"]
