"""max-score: among a case's outputs (one per prompt x provider), the one whose other
assertions scored highest passes; the others fail (promptfoo's max-score, no model call).

value: {method: average (default) | sum, weights: {assertion type: weight} (default 1 each),
threshold: the winning score must reach it, else no output is selected}. Ties go to the first
output. Each output's score is taken from its own graded assertions, excluding select-best and
max-score.
"""

from __future__ import annotations

from typing import Any

from promptyard.core.types import Assertion, GradingResult
from promptyard.errors import ConfigError

MAX_SCORE = "max-score"
_METHODS = ("average", "sum")
_EXCLUDED = ("select-best", MAX_SCORE)


def options(value: Any) -> tuple[str, dict[str, float], float | None]:
    """(method, weights, threshold) from the assertion's value; ConfigError when malformed."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError("max-score value must be a mapping {method, weights, threshold}")
    unknown = set(value) - {"method", "weights", "threshold"}
    if unknown:
        raise ConfigError(f"max-score value: unknown key(s) {', '.join(sorted(unknown))}")
    method = value.get("method", "average")
    if method not in _METHODS:
        raise ConfigError(f"max-score method must be average or sum, got {method!r}")
    weights = value.get("weights") or {}
    if not isinstance(weights, dict) or not all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights.values()
    ):
        raise ConfigError("max-score weights must map assertion types to numbers >= 0")
    threshold = value.get("threshold")
    if threshold is not None and (
        not isinstance(threshold, (int, float)) or isinstance(threshold, bool)
    ):
        raise ConfigError("max-score threshold must be a number")
    return str(method), {str(k): float(v) for k, v in weights.items()}, threshold


def aggregate(components: list[GradingResult], method: str, weights: dict[str, float]) -> float:
    total = weight_sum = 0.0
    for result in components:
        kind = result.assertion.type if result.assertion is not None else ""
        if kind in _EXCLUDED or kind.removeprefix("not-") in _EXCLUDED:
            continue
        weight = weights.get(kind, weights.get(kind.removeprefix("not-"), 1.0))
        total += weight * result.score
        weight_sum += weight
    if method == "sum":
        return total
    return total / weight_sum if weight_sum else 0.0


def select(assertion: Assertion, components: list[list[GradingResult]]) -> list[GradingResult]:
    """One verdict per output, in order."""
    method, weights, threshold = options(assertion.value)
    if assertion.threshold is not None and threshold is None:
        threshold = assertion.threshold
    if not any(
        r.assertion is not None and r.assertion.type not in _EXCLUDED
        for results in components
        for r in results
    ):
        raise ConfigError("max-score needs at least one other assertion to score the outputs")
    scores = [aggregate(results, method, weights) for results in components]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    best_score = scores[best]
    chosen = None if threshold is not None and best_score < threshold else best
    verdicts = []
    for i, score in enumerate(scores):
        if i == chosen:
            reason = f"Selected as highest scoring output (score: {score:.3f})"
            verdicts.append(GradingResult(True, 1.0, reason, assertion=assertion))
        elif chosen is None:
            reason = (
                f"No output met the threshold {threshold:g} (best score: {best_score:.3f}; "
                f"this output: {score:.3f})"
            )
            verdicts.append(GradingResult(False, 0.0, reason, assertion=assertion))
        else:
            reason = f"Not selected (score: {score:.3f}, max: {best_score:.3f})"
            verdicts.append(GradingResult(False, 0.0, reason, assertion=assertion))
    return verdicts
