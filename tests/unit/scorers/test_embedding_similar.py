"""`similar` with promptfoo's rules: maths, reason texts, list values, not-, metrics.

The embedder here is a test double for the embeddings *vendor* (fixed vectors per text); the
real embedders are proven in tests/integration/test_embeddings_http.py and
test_local_embeddings.py.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from tests.unit.scorers.helpers import make_ctx

from promptyard.core.types import Assertion, TokenUsage
from promptyard.providers.base import Embedder, Embeddings
from promptyard.scorers.base import CheckInput
from promptyard.scorers.embedding import (
    check_similar,
    cosine_similarity,
    dot_product,
    euclidean_distance,
    similar_verdict,
    similarity_metric,
    to_fixed,
)


class FixedVectors:
    """Embeds each text to the vector the test gave it; records every call."""

    id = "fixed:vectors"

    def __init__(self, vectors: dict[str, list[float]], cost: float | None = 0.5) -> None:
        self.vectors = vectors
        self.cost = cost
        self.calls: list[list[str]] = []

    async def embed(self, texts: list[str]) -> Embeddings:
        self.calls.append(list(texts))
        n = len(texts)
        return Embeddings(
            [self.vectors[t] for t in texts], TokenUsage(prompt=n, total=n), self.cost
        )

    def cache_identity(self) -> dict[str, Any]:
        return {"id": self.id}

    async def aclose(self) -> None:
        return None


def unit(angle_deg: float) -> list[float]:
    """A unit vector at `angle_deg` from [1, 0]: its cosine with [1, 0] is cos(angle)."""
    a = math.radians(angle_deg)
    return [math.cos(a), math.sin(a)]


def angle_for(cos: float) -> float:
    return math.degrees(math.acos(cos))


def inp(type_: str, value: Any, output: str = "out", threshold: float | None = None) -> CheckInput:
    assertion = Assertion(type=type_, value=value, threshold=threshold, where="t.yaml: assert[0]")
    return CheckInput(
        assertion=assertion,
        value=value,
        output=output,
        text=output,
        inverse=type_.startswith("not-"),
        ctx=make_ctx(output, [assertion]),
    )


# -- maths ---------------------------------------------------------------------------------


def test_cosine_similarity() -> None:
    assert cosine_similarity([1.0, 0.0], [1.0, 0.0]) == pytest.approx(1.0)
    assert cosine_similarity([1.0, 0.0], [0.0, 2.0]) == pytest.approx(0.0)
    assert cosine_similarity([1.0, 0.0], [-3.0, 0.0]) == pytest.approx(-1.0)
    assert cosine_similarity([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)  # scale-free
    assert cosine_similarity([1.0, 1.0], [1.0, 0.0]) == pytest.approx(1 / math.sqrt(2))
    assert cosine_similarity([0.0, 0.0], [1.0, 2.0]) == 0.0
    assert cosine_similarity([], []) == 0.0


def test_length_mismatch_is_a_value_error() -> None:
    for fn in (cosine_similarity, dot_product, euclidean_distance):
        with pytest.raises(ValueError, match="equal length"):
            fn([1.0, 2.0], [1.0])


def test_dot_and_euclidean() -> None:
    assert dot_product([1.0, 2.0], [3.0, 4.0]) == pytest.approx(11.0)
    assert euclidean_distance([0.0, 0.0], [3.0, 4.0]) == pytest.approx(5.0)


def test_to_fixed_rounds_like_javascript() -> None:
    assert to_fixed(0.125, 2) == "0.13"  # an exact tie: JS rounds up, Python's format to even
    assert to_fixed(0.8, 2) == "0.80"
    assert to_fixed(1.005, 2) == "1.00"  # 1.00499999999999989... in binary, as in JS
    assert to_fixed(-0.0, 2) == "0.00"
    assert to_fixed(-0.125, 2) == "-0.13"


def test_metric_from_the_assertion_type() -> None:
    assert similarity_metric("similar") == "cosine"
    assert similarity_metric("not-similar") == "cosine"
    assert similarity_metric("similar:cosine") == "cosine"
    assert similarity_metric("similar:dot") == "dot_product"
    assert similarity_metric("not-similar:euclidean") == "euclidean"
    with pytest.raises(ValueError, match="Unknown similarity metric: manhattan"):
        similarity_metric("similar:manhattan")


# -- one reference -------------------------------------------------------------------------


async def test_default_threshold_and_promptfoo_reasons() -> None:
    close = FixedVectors({"out": [1.0, 0.0], "ref": unit(angle_for(0.8))})
    result, spend = await similar_verdict(inp("similar", "ref"), close)
    assert result.passed and result.score == pytest.approx(0.8)
    assert result.reason == "Similarity 0.80 is greater than or equal to threshold 0.75"
    assert spend.usage.total == 2 and spend.cost == 0.5
    assert close.calls == [["out", "ref"]]  # the output and the value in ONE call

    far = FixedVectors({"out": [1.0, 0.0], "ref": unit(angle_for(0.5))})
    result = await check_similar(inp("similar", "ref"), far)
    assert not result.passed and result.score == pytest.approx(0.5)
    assert result.reason == "Similarity 0.50 is less than threshold 0.75"


async def test_threshold_is_inclusive_and_printed_as_javascript_does() -> None:
    vecs = FixedVectors({"out": [1.0, 0.0], "ref": unit(angle_for(0.9))})
    at = await check_similar(inp("similar", "ref", threshold=0.9), vecs)
    assert at.passed  # equal within Number.EPSILON counts
    assert at.reason == "Similarity 0.90 is greater than or equal to threshold 0.9"
    one = await check_similar(inp("similar", "ref", threshold=1), vecs)
    assert not one.passed and one.reason == "Similarity 0.90 is less than threshold 1"


async def test_not_similar_flips_pass_and_score() -> None:
    far = FixedVectors({"out": [1.0, 0.0], "ref": unit(angle_for(0.3))})
    result = await check_similar(inp("not-similar", "ref"), far)
    assert result.passed and result.score == pytest.approx(0.7)
    assert result.reason == "Similarity 0.30 is less than threshold 0.75"
    close = FixedVectors({"out": [1.0, 0.0], "ref": unit(angle_for(0.95))})
    result = await check_similar(inp("not-similar", "ref"), close)
    assert not result.passed and result.score == pytest.approx(0.05)
    assert result.reason == "Similarity 0.95 is greater than or equal to threshold 0.75"


async def test_identical_texts_are_embedded_once() -> None:
    vecs = FixedVectors({"same": [0.3, 0.4]})
    result = await check_similar(inp("similar", "same", output="same"), vecs)
    assert result.passed and result.score == pytest.approx(1.0)
    assert vecs.calls == [["same"]]


async def test_zero_vector_output_scores_zero() -> None:
    vecs = FixedVectors({"": [0.0, 0.0], "ref": [1.0, 0.0]})
    result = await check_similar(inp("similar", "ref", output=""), vecs)
    assert not result.passed and result.score == 0.0


# -- list values ---------------------------------------------------------------------------


async def test_list_passes_on_the_first_reference_that_passes() -> None:
    vecs = FixedVectors(
        {
            "out": [1.0, 0.0],
            "a": unit(angle_for(0.2)),
            "b": unit(angle_for(0.8)),
            "c": unit(angle_for(0.99)),
        }
    )
    result, spend = await similar_verdict(inp("similar", ["a", "b", "c"]), vecs)
    assert result.passed and result.score == pytest.approx(0.8)  # b, the first to pass
    assert result.reason == "Similarity 0.80 is greater than or equal to threshold 0.75"
    assert vecs.calls == [["out", "a", "b", "c"]]
    assert spend.usage.prompt == 4


async def test_list_none_passing_reports_the_best_score() -> None:
    vecs = FixedVectors({"out": [1.0, 0.0], "a": unit(angle_for(0.2)), "b": unit(angle_for(0.6))})
    result = await check_similar(inp("similar", ["a", "b"]), vecs)
    assert not result.passed and result.score == pytest.approx(0.6)
    assert result.reason == "None of the provided values met the similarity threshold"


async def test_not_similar_list_must_be_dissimilar_to_every_reference() -> None:
    vecs = FixedVectors(
        {
            "out": [1.0, 0.0],
            "a": unit(angle_for(0.1)),
            "b": unit(angle_for(0.9)),
            "c": unit(angle_for(0.5)),
        }
    )
    fails = await check_similar(inp("not-similar", ["a", "b", "c"]), vecs)
    assert not fails.passed and fails.score == pytest.approx(0.1)  # b: 1 - 0.9
    assert fails.reason == "Similarity 0.90 is greater than or equal to threshold 0.75"
    passes = await check_similar(inp("not-similar", ["a", "c"]), vecs)
    # Both clear the threshold; the closest (lowest inverse score) is reported: c.
    assert passes.passed and passes.score == pytest.approx(0.5)
    assert passes.reason == "Similarity 0.50 is less than threshold 0.75"


@pytest.mark.parametrize("value", [None, 3, {"a": 1}, ["ok", 2]])
async def test_value_must_be_text_or_texts(value: Any) -> None:
    with pytest.raises(ValueError, match="string or array of strings"):
        await check_similar(inp("similar", value), FixedVectors({}))


async def test_empty_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        await check_similar(inp("similar", []), FixedVectors({}))


# -- other metrics -------------------------------------------------------------------------


async def test_dot_metric() -> None:
    vecs = FixedVectors({"out": [1.0, 1.0], "ref": [0.5, 0.5]})
    result = await check_similar(inp("similar:dot", "ref", threshold=0.9), vecs)
    assert result.passed and result.score == pytest.approx(1.0)
    assert result.reason == "Similarity 1.00 is greater than or equal to threshold 0.9"


async def test_euclidean_threshold_is_a_maximum_distance() -> None:
    vecs = FixedVectors({"out": [0.0, 0.0], "near": [0.3, 0.4], "far": [3.0, 4.0]})
    near = await check_similar(inp("similar:euclidean", "near"), vecs)
    assert near.passed and near.score == pytest.approx(1 / 1.5)
    assert near.reason == "Distance 0.50 is less than or equal to threshold 0.75"
    far = await check_similar(inp("similar:euclidean", "far"), vecs)
    assert not far.passed and far.score == pytest.approx(1 / 6)
    assert far.reason == "Distance 5.00 is greater than threshold 0.75"
    inv = await check_similar(inp("not-similar:euclidean", "far"), vecs)
    assert inv.passed and inv.score == pytest.approx(1 - 1 / 6)
    assert inv.reason == "Distance 5.00 is greater than threshold 0.75"


async def test_unknown_metric_fails_before_any_call() -> None:
    vecs = FixedVectors({})
    with pytest.raises(ValueError, match="Unknown similarity metric"):
        await check_similar(inp("similar:jaccard", "ref"), vecs)
    assert vecs.calls == []


def test_the_double_is_an_embedder() -> None:
    assert isinstance(FixedVectors({}), Embedder)
