"""The `classifier` assertion, as promptfoo's assertions/classifier.ts and matchesClassification.

The output is classified by the assertion's `provider`, else the test's `options.provider`
(huggingface:text-classification:MODEL; promptfoo has no default). The score is the class's
(`value`; unset: the highest of any class, 0 for none); it passes when the score is at least
the threshold (default 1). `not-classifier` flips the verdict and scores 1 - score. Results are
kept in the judge's response cache.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from promptyard.core.hashing import content_hash
from promptyard.core.types import Assertion, GradingResult
from promptyard.errors import ConfigError
from promptyard.scorers.embedding import to_fixed
from promptyard.scorers.values import js_number

if TYPE_CHECKING:
    from promptyard.providers.classification import Classifier
    from promptyard.scorers.judge_base import JudgeCache

DEFAULT_THRESHOLD = 1.0
_EPSILON = sys.float_info.epsilon


def classifier_ref(assertion: Assertion, options: dict[str, Any]) -> Any:
    return assertion.provider if assertion.provider is not None else options.get("provider")


def expected_class(value: Any, where: str = "") -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    raise ConfigError(
        "a classifier assertion's value is the name of one class (e.g. nothate)",
        field=where or None,
    )


async def grade_classifier(
    classifier: Classifier,
    cache: JudgeCache | None,
    assertion: Assertion,
    value: Any,
    text: str,
    inverse: bool,
) -> GradingResult:
    expected = expected_class(value, assertion.where)
    threshold = assertion.threshold if assertion.threshold is not None else DEFAULT_THRESHOLD
    scores = await _scores(classifier, cache, text)
    if expected is None:
        score = max(scores.values()) if scores else 0.0
    else:
        score = scores.get(expected) or 0.0
    passed = score >= threshold - _EPSILON
    op = ">=" if passed else "<"
    shown = "undefined" if expected is None else expected
    reason = f"Classification {shown} has score {to_fixed(score, 2)} {op} {js_number(threshold)}"
    if inverse:
        passed, score = not passed, 1.0 - score
    return GradingResult(
        passed,
        score,
        reason,
        assertion,
        metadata={"classification": {"model": classifier.id, "scores": scores}},
    )


async def _scores(classifier: Classifier, cache: JudgeCache | None, text: str) -> dict[str, float]:
    key = None
    if cache is not None:
        key = content_hash({"classify": classifier.cache_identity(), "input": text}, size=20)
        hit = await cache.get(key)
        if hit is not None and isinstance(hit.get("scores"), dict):
            return {str(k): float(v) for k, v in hit["scores"].items()}
    scores = await classifier.classify(text)
    if key is not None and cache is not None:
        await cache.put(key, {"scores": scores})
    return scores
