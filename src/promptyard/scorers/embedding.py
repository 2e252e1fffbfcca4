"""The `similar` assertion, as promptfoo's assertions/similar.ts and matchers/similarity.ts.

The output and the value are embedded and compared; the threshold defaults to 0.75.
- `similar` / `similar:cosine`: cosine similarity >= threshold; score = similarity.
- `similar:dot`: dot product >= threshold; score = the dot product.
- `similar:euclidean`: distance <= threshold (a maximum distance); score = 1 / (1 + distance).
- `not-` forms pass when the test fails; score = 1 - score.
- A list value passes if the output is similar to ANY item (the first that passes is reported;
  none passing: the best score and "None of the provided values met the similarity
  threshold"). `not-similar` with a list passes only when the output is dissimilar to EVERY
  item (the first too-similar item fails it; else the closest one is reported).
As in promptfoo, scores are not clamped (a negative cosine gives a negative score).

Unlike promptfoo, which embeds the output again for every item, one embed call carries the
output and every distinct reference, so a list value costs one request.
"""

from __future__ import annotations

import math
import sys
from decimal import ROUND_HALF_UP, Decimal

from promptyard.core.types import GradingResult
from promptyard.providers.base import Embedder, Embeddings
from promptyard.scorers.base import CheckInput
from promptyard.scorers.values import js_number

DEFAULT_THRESHOLD = 0.75
# Assertion type suffix -> promptfoo's metric name.
METRICS = {"cosine": "cosine", "dot": "dot_product", "euclidean": "euclidean"}
_EPSILON = sys.float_info.epsilon  # JavaScript's Number.EPSILON
_NONE_MET = "None of the provided values met the similarity threshold"


def cosine_similarity(a: list[float], b: list[float]) -> float:
    """Cosine of the angle between a and b; 0.0 when either is a zero vector."""
    _same_length(a, b)
    norm_a = math.sqrt(_sum_products(a, a))
    norm_b = math.sqrt(_sum_products(b, b))
    if norm_a == 0.0 or norm_b == 0.0:
        return 0.0
    return _sum_products(a, b) / (norm_a * norm_b)


def dot_product(a: list[float], b: list[float]) -> float:
    _same_length(a, b)
    return _sum_products(a, b)


def euclidean_distance(a: list[float], b: list[float]) -> float:
    _same_length(a, b)
    total = 0.0
    for x, y in zip(a, b, strict=True):
        total += (x - y) * (x - y)
    return math.sqrt(total)


def similarity_metric(assertion_type: str) -> str:
    """The metric an assertion type names: similar[:cosine] / :dot / :euclidean, not- or not."""
    _, sep, suffix = assertion_type.removeprefix("not-").partition(":")
    if not sep:
        return "cosine"
    metric = METRICS.get(suffix)
    if metric is None:
        raise ValueError(f"Unknown similarity metric: {suffix}")
    return metric


def judge(value: float, threshold: float, inverse: bool, metric: str) -> tuple[bool, float, str]:
    """(pass, score, reason) for one similarity (or, for euclidean, distance) value."""
    limit = js_number(float(threshold))
    shown = to_fixed(value, 2)
    if metric == "euclidean":  # a distance: lower is closer, the threshold is a maximum
        passed = value >= threshold - _EPSILON if inverse else value <= threshold + _EPSILON
        normalized = 1.0 / (1.0 + value)
        score = 1.0 - normalized if inverse else normalized
        within = f"Distance {shown} is less than or equal to threshold {limit}"
        beyond = f"Distance {shown} is greater than threshold {limit}"
        if passed:
            return passed, score, beyond if inverse else within
        return passed, score, within if inverse else beyond
    passed = value <= threshold + _EPSILON if inverse else value >= threshold - _EPSILON
    score = 1.0 - value if inverse else value
    at_least = f"Similarity {shown} is greater than or equal to threshold {limit}"
    less = f"Similarity {shown} is less than threshold {limit}"
    if passed:
        return passed, score, less if inverse else at_least
    return passed, score, at_least if inverse else less


def to_fixed(value: float, digits: int) -> str:
    """JavaScript's Number.prototype.toFixed (ties away from zero on the exact binary value)."""
    if not math.isfinite(value):
        return js_number(value)
    if value == 0.0:
        value = 0.0  # (-0).toFixed(2) is "0.00"
    exact = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{exact:.{digits}f}"


def references(inp: CheckInput) -> list[str]:
    """The value as a list of texts; ValueError with promptfoo's message when it is not one."""
    value = inp.value
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("Similarity assertion type must have a string or array of strings value")
    if not value:
        raise ValueError("Similarity assertion must have at least one value to compare against")
    return list(value)


async def similar_verdict(inp: CheckInput, embedder: Embedder) -> tuple[GradingResult, Embeddings]:
    """The verdict on `similar` (any metric, any `not-` form) and the embed call's spend.

    The caller attaches `Embeddings.usage` / `.cost` to the result; `.vectors` holds the
    output's vector first, then one per distinct reference in order. Raises ValueError for a
    bad value or metric, and the embedder's ProviderError when the call fails.
    """
    refs = references(inp)
    metric = similarity_metric(inp.assertion.type)
    threshold = inp.assertion.threshold
    threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    texts = list(dict.fromkeys([inp.text, *refs]))  # one call, each distinct text once
    spend = await embedder.embed(texts)
    if len(spend.vectors) != len(texts):
        raise ValueError(
            f"{embedder.id} returned {len(spend.vectors)} embeddings for {len(texts)} texts"
        )
    by_text = dict(zip(texts, spend.vectors, strict=True))
    output = by_text[inp.text]
    verdicts = [
        judge(_measure(metric, by_text[ref], output), threshold, inp.inverse, metric)
        for ref in refs
    ]
    return _combine(inp, verdicts, is_list=isinstance(inp.value, list)), spend


async def check_similar(inp: CheckInput, embedder: Embedder) -> GradingResult:
    """similar_verdict without the spend, for callers that do not account for it."""
    result, _ = await similar_verdict(inp, embedder)
    return result


def _combine(
    inp: CheckInput, verdicts: list[tuple[bool, float, str]], *, is_list: bool
) -> GradingResult:
    if not is_list:
        passed, score, reason = verdicts[0]
        return inp.result(passed, reason, score=score)
    if inp.inverse:
        # Dissimilar to every item: the first too-similar item fails; else the closest one.
        closest = verdicts[0]
        for verdict in verdicts:
            if not verdict[0]:
                return inp.result(False, verdict[2], score=verdict[1])
            if verdict[1] < closest[1]:
                closest = verdict
        return inp.result(True, closest[2], score=closest[1])
    for verdict in verdicts:
        if verdict[0]:
            return inp.result(True, verdict[2], score=verdict[1])
    return inp.result(False, _NONE_MET, score=max(v[1] for v in verdicts))


def _measure(metric: str, expected: list[float], output: list[float]) -> float:
    if metric == "dot_product":
        return dot_product(expected, output)
    if metric == "euclidean":
        return euclidean_distance(expected, output)
    return cosine_similarity(expected, output)


def _sum_products(a: list[float], b: list[float]) -> float:
    # Left to right, as promptfoo's reduce does, so borderline scores round the same way.
    total = 0.0
    for x, y in zip(a, b, strict=True):
        total += x * y
    return total


def _same_length(a: list[float], b: list[float]) -> None:
    if len(a) != len(b):
        raise ValueError(f"Vectors must be of equal length ({len(a)} and {len(b)})")
