"""is-html, contains-html (promptfoo's: a parse that finds element tags) and the `not-` form on
every type where it means something (levenshtein, perplexity, finish-reason)."""

from __future__ import annotations

import pytest
from tests.unit.scorers.helpers import grade_one

from promptyard.core.types import Assertion, Completion
from promptyard.errors import ConfigError
from promptyard.scorers import Grader, assertion_types


@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ("<div><p>Hello</p></div>", True),
        ("  <!DOCTYPE html><html><body><h1>Hi</h1></body></html>\n", True),
        ("<p>one</p><p>two</p>", True),
        ("<br/>", True),
        ("Here is HTML: <p>hi</p>", False),  # text outside the elements
        ("<p>hi</p> and more", False),
        ("<foo><bar>x</bar></foo>", False),  # XML-ish, no HTML element
        ('<?xml version="1.0"?><p>x</p>', False),
        ("just text", False),
        ("", False),
        ("<3 and >", False),
    ],
)
async def test_is_html(output: str, passed: bool) -> None:
    assert (await grade_one("is-html", None, output)).passed is passed
    assert (await grade_one("not-is-html", None, output)).passed is (not passed)


@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ("Sure! <b>bold</b> text", True),
        ("Use <br> for a break", True),
        ("<!DOCTYPE html>", True),
        ("a < b and c > d", False),
        ("<foo>not html</foo>", False),
        ("plain", False),
    ],
)
async def test_contains_html(output: str, passed: bool) -> None:
    assert (await grade_one("contains-html", None, output)).passed is passed
    assert (await grade_one("not-contains-html", None, output)).passed is (not passed)


async def test_not_levenshtein_flips_the_verdict() -> None:
    near = await grade_one("levenshtein", "hello", "hallo")
    assert near.passed
    not_near = await grade_one("not-levenshtein", "hello", "hallo")
    assert (not_near.passed, not_near.score) == (False, 0.0)
    far = await grade_one("not-levenshtein", "hello", "a completely different text")
    assert (far.passed, far.score) == (True, 1.0)


async def test_not_finish_reason_and_perplexity() -> None:
    completion = Completion(output="x", finish_reason="stop", logprobs=[-0.1, -0.2])
    assert not (await grade_one("not-finish-reason", "stop", "x", completion=completion)).passed
    assert (await grade_one("not-finish-reason", "length", "x", completion=completion)).passed
    low = await grade_one("not-perplexity", None, "x", threshold=1.5, completion=completion)
    assert not low.passed  # perplexity ~1.16 is within 1.5, so not-perplexity fails
    score = await grade_one("not-perplexity-score", None, "x", threshold=0.9, completion=completion)
    assert score.passed and score.score == pytest.approx(1 - 1 / (1 + 1.1618), abs=1e-3)


def test_not_is_refused_only_where_it_means_nothing() -> None:
    refused = {t.name for t in assertion_types() if not t.negatable}
    assert refused <= {"assert-set", "select-best", "max-score"}
    with pytest.raises(ConfigError, match="not- form is not supported"):
        Grader().validate(Assertion(type="not-select-best", value="x", where="t"))
