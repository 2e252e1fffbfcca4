"""rouge-n, bleu, gleu, meteor: numbers worked out by hand from promptfoo's formulas."""

from __future__ import annotations

import math

import pytest
from tests.unit.scorers.helpers import grade_one

from promptyard.scorers.similarity import bleu, gleu, meteor, rouge_n, treebank_tokenize


def test_treebank_tokenize_splits_punctuation_and_clitics() -> None:
    assert treebank_tokenize("Hello, world.") == ["Hello", ",", "world", "."]
    tokens = treebank_tokenize("It's John's (cat)!")
    assert tokens == ["It", "'s", "John", "'s", "(", "cat", ")", "!"]
    assert treebank_tokenize("don't stop") == ["do", "n't", "stop"]
    assert treebank_tokenize("   ") == []


@pytest.mark.parametrize(
    ("candidate", "reference", "expected"),
    [
        # js-rouge's ROUGE-N is the F1 of the shared unigrams, ignoring case (promptfoo)
        ("the cat sat", "the cat sat on the mat", 2 / 3),  # P 1, R 1/2
        ("the cat sat on the mat", "the cat sat", 2 / 3),
        ("Hello world", "Hello, world.", 2 / 3),  # punctuation tokens count in the reference
        ("the the the", "the cat", 0.4),  # clipped: "the" matches once; P 1/3, R 1/2
        ("The Cat", "the cat", 1.0),  # case-insensitive
        ("dog", "cat", 0.0),
    ],
)
def test_rouge_n_values(candidate: str, reference: str, expected: float) -> None:
    assert rouge_n(candidate, reference) == pytest.approx(expected)


async def test_rouge_n_threshold_and_inverse() -> None:
    result = await grade_one("rouge-n", "the cat sat on the mat", "the cat sat")
    assert not result.passed  # 0.667 < default 0.75
    assert result.score == pytest.approx(2 / 3)
    lower = await grade_one("rouge-n", "the cat sat on the mat", "the cat sat", threshold=0.5)
    assert lower.passed
    inv = await grade_one("not-rouge-n", "the cat sat on the mat", "the cat sat")
    assert inv.passed and inv.score == pytest.approx(1 / 3)  # 1 - 2/3
    empty = await grade_one("rouge-n", "the cat", "")
    assert not empty.passed and empty.score == 0.0


def test_bleu_values() -> None:
    assert bleu("the cat sat on the mat", ["the cat sat on the mat"]) == pytest.approx(1.0)
    # 1- and 2-gram precision 1, no 3-/4-grams (smoothed to 1e-7). promptfoo's brevity penalty
    # is exp(1 - candidate/reference) (not the textbook reference/candidate), kept for parity.
    expected = math.exp(1 - 2 / 3) * math.exp(0.5 * math.log(1e-7))
    assert bleu("the cat", ["the cat sat"]) == pytest.approx(expected)
    # Case-insensitive; the best reference wins per n-gram order.
    assert bleu("The Cat Sat On The Mat", ["a dog", "the cat sat on the mat"]) == pytest.approx(1.0)
    assert bleu("", ["x"]) == 0.0


async def test_bleu_assertion() -> None:
    ok = await grade_one("bleu", ["the cat sat on the mat"], "the cat sat on the mat")
    assert ok.passed and ok.score == pytest.approx(1.0)
    bad = await grade_one("bleu", "the cat sat on the mat", "a dog ran")
    assert not bad.passed and "BLEU score" in bad.reason
    inv = await grade_one("not-bleu", "the cat sat on the mat", "a dog ran")
    assert inv.passed and inv.score == pytest.approx(1.0, abs=1e-3)


def test_gleu_values() -> None:
    # candidate n-grams 3+2+1, reference 4+3+2+1, all 6 candidate n-grams match.
    assert gleu("the cat sat", ["the cat sat on"]) == pytest.approx(0.6)
    assert gleu("The cat sat.", ["the cat sat"]) == pytest.approx(1.0)  # trailing dots dropped
    assert gleu("x", ["the cat sat on", "x"]) == pytest.approx(1.0)
    assert gleu("   ", ["x"]) == 0.0


async def test_gleu_assertion_threshold() -> None:
    assert (await grade_one("gleu", "the cat sat on", "the cat sat")).passed  # 0.6 >= 0.5
    assert not (await grade_one("gleu", "the cat sat on", "the cat sat", threshold=0.7)).passed


def test_meteor_values() -> None:
    # 3 exact matches in one chunk: fmean 1, penalty 0.5 * (1/3)^3.
    assert meteor("the cat sat", ["the cat sat"]) == pytest.approx(1 - 0.5 / 27)
    # Porter stems match: cats/cat, running/runs -> one chunk of 2, penalty 0.5 * (1/2)^3.
    assert meteor("cats running", ["cat runs"]) == pytest.approx(1 - 0.5 / 8)
    assert meteor("dog", ["cat"]) == 0.0


async def test_meteor_assertion_and_config() -> None:
    ok = await grade_one("meteor", "the cat sat on the mat", "the cat sat on the mat")
    assert ok.passed
    strict = await grade_one("meteor", "the cat sat", "the cat sat", config={"gamma": 0.0})
    assert strict.score == pytest.approx(1.0)  # no fragmentation penalty
    assert (await grade_one("not-meteor", "the cat", "a dog")).passed


async def test_reference_value_must_be_text() -> None:
    result = await grade_one("bleu", {"a": 1}, "x")
    assert not result.passed and result.error is not None
