"""Intervals and paired tests against textbook values."""

from __future__ import annotations

import math
import random

import pytest

from promptyard.core.stats import (
    bootstrap_mean_interval,
    mcnemar,
    paired_bootstrap,
    wilson_interval,
)


def test_wilson_8_of_10_matches_the_textbook() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=5e-4)
    assert high == pytest.approx(0.9433, abs=5e-4)


def test_wilson_at_the_ends_is_exact_and_not_degenerate() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=5e-4)  # not (0, 0) as the Wald interval says
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert low == pytest.approx(1 - 0.2775, abs=5e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_widens_with_confidence_and_narrows_with_n() -> None:
    l95, h95 = wilson_interval(50, 100)
    l99, h99 = wilson_interval(50, 100, confidence=0.99)
    assert l99 < l95 < 0.5 < h95 < h99
    lbig, hbig = wilson_interval(5000, 10000)
    assert hbig - lbig < (h95 - l95) / 5


@pytest.mark.parametrize("bad", [(11, 10), (-1, 10), (1, -1)])
def test_wilson_rejects_impossible_counts(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        wilson_interval(*bad)


def test_mcnemar_exact_small_table() -> None:
    # b=10, c=2: two-sided exact binomial p = 2 * P(X <= 2 | n=12, 1/2) = 2 * 79 / 4096.
    result = mcnemar(10, 2)
    assert result.method == "exact"
    assert result.p_value == pytest.approx(0.0386, abs=1e-4)
    assert result.p_value == pytest.approx(2 * 79 / 4096)
    assert mcnemar(2, 10).p_value == result.p_value  # symmetric


def test_mcnemar_chi_square_large_table() -> None:
    # Wikipedia's example table: b=121, c=59. Corrected statistic (|121-59| - 1)^2 / 180.
    result = mcnemar(121, 59)
    assert result.method == "chi2"
    assert result.statistic == pytest.approx(61**2 / 180)
    assert result.statistic == pytest.approx(20.672, abs=1e-3)
    assert result.p_value == pytest.approx(5.45e-6, rel=0.01)


def test_mcnemar_switches_method_at_25_and_handles_no_flips() -> None:
    assert mcnemar(12, 12).method == "exact"
    assert mcnemar(13, 12).method == "chi2"
    assert mcnemar(0, 0).p_value == 1.0
    assert mcnemar(5, 5).p_value == 1.0
    # 6 vs 0: 2 / 64, the smallest all-one-way table that is significant at 0.05.
    assert mcnemar(0, 6).p_value == pytest.approx(2 / 64)
    assert mcnemar(0, 5).p_value == pytest.approx(2 / 32)


def test_bootstrap_is_reproducible_and_covers_the_mean() -> None:
    rng = random.Random(7)
    sample = [rng.gauss(3.0, 1.0) for _ in range(200)]
    first = bootstrap_mean_interval(sample, seed=0)
    assert bootstrap_mean_interval(sample, seed=0) == first
    assert bootstrap_mean_interval(sample, seed=1) != first
    mean = sum(sample) / len(sample)
    low, high = first
    assert low < mean < high
    assert low < 3.0 < high
    # Half-width near 1.96 * sd / sqrt(n) = 0.139.
    assert (high - low) / 2 == pytest.approx(1.96 / math.sqrt(200), rel=0.2)


def test_bootstrap_of_pass_fail_scores_agrees_with_wilson() -> None:
    # 70 of 100: the few-distinct-values path (multinomial counts).
    values = [1.0] * 70 + [0.0] * 30
    low, high = bootstrap_mean_interval(values)
    wl, wh = wilson_interval(70, 100)
    assert low == pytest.approx(wl, abs=0.03)
    assert high == pytest.approx(wh, abs=0.03)


def test_bootstrap_edges() -> None:
    assert bootstrap_mean_interval([0.5]) == (0.5, 0.5)
    assert all(math.isnan(x) for x in bootstrap_mean_interval([]))
    with pytest.raises(ValueError):
        bootstrap_mean_interval([1.0], confidence=1.5)


def test_paired_bootstrap_detects_a_shift_and_not_noise() -> None:
    rng = random.Random(3)
    shifted = [0.2 + rng.gauss(0, 0.3) for _ in range(100)]
    result = paired_bootstrap(shifted, resamples=2000, seed=0)
    assert result.mean_diff == pytest.approx(sum(shifted) / 100)
    assert 0 < result.low < result.mean_diff < result.high
    assert result.p_value < 0.01
    assert paired_bootstrap(shifted, resamples=2000, seed=0) == result

    noise = [x - result.mean_diff for x in shifted]  # mean exactly 0
    null = paired_bootstrap(noise, resamples=2000, seed=0)
    assert null.low < 0 < null.high
    assert null.p_value > 0.5


def test_paired_bootstrap_constant_differences() -> None:
    assert paired_bootstrap([0.0, 0.0, 0.0]).p_value == 1.0
    const = paired_bootstrap([0.5, 0.5])
    assert (const.mean_diff, const.low, const.high) == (0.5, 0.5, 0.5)
    assert math.isnan(paired_bootstrap([]).mean_diff)
