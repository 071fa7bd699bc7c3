"""Estimates and their uncertainty, from the sufficient statistics the engines return.

The engines (DuckDB, PostgreSQL, Spark) only sum and count; every interval and test is
computed here, once, in plain Python, so the three engines cannot disagree on statistics.

Weighted estimates (cold surveys) use Kish's effective sample size
``n_eff = (Σw)² / Σw²`` in place of ``n``; with all weights 1 it is ``n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from scipy.stats import t as student_t

Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95 % interval and the variance used for tests."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    variance: float | None = None  # for tests; None when no test is possible
    centre: float | None = None  # the estimate tests compare (adjusted); ``value`` if None

    @property
    def tested(self) -> float | None:
        return self.value if self.centre is None else self.centre


EMPTY = Estimate(None, None, None, None)


def effective_n(sum_w: float, sum_w2: float) -> float:
    """Kish's effective sample size; 0 when there is no weight."""
    return sum_w * sum_w / sum_w2 if sum_w2 > 0 else 0.0


def wilson(successes: float, n: float, z: float = Z95) -> Estimate:
    """A proportion with the Wilson score interval (good near 0 and 1 and for small n)."""
    if n <= 0:
        return EMPTY
    p = min(max(successes / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at 0 and 1 the bound is exact; rounding would otherwise leave 1e-17 instead of 0
    low = 0.0 if p == 0.0 else max(0.0, centre - half)
    high = 1.0 if p == 1.0 else min(1.0, centre + half)
    # variance for tests between periods: Agresti–Caffo (one success and one failure added),
    # so that 2 of 2 against 0 of 1 is not "certainly different"
    adjusted = (successes + 1) / (n + 2)
    return Estimate(p, low, high, adjusted * (1 - adjusted) / (n + 2), adjusted)


def nps(promoters: float, detractors: float, n: float, z: float = Z95) -> Estimate:
    """Net Promoter Score in points (−100…100).

    The variance is that of the difference of two proportions of one multinomial sample:
    ``(p + d − (p − d)²) / n``. The interval is clipped to the possible range.
    """
    if n <= 0:
        return EMPTY
    p, d = promoters / n, detractors / n
    diff = p - d
    variance = max(p + d - diff * diff, 0.0) / n
    half = z * math.sqrt(variance)
    # for tests between periods, the same add-one adjustment as for shares (a sample of
    # promoters only has no spread, not no uncertainty)
    pa, da = (promoters + 1) / (n + 3), (detractors + 1) / (n + 3)
    test_variance = max(pa + da - (pa - da) ** 2, 0.0) / (n + 3)
    return Estimate(
        100 * diff,
        100 * max(-1.0, diff - half),
        100 * min(1.0, diff + half),
        10_000 * test_variance,
        100 * (pa - da),
    )


def mean(total: float, total_sq: float, n: float, sum_w: float | None = None) -> Estimate:
    """A mean with Student's t interval.

    ``total`` and ``total_sq`` are Σwx and Σwx²; ``sum_w`` is Σw (``n`` when unweighted)
    and ``n`` the (effective) sample size that sets the degrees of freedom.
    """
    weight = n if sum_w is None else sum_w
    if n <= 0 or weight <= 0:
        return EMPTY
    m = total / weight
    if n < 2:
        return Estimate(m, None, None, None)
    # unbiased variance of the observations, then of the mean
    var_obs = max(total_sq / weight - m * m, 0.0) * n / (n - 1)
    var_mean = var_obs / n
    half = float(student_t.ppf(0.975, n - 1)) * math.sqrt(var_mean)
    return Estimate(m, m - half, m + half, var_mean)


def quantile_ranks(n: int, q: float, z: float = Z95) -> tuple[int, int, int]:
    """1-based ranks of the nearest-rank ``q`` quantile and of its distribution-free 95 %
    interval (order statistics from the binomial's normal approximation).

    Nearest rank is the definition every engine can compute identically (a window
    ``row_number``), and it is the one service-level reports use ("80 % within X").
    """
    if n <= 0:
        return (0, 0, 0)
    point = max(1, math.ceil(q * n))
    spread = z * math.sqrt(n * q * (1 - q))
    low = max(1, math.floor(n * q - spread))
    high = min(n, math.ceil(n * q + spread) + 1)
    return (point, low, high)


@dataclass(frozen=True)
class Comparison:
    change: float | None
    p_value: float | None

    @property
    def significant(self) -> bool | None:
        return None if self.p_value is None else self.p_value < 0.05


def compare(current: Estimate, previous: Estimate) -> Comparison:
    """Change between two independent periods, with a two-sided z test on it."""
    if current.value is None or previous.value is None:
        return Comparison(None, None)
    change = current.value - previous.value
    if current.variance is None or previous.variance is None:
        return Comparison(change, None)
    se = math.sqrt(current.variance + previous.variance)
    if se == 0:  # both samples without spread: no test is meaningful
        return Comparison(change, None)
    # shares and NPS are tested on their add-one adjusted estimates (Agresti–Caffo), which
    # keeps small samples from looking certain; the change shown stays the plain one
    tested = (current.tested or 0.0) - (previous.tested or 0.0)
    p_value = 2 * (1 - NormalDist().cdf(abs(tested) / se))
    return Comparison(change, p_value)
