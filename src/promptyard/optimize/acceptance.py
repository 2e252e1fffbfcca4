"""Is the candidate better than the incumbent beyond noise?

The optimizer sees many candidates, so a gain that could be luck must not replace the
incumbent: the comparison is paired on the same held-out cases (which removes the case-to-case
spread) and a candidate is accepted only when the whole interval, or McNemar's test, says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Literal

from promptyard.core.stats import mcnemar, paired_bootstrap

Metric = Literal["score", "pass"]
MIN_PAIRED = 2  # one case has no spread: its "interval" would be a point
_SAME = 1e-12  # per-case differences this small are rounding, not change


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict and the numbers behind it; `reason` says it in words."""

    accepted: bool
    metric: str
    mean_diff: float  # candidate - incumbent; nan with no paired case
    interval: tuple[float, float]  # (1 - alpha) paired bootstrap interval of mean_diff
    confidence: float  # 1 - alpha
    p_value: float | None  # McNemar's (metric "pass"), else None
    n_paired: int
    improved: int
    regressed: int
    unchanged: int
    unpaired: int  # ids in only one of the two maps, ignored
    excluded: int  # ids left out because they are in `exclude` (flaky)
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "metric": self.metric,
            "mean_diff": self.mean_diff,
            "interval": list(self.interval),
            "confidence": self.confidence,
            "p_value": self.p_value,
            "n_paired": self.n_paired,
            "improved": self.improved,
            "regressed": self.regressed,
            "unchanged": self.unchanged,
            "unpaired": self.unpaired,
            "excluded": self.excluded,
            "reason": self.reason,
        }


def _verdicts(values: Sequence[float], case: str) -> list[int]:
    out = []
    for value in values:
        if value not in (0, 1):
            raise ValueError(f"pass values must be 0 or 1, got {value!r} for case {case}")
        out.append(int(value))
    return out


def _per_case(values: Sequence[float], metric: Metric, case: str) -> float:
    """One number per case: the mean score, or the majority verdict (a tie is a fail)."""
    if not values:
        raise ValueError(f"case {case} has no samples")
    if metric == "pass":
        passes = sum(_verdicts(values, case))
        return 1.0 if 2 * passes > len(values) else 0.0
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"scores must be finite numbers, got {list(values)!r} for case {case}")
    return math.fsum(values) / len(values)


def _check(metric: str, alpha: float) -> None:
    if metric not in ("score", "pass"):
        raise ValueError(f"metric must be 'score' or 'pass', got {metric!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")


def decide(
    incumbent: Mapping[str, Sequence[float]],
    candidate: Mapping[str, Sequence[float]],
    *,
    metric: Metric = "score",
    alpha: float = 0.05,
    min_improvement: float = 0.0,
    resamples: int = 2000,
    seed: int = 0,
    exclude: AbstractSet[str] = frozenset(),
) -> Decision:
    """Compare per-case samples (case id -> values) paired on the ids both maps share."""
    _check(metric, alpha)
    ids_a, ids_b = set(incumbent), set(candidate)
    paired = sorted((ids_a & ids_b) - exclude)  # sorted: the bootstrap must not see dict order
    unpaired = len((ids_a ^ ids_b) - exclude)
    excluded = len((ids_a | ids_b) & exclude)
    diffs = [
        _per_case(candidate[cid], metric, cid) - _per_case(incumbent[cid], metric, cid)
        for cid in paired
    ]
    improved = sum(d > _SAME for d in diffs)
    regressed = sum(d < -_SAME for d in diffs)
    boot = paired_bootstrap(diffs, resamples=resamples, seed=seed, confidence=1.0 - alpha)
    p_value = mcnemar(improved, regressed).p_value if metric == "pass" else None

    accepted, why = _verdict(
        len(diffs), boot.mean_diff, boot.low, improved, regressed, p_value, alpha, min_improvement
    )
    numbers = _numbers(
        boot.mean_diff, (boot.low, boot.high), 1.0 - alpha, p_value, improved, regressed
    )
    where = f"on {len(diffs)} paired case{'s' if len(diffs) != 1 else ''}"
    extra = [f"{n} {what}" for n, what in ((unpaired, "unpaired"), (excluded, "flaky excluded"))]
    extra = [text for text in extra if not text.startswith("0 ")]
    if extra:
        where += f" ({', '.join(extra)})"
    head = "accepted" if accepted else "rejected"
    reason = f"{head}: {numbers} {where}" + ("" if accepted else f"; {why}")
    return Decision(
        accepted=accepted,
        metric=metric,
        mean_diff=boot.mean_diff,
        interval=(boot.low, boot.high),
        confidence=1.0 - alpha,
        p_value=p_value,
        n_paired=len(diffs),
        improved=improved,
        regressed=regressed,
        unchanged=len(diffs) - improved - regressed,
        unpaired=unpaired,
        excluded=excluded,
        reason=reason,
    )


def _verdict(
    n: int,
    mean_diff: float,
    low: float,
    improved: int,
    regressed: int,
    p_value: float | None,
    alpha: float,
    min_improvement: float,
) -> tuple[bool, str]:
    """(accepted, why not) following docs/optimize.md's rule for each metric."""
    if n < MIN_PAIRED:
        return False, f"need at least {MIN_PAIRED} paired cases to tell a gain from noise"
    if p_value is None:  # metric "score"
        if low > min_improvement:
            return True, ""
        return False, f"the lower bound {low:.3f} is not above {min_improvement:g}"
    if improved <= regressed:
        return False, f"{improved} improved, not more than {regressed} regressed"
    if p_value >= alpha:
        return False, f"McNemar p={p_value:.4f} is not below {alpha:g}"
    if mean_diff <= min_improvement:
        return False, f"the gain {mean_diff:+.3f} is not above {min_improvement:g}"
    return True, ""


def _numbers(
    mean_diff: float,
    interval: tuple[float, float],
    confidence: float,
    p_value: float | None,
    improved: int,
    regressed: int,
) -> str:
    level = f"{round(confidence * 100.0, 6):g}%"
    text = f"{mean_diff:+.3f} ({level} CI {interval[0]:.3f}..{interval[1]:.3f})"
    if p_value is not None:
        text += f", McNemar p={p_value:.4f} ({improved} improved, {regressed} regressed)"
    return text


def flaky(samples: Mapping[str, Sequence[float]], *, threshold: float) -> set[str]:
    """Cases whose pass verdicts (0/1) across repeated samples disagree too often.

    The share of the minority verdict is compared with `threshold` (0 flags any
    disagreement); a case with fewer than two samples cannot disagree, so it is never flaky.
    """
    if not 0.0 <= threshold <= 0.5:
        raise ValueError(f"threshold is a minority share, between 0 and 0.5; got {threshold}")
    found = set()
    for cid, values in samples.items():
        verdicts = _verdicts(values, cid)
        if len(verdicts) < 2:
            continue
        passes = sum(verdicts)
        if min(passes, len(verdicts) - passes) / len(verdicts) > threshold:
            found.add(cid)
    return found
