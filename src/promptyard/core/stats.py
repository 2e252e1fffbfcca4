"""Small, pure statistics: percentiles, confidence intervals and paired tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of already sorted values; None if empty."""
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    frac = rank - low
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * frac)


# -- intervals and paired tests ----------------------------------------------------------------
# numpy is imported inside the functions that need it: `promptyard --help` and the engine's
# start-up must not pay for it.


@dataclass(frozen=True, slots=True)
class McNemarResult:
    """McNemar's test on the discordant pairs: b (A fails, B passes) and c (A passes, B fails)."""

    b: int
    c: int
    statistic: float  # min(b, c) for the exact test; the corrected chi-square otherwise
    p_value: float  # two-sided
    method: str  # "exact" (binomial, b + c < 25) or "chi2" (1 df, continuity-corrected)

    def to_dict(self) -> dict[str, Any]:
        return {
            "b": self.b,
            "c": self.c,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "method": self.method,
        }


EXACT_BELOW = 25  # b + c under this uses the exact binomial test, as textbooks advise


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n is 0."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    z = _z(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    # At 0/n and n/n the bound is exactly 0 or 1; the formula leaves rounding noise there.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def mcnemar(b: int, c: int) -> McNemarResult:
    """McNemar's test: exact two-sided binomial when b + c < 25, else chi-square (1 df) with
    the continuity correction. b + c == 0 has nothing to test: p = 1."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n < EXACT_BELOW:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
        return McNemarResult(b, c, float(k), min(1.0, 2.0 * tail), "exact")
    stat = (abs(b - c) - 1.0) ** 2 / n
    # The chi-square (1 df) survival function is erfc(sqrt(x / 2)): no scipy needed.
    return McNemarResult(b, c, stat, math.erfc(math.sqrt(stat / 2.0)), "chi2")


def _percentile_interval(means: Any, confidence: float) -> tuple[float, float]:
    import numpy as np

    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return (float(low), float(high))


def bootstrap_means(values: Sequence[float], resamples: int, seed: int) -> Any:
    """`resamples` means of samples drawn with replacement from `values` (a numpy array).

    Few distinct values (pass/fail scores, a handful of assertions) are resampled as
    multinomial counts, which has the same distribution as drawing indices and costs
    O(resamples x distinct) whatever the sample size; otherwise indices are drawn in chunks
    so memory stays bounded.
    """
    import numpy as np

    data = np.asarray(values, dtype=float)
    n = data.size
    rng = np.random.default_rng(seed)
    distinct, counts = np.unique(data, return_counts=True)
    if distinct.size <= 64:
        draws = rng.multinomial(n, counts / n, size=resamples)
        return np.asarray(draws @ distinct / n, dtype=float)
    means = np.empty(resamples)
    rows = max(1, 1_000_000 // n)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = data[idx].mean(axis=1)
    return means


def bootstrap_mean_interval(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean; reproducible for a given seed.

    Empty input gives (nan, nan); a single value gives (value, value).
    """
    _z(confidence)  # validate
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if len(values) == 0:
        return (math.nan, math.nan)
    return _percentile_interval(bootstrap_means(values, resamples, seed), confidence)


@dataclass(frozen=True, slots=True)
class PairedBootstrap:
    mean_diff: float
    low: float
    high: float
    p_value: float  # two-sided, for "the mean difference is 0"

    def to_dict(self) -> dict[str, float]:
        return {
            "mean_diff": self.mean_diff,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
        }


def paired_bootstrap(
    diffs: Sequence[float], resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> PairedBootstrap:
    """Bootstrap of paired differences (B - A): the mean, its percentile interval, and a
    two-sided p-value from the bootstrap distribution shifted to mean 0 (the null):
    p = (1 + #{|mean* - mean| >= |mean|}) / (1 + resamples)."""
    import numpy as np

    _z(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if len(diffs) == 0:
        return PairedBootstrap(math.nan, math.nan, math.nan, 1.0)
    data = np.asarray(diffs, dtype=float)
    mean = float(data.mean())
    if np.all(data == data[0]):
        # No spread: every resample has the same mean; differences of 0 say nothing.
        return PairedBootstrap(mean, mean, mean, 1.0 if mean == 0.0 else 0.0)
    means = bootstrap_means(diffs, resamples, seed)
    low, high = _percentile_interval(means, confidence)
    extreme = int(np.count_nonzero(np.abs(means - mean) >= abs(mean) - 1e-12))
    return PairedBootstrap(mean, low, high, min(1.0, (1 + extreme) / (1 + resamples)))
