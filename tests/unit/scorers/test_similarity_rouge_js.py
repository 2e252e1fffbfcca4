"""rouge-n gives promptfoo's numbers: js-rouge's `n(output, value, {caseSensitive: false})`,
the F1 of clipped unigram matches over Penn Treebank tokens of each sentence, lower-cased."""

from __future__ import annotations

import pytest
from tests.unit.scorers.helpers import grade_one

from promptyard.scorers.similarity import rouge_n, sentence_segment, treebank_tokenize


@pytest.mark.parametrize(
    ("output", "value", "score"),
    [
        # promptfoo's documented figures (issue: "0.833 ... and 1.0"): "the" matches twice.
        ("the cat sat on the mat", "the cat is on the mat", 5 / 6),
        ("the cat sat on the mat", "The Cat Sat On The Mat", 1.0),
        # F1, not recall: P = 3/3, R = 3/6
        ("the cat sat", "the cat sat on the mat", 2 / 3),
        # repeats are clipped to the other side's count
        ("the the the", "the cat", 0.4),
        ("no overlap", "at all", 0.0),
    ],
)
def test_rouge_n_matches_js_rouge(output: str, value: str, score: float) -> None:
    assert rouge_n(output, value) == pytest.approx(score)


async def test_documented_verdicts_and_reasons() -> None:
    r = await grade_one("rouge-n", "the cat is on the mat", "the cat sat on the mat")
    assert r.passed and r.score == pytest.approx(5 / 6)
    assert r.reason == "ROUGE-N score 0.83 is greater than or equal to threshold 0.75"
    r = await grade_one("rouge-n", "The Cat Sat On The Mat", "the cat sat on the mat")
    assert r.passed and r.score == 1.0
    r = await grade_one("rouge-n", "a b c d e f g h", "a b c d e x y z", threshold=0.7)
    assert not r.passed
    assert r.reason == "ROUGE-N score 0.63 is less than threshold 0.7"  # toFixed: 0.625 up


def test_sentences_split_their_own_final_periods() -> None:
    # Each sentence is tokenized on its own, so "world." inside a text splits like at its end.
    assert sentence_segment("Hello world. This is Mr. Smith. He paid $3.50!") == [
        "Hello world.",
        "This is Mr. Smith.",
        "He paid $3.50!",
    ]
    assert rouge_n("Hello world. Bye now.", "hello world bye now") == pytest.approx(0.8)
    assert sentence_segment("Albert I. Jones left... Then came back.") == [
        "Albert I. Jones left... Then came back."
    ]
    assert sentence_segment("- one.\n- two") == ["- one.", "- two"]
    # a number starts a sentence, except after an abbreviation or before a percentage
    assert sentence_segment("We met on Jan. 5 at noon. It grew 5. 20% more. 3 left.") == [
        "We met on Jan. 5 at noon.",
        "It grew 5. 20% more.",
        "3 left.",
    ]


def test_treebank_quotes_acronyms_and_contractions() -> None:
    assert treebank_tokenize('He said "hi" to me.') == [
        "He",
        "said",
        "``",
        "hi",
        "''",
        "to",
        "me",
        ".",
    ]
    assert treebank_tokenize("I live in the U.S.") == ["I", "live", "in", "the", "U.S."]
    assert treebank_tokenize("I cannot, gonna try") == ["I", "can", "not", ",", "gon", "na", "try"]
