"""Statistics: intervals that contain their estimate, shrink with n, and match textbook values."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from voxloop.metrics import stats


def test_wilson_textbook_value() -> None:
    # Wilson 95 % interval for 8 successes of 10 (Newcombe 1998, table I): 0.4902–0.9433
    est = stats.wilson(8, 10)
    assert est.value == 0.8
    assert est.ci_low is not None and est.ci_high is not None
    assert math.isclose(est.ci_low, 0.4902, abs_tol=5e-5)
    assert math.isclose(est.ci_high, 0.9433, abs_tol=5e-5)


def test_wilson_at_the_edges_is_not_degenerate() -> None:
    zero = stats.wilson(0, 20)
    assert zero.ci_low == 0.0 and zero.ci_high is not None and zero.ci_high > 0.1
    assert stats.wilson(0, 0) == stats.EMPTY


@given(
    n=st.integers(min_value=1, max_value=100_000),
    frac=st.floats(min_value=0, max_value=1),
)
def test_wilson_contains_estimate_and_stays_in_unit_interval(n: int, frac: float) -> None:
    k = round(frac * n)
    est = stats.wilson(k, n)
    assert est.ci_low is not None and est.ci_high is not None and est.value is not None
    assert 0.0 <= est.ci_low <= est.value + 1e-12 <= est.ci_high + 2e-12 <= 1.0 + 2e-12


@given(
    pro=st.integers(min_value=0, max_value=5000),
    det=st.integers(min_value=0, max_value=5000),
    passive=st.integers(min_value=0, max_value=5000),
)
def test_nps_interval_contains_estimate_and_range(pro: int, det: int, passive: int) -> None:
    n = pro + det + passive
    est = stats.nps(pro, det, n)
    if n == 0:
        assert est == stats.EMPTY
        return
    assert est.value is not None and est.ci_low is not None and est.ci_high is not None
    assert (
        -100.0 <= est.ci_low <= est.value + 1e-9 and est.value <= est.ci_high + 1e-9 <= 100.0 + 1e-9
    )
    assert math.isclose(est.value, 100 * (pro - det) / n)


def test_nps_interval_shrinks_like_root_n() -> None:
    small = stats.nps(50, 20, 100)
    large = stats.nps(5000, 2000, 10_000)
    assert small.ci_high is not None and small.ci_low is not None
    assert large.ci_high is not None and large.ci_low is not None
    ratio = (small.ci_high - small.ci_low) / (large.ci_high - large.ci_low)
    assert math.isclose(ratio, 10.0, rel_tol=1e-9)


def test_mean_uses_student_t() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    est = stats.mean(sum(values), sum(v * v for v in values), len(values))
    sd = math.sqrt(sum((v - 4.0) ** 2 for v in values) / 4)
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t(0.975, 4)
    assert est.value == 4.0
    assert est.ci_low is not None and math.isclose(est.ci_low, 4.0 - half)
    assert stats.mean(5.0, 25.0, 1).ci_low is None  # one value: no interval


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=200))
def test_mean_interval_contains_mean(values: list[float]) -> None:
    est = stats.mean(sum(values), sum(v * v for v in values), len(values))
    assert est.value is not None and est.ci_low is not None and est.ci_high is not None
    tol = 1e-6 * (1 + max(abs(v) for v in values))
    assert est.ci_low - tol <= est.value <= est.ci_high + tol


@given(n=st.integers(min_value=1, max_value=1_000_000), q=st.sampled_from([0.5, 0.8, 0.9]))
def test_quantile_ranks_are_ordered_and_in_range(n: int, q: float) -> None:
    point, low, high = stats.quantile_ranks(n, q)
    assert 1 <= low <= point <= high <= n


def test_effective_n_of_equal_weights_is_n() -> None:
    assert stats.effective_n(10.0, 10.0) == 10.0
    assert stats.effective_n(1 + 2 + 0.5, 1 + 4 + 0.25) < 3  # unequal weights cost precision


def test_compare_detects_a_real_change_and_not_noise() -> None:
    before = stats.wilson(500, 1000)
    after = stats.wilson(600, 1000)
    real = stats.compare(after, before)
    assert real.change is not None and math.isclose(real.change, 0.1)
    assert real.p_value is not None and real.p_value < 0.001 and real.significant
    noise = stats.compare(stats.wilson(51, 100), stats.wilson(50, 100))
    assert noise.significant is False
    assert stats.compare(stats.EMPTY, before) == stats.Comparison(None, None)


def test_compare_does_not_call_tiny_samples_certain() -> None:
    # 2 of 2 against 0 of 1: Fisher's exact test gives p = 0.33
    share = stats.compare(stats.wilson(2, 2), stats.wilson(0, 1))
    assert share.p_value is not None and share.p_value > 0.05
    score = stats.compare(stats.nps(2, 0, 2), stats.nps(0, 1, 1))
    assert score.p_value is not None and score.p_value > 0.05
