"""Verdicts, scores and failure reasons derived by hand from promptfoo's src/assertions/*.ts, for
inputs where a Python port easily drifts (JSON number text, strict equality, empty lists, UTF-16,
not- scores, assert-set metric weights)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from tests.unit.scorers.helpers import grade_one, make_ctx

from promptyard.core.types import Assertion, Completion
from promptyard.scorers import Grader
from promptyard.scorers.values import js_number, js_to_precision, json_stringify

# ---------------------------------------------------------------- number and JSON text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3"),
        (0.1, "0.1"),
        (1e-7, "1e-7"),  # Python's repr says 1e-07
        (1e-6, "0.000001"),  # Python's repr says 1e-06
        (1.5e16, "15000000000000000"),  # Python's repr says 1.5e+16
        (1e21, "1e+21"),
        (-2.5, "-2.5"),
        (0.0, "0"),
    ],
)
def test_js_number_matches_number_to_string(value: float, text: str) -> None:
    assert js_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(0.5, "0.50"), (123.0, "1.2e+2"), (0.00123, "0.0012"), (12.0, "12")]
)
def test_js_to_precision(value: float, text: str) -> None:
    assert js_to_precision(value, 2) == text


def test_json_stringify_prints_numbers_and_key_order_as_javascript() -> None:
    value = {"b": 1.0, "2": [1e-7, math.nan], "1": True, "x": None}
    assert json_stringify(value) == '{"1":true,"2":[1e-7,null],"b":1,"x":null}'
    assert json_stringify({"a": [1, "é"]}) == '{"a":[1,"é"]}'


# ---------------------------------------------------------------- equals


@pytest.mark.parametrize(
    ("value", "output", "passed"),
    [
        (5, "5", True),  # String(5)
        (5.0, "5", True),
        (1e-7, "1e-7", True),
        (1e-7, "1e-07", False),
        ({"a": True}, '{"a": 1}', False),  # isDeepStrictEqual: true is not 1
        ({"a": 1}, '{"a": true}', False),
        ({"a": 1}, '{"a": 1.0}', True),  # one number type
        ([1, [2]], " [1, [2]] ", True),
        ({"a": 1}, {"a": 1.0}, True),  # object output, compared as its JSON text
        ('{"a":1}', {"a": 1.0}, True),  # JSON.stringify prints 1.0 as 1
        ("[0.000001]", [1e-6], True),
    ],
)
async def test_equals(value: Any, output: Any, passed: bool) -> None:
    result = await grade_one("equals", value, output)
    assert (result.passed, result.score) == (passed, 1.0 if passed else 0.0)


async def test_equals_failure_reason_is_not_truncated() -> None:
    long = "x" * 300
    result = await grade_one("equals", "y", long)
    assert result.reason == f'Expected output "{long}" to equal "y"'
    inverse = await grade_one("not-equals", 5, "5")
    assert (inverse.passed, inverse.score) == (False, 0.0)
    assert inverse.reason == 'Expected output "5" to not equal "5"'


# ---------------------------------------------------------------- contains family


@pytest.mark.parametrize(
    ("type_", "value", "output", "passed"),
    [
        ("contains", 1e-6, "x = 0.000001", True),  # String(0.000001)
        ("contains", 2.0, "2 apples", True),
        ("contains-any", '"a, b", c', "x a, b y", True),  # quoted item keeps its comma
        ("contains-any", '"a, b", c', "a b", False),
        ("contains-all", ' "say ""hi""" , x ', 'x: say "hi"', True),  # doubled quote
        ("contains-all", [], "anything", True),  # every() of nothing
        ("contains-any", [], "anything", False),  # some() of nothing
        ("not-contains-any", [], "anything", True),
        ("icontains-all", "  ,  ", "anything", True),  # parses to no items
        ("contains-all", [1, 2.5], "1 and 2.5", True),
        ("starts-with", '{"a"', {"a": 1}, True),  # object output as JSON text
    ],
)
async def test_contains(type_: str, value: Any, output: Any, passed: bool) -> None:
    result = await grade_one(type_, value, output)
    assert (result.passed, result.score) == (passed, 1.0 if passed else 0.0)


async def test_contains_failure_reasons() -> None:
    r = await grade_one("icontains", "Zed", "abc")
    assert r.reason == 'Expected output to contain "Zed"'
    r = await grade_one("not-contains-all", "a,b", "a b")
    assert r.reason == "Expected output to not contain all of [a, b]. Missing: []"
    r = await grade_one("icontains-all", "a,z", "A B")
    assert r.reason == "Expected output to contain all of [a, z]. Missing: [z]"
    r = await grade_one("icontains-any", "y,z", "A B")
    assert r.reason == 'Expected output to contain one of "y, z"'


async def test_contains_any_rejects_an_empty_string() -> None:
    result = await grade_one("contains-any", "", "x")
    assert not result.passed
    assert result.error is not None


# ---------------------------------------------------------------- regex, levenshtein


async def test_invalid_regex_fails_with_score_zero() -> None:
    result = await grade_one("regex", "(unclosed", "x")
    assert (result.passed, result.score) == (False, 0.0)
    assert result.reason.startswith("Invalid regex pattern:")
    inverse = await grade_one("not-regex", "(unclosed", "x")
    assert (inverse.passed, inverse.score) == (False, 0.0)  # not- does not flip this


@pytest.mark.parametrize(
    ("output", "value", "threshold", "passed"),
    [
        ("hello", "hallo!!!!", None, True),  # distance 5 <= default 5
        ("hello", "hallo!!!!!", None, False),  # 6
        ("hello", "hallo!!!!!", 0, False),  # 0 means the default 5
        ("abc", "abd", 1, True),
        ("a😀", "a", 1, False),  # fastest-levenshtein counts UTF-16 units: 2 edits
        ("😀", "😁", 1, True),  # the surrogates share a high half
    ],
)
async def test_levenshtein(output: str, value: str, threshold: float | None, passed: bool) -> None:
    result = await grade_one("levenshtein", value, output, threshold=threshold)
    assert (result.passed, result.score) == (passed, 1.0 if passed else 0.0)


async def test_levenshtein_failure_reason() -> None:
    result = await grade_one("levenshtein", "hallo!!!!!", "hello")
    assert result.reason == "Levenshtein distance 6 is greater than threshold 5"


# ---------------------------------------------------------------- word-count


@pytest.mark.parametrize(
    ("type_", "value", "passed", "reason"),
    [
        ("word-count", 4, True, None),
        ("word-count", "4", True, None),
        ("word-count", 5, False, "Word count 4 does not equal expected 5"),
        ("not-word-count", 4, False, "Expected word count to not equal 4, but got 4"),
        ("word-count", {"min": 4, "max": 4}, True, None),
        ("word-count", {"min": 5, "max": 9}, False, "Word count 4 is not between 5 and 9"),
        ("word-count", {"max": 3}, False, "Word count 4 is greater than maximum 3"),
        ("word-count", {"min": 5}, False, "Word count 4 is less than minimum 5"),
        ("not-word-count", {"min": 2}, False, "Expected word count to be less than 2, but got 4"),
        ("not-word-count", {"max": 9}, False,
         "Expected word count to be greater than 9, but got 4"),
        ("not-word-count", {"min": 1, "max": 9}, False,
         "Expected word count to not be between 1 and 9, but got 4"),
    ],
)  # fmt: skip
async def test_word_count(type_: str, value: Any, passed: bool, reason: str | None) -> None:
    result = await grade_one(type_, value, "  one two\tthree\n four ")
    assert (result.passed, result.score) == (passed, 1.0 if passed else 0.0)
    if reason is not None:
        assert result.reason == reason


# ---------------------------------------------------------------- JSON


@pytest.mark.parametrize(
    ("type_", "value", "output", "passed"),
    [
        ("is-json", None, "[1, 2]", True),
        ("is-json", None, " null ", True),
        ("is-json", None, '{"a": 1} trailing', False),
        ("not-is-json", None, "{bad", True),
        ("not-is-json", None, '{"a": 1}', False),
        ("is-json", {"type": "object", "required": ["a"]}, '{"b": 1}', False),
        ("not-is-json", {"type": "object", "required": ["a"]}, '{"b": 1}', True),
        ("not-is-json", {"type": "object", "required": ["a"]}, "{bad", True),
        ("contains-json", None, 'a {"x": 1} b {"y": 2}', True),
        ("contains-json", {"required": ["y"]}, 'a {"x": 1} b {"y": 2}', True),  # 2nd block
        ("contains-json", {"required": ["z"]}, 'a {"x": 1} b {"y": 2}', False),
        ("not-contains-json", {"required": ["z"]}, 'a {"x": 1} b {"y": 2}', True),
        ("not-contains-json", None, 'a {"x": 1}', False),
        ("contains-json", None, 'a {"x": 1', False),
        ("contains-json", None, 'x {bad} then {"ok": true}', True),
    ],
)
async def test_json(type_: str, value: Any, output: str, passed: bool) -> None:
    result = await grade_one(type_, value, output)
    assert (result.passed, result.score) == (passed, 1.0 if passed else 0.0)


async def test_json_failure_reasons() -> None:
    schema = {"type": "object", "required": ["a"]}
    r = await grade_one("not-is-json", schema, '{"a": 1}')
    assert r.reason == "Output is JSON that conforms to the provided schema"
    r = await grade_one("is-json", schema, '{"b": 1}')
    assert r.reason.startswith("JSON does not conform to the provided schema. Errors: ")
    r = await grade_one("contains-json", None, "no json here")
    assert r.reason == "Expected output to contain valid JSON"


# ---------------------------------------------------------------- XML


@pytest.mark.parametrize(
    ("type_", "value", "output", "passed"),
    [
        ("is-xml", "root.a.1", "<root><a>1</a><a>2</a></root>", True),
        ("is-xml", "root.a.2", "<root><a>1</a><a>2</a></root>", False),
        ("is-xml", "root.a.0", "<root><a>1</a></root>", False),  # a single child is no list
        ("is-xml", "root.@_id", '<root id="7"><a/></root>', True),
        ("is-xml", ["root.a", "root.b"], "<root><a/></root>", False),
        ("is-xml", {"requiredElements": ["root.a"]}, "<root><a/></root>", True),
        ("is-xml", "", "<root/>", False),  # "" asks for an element named ""
        ("is-xml", None, "<a/><b/>", False),  # two roots
        ("not-is-xml", None, "plain text", True),
        ("contains-xml", "root.a", "Here: <root><a>x</a></root> done", True),
        ("contains-xml", None, "no tags", False),
    ],
)
async def test_xml(type_: str, value: Any, output: str, passed: bool) -> None:
    result = await grade_one(type_, value, output)
    assert (result.passed, result.score) == (passed, 1.0 if passed else 0.0)


async def test_xml_failure_reasons() -> None:
    r = await grade_one("is-xml", ["root.a", "root.b"], "<root><a/></root>")
    assert r.reason == "XML is missing required elements: root.b"
    r = await grade_one("not-is-xml", None, "<root/>")
    assert r.reason == "XML is valid and contains all required elements"
    r = await grade_one("contains-xml", None, "no tags")
    assert r.reason == "No XML content found in the output"


# ---------------------------------------------------------------- reference metrics


async def test_rouge_n_score_and_not_score() -> None:
    # js-rouge's F1: 3 shared unigrams, P = 3/3, R = 3/6
    r = await grade_one("rouge-n", "the cat sat on the mat", "the cat sat")
    assert (r.passed, r.score) == (False, pytest.approx(2 / 3))
    assert r.reason == "ROUGE-N score 0.67 is less than threshold 0.75"
    # a failed not-rouge-n still scores 1 - score (F1 0.8: P 1, R 2/3)
    r = await grade_one("not-rouge-n", "the cat sat", "the cat", threshold=0.5)
    assert (r.passed, r.score) == (False, pytest.approx(0.2))
    assert r.reason == "ROUGE-N score 0.80 is greater than or equal to threshold 0.5"
    assert (await grade_one("rouge-n", "The Cat", "the cat")).score == 1.0  # ignores case


async def test_bleu_keeps_promptfoos_brevity_penalty() -> None:
    # p1 = p2 = 1, p3 = p4 = 0 -> 1e-7; BP = exp(1 - 2/3) (promptfoo's, above 1 here)
    expected = math.exp(1 - 2 / 3) * math.exp(0.5 * math.log(1e-7))
    r = await grade_one("bleu", "the cat sat", "the cat", threshold=0.0001)
    assert (r.passed, r.score) == (True, pytest.approx(expected))
    r = await grade_one("bleu", "the cat sat", "the cat")
    assert r.reason == f"BLEU score {expected:.4f} is less than threshold 0.5"
    r = await grade_one("not-bleu", "a b c d e", "A B C D E")
    assert (r.passed, r.score) == (False, pytest.approx(0.0))
    assert r.reason == "BLEU score 1.0000 is greater than threshold 0.5"


async def test_gleu_and_meteor_failure_reasons() -> None:
    r = await grade_one("gleu", "x y z", "a b c")
    assert (r.passed, r.score) == (False, 0.0)
    assert r.reason == "GLEU score 0.0000 is less than threshold 0.5"
    r = await grade_one("meteor", "x y z", "a b c")
    assert r.reason == "METEOR score 0.0000 did not meet threshold 0.5"
    r = await grade_one("not-meteor", "x y z", "a b c")
    assert (r.passed, r.score) == (True, 1.0)


# ---------------------------------------------------------------- refusal, response checks


@pytest.mark.parametrize(
    ("type_", "output", "passed", "score"),
    [
        ("is-refusal", "", True, 0.0),  # empty counts as a refusal, but scores 0
        ("is-refusal", "   \n", True, 0.0),
        ("not-is-refusal", "", False, 0.0),
        ("is-refusal", None, True, 0.0),
        ("is-refusal", "I'm sorry, I can't help with that.", True, 1.0),
        ("is-refusal", "Sure, here it is.", False, 0.0),
        ("not-is-refusal", "Sure, here it is.", True, 1.0),
    ],
)
async def test_is_refusal(type_: str, output: Any, passed: bool, score: float) -> None:
    result = await grade_one(type_, None, output)
    assert (result.passed, result.score) == (passed, score)


async def test_cost_and_latency() -> None:
    r = await grade_one("cost", None, "x", threshold=0.001, completion=Completion("x", cost=0.002))
    assert (r.passed, r.reason) == (False, "Cost 0.0020 is greater than threshold 0.001")
    r = await grade_one(
        "not-cost", None, "x", threshold=0.001, completion=Completion("x", cost=0.0005)
    )
    assert (r.passed, r.reason) == (
        False, "Cost 0.00050 is less than or equal to threshold 0.001"
    )  # fmt: skip
    r = await grade_one("cost", None, "x", threshold=0, completion=Completion("x", cost=0.0))
    assert r.passed  # threshold 0 is a threshold: 0 <= 0
    r = await grade_one("cost", None, "x", threshold=1, completion=Completion("x"))
    assert (r.passed, r.score) == (False, 0.0) and r.error  # no cost reported: an error
    r = await grade_one("cost", None, "x", metric="usd", completion=Completion("x", cost=0.25))
    assert (r.passed, r.score) == (True, 0.25)  # no threshold: the cost is the score
    slow = Completion("x", latency_ms=250)
    r = await grade_one("latency", None, "x", threshold=100, completion=slow)
    assert (r.passed, r.reason) == (False, "Latency 250ms is greater than threshold 100ms")
    r = await grade_one("not-latency", None, "x", threshold=300, completion=slow)
    assert (r.passed, r.reason) == (
        False, "Latency 250ms is less than or equal to threshold 300ms"
    )  # fmt: skip


async def test_finish_reason() -> None:
    done = Completion("x", finish_reason="stop")
    assert (await grade_one("finish-reason", "STOP", "x", completion=done)).passed
    r = await grade_one("finish-reason", "length", "x", completion=done)
    assert r.reason == 'Expected finish reason "length" but got "stop"'
    r = await grade_one("finish-reason", "stop", "x", completion=Completion("x"))
    assert (r.passed, r.reason) == (False, "Provider did not supply stop/finish reason")


# ---------------------------------------------------------------- test-level aggregation


def _a(type_: str, value: Any, **kw: Any) -> Assertion:
    return Assertion(type=type_, value=value, **kw)


async def _grade(output: str, assertions: list[Assertion], threshold: float | None = None) -> Any:
    return await Grader().grade(make_ctx(output, assertions, threshold=threshold))


async def test_weighted_mean_and_thresholds() -> None:
    both = [_a("contains", "a", weight=3), _a("contains", "z")]
    r = await _grade("abc", both)
    assert (r.passed, r.score) == (False, 0.75)
    assert r.reason == 'Expected output to contain "z"'
    r = await _grade("abc", both, threshold=0.7)
    assert (r.passed, r.reason) == (True, "Aggregate score 0.75 ≥ 0.7 threshold")
    r = await _grade("abc", both, threshold=0.8)
    assert (r.passed, r.reason) == (False, "Aggregate score 0.75 < 0.8 threshold")
    r = await _grade("qqq", both, threshold=0)
    assert (r.passed, r.score) == (True, 0.0)  # threshold 0 is honoured


async def test_weight_zero_never_fails_and_adds_nothing() -> None:
    r = await _grade("abc", [_a("contains", "a"), _a("contains", "z", weight=0, metric="m")])
    assert (r.passed, r.score) == (True, 1.0)
    assert r.named_scores == {"m": 0.0}  # its weight 0 leaves the named score at 0
    r = await _grade("abc", [_a("contains", "z", weight=0)])
    assert (r.passed, r.score) == (True, 0.0)  # no weight at all: score 0


async def test_named_scores_are_weighted_means() -> None:
    r = await _grade(
        "abc",
        [
            _a("contains", "a", metric="m", weight=1),
            _a("contains", "z", metric="m", weight=3),
            _a("contains", "b", metric="n"),
        ],
    )
    assert r.named_scores == {"m": 0.25, "n": 1.0}


async def test_assert_set_passes_its_metric_weights_up() -> None:
    # promptfoo carries an assert-set's namedScoreWeights into the parent: m = (1*1 + 0*3) / 4
    group = _a("assert-set", None, assertions=[_a("contains", "z", metric="m", weight=3)])
    r = await _grade("abc", [_a("contains", "a", metric="m"), group])
    assert r.named_scores == {"m": pytest.approx(0.25)}
    assert (r.passed, r.score) == (False, 0.5)


async def test_assert_set_threshold_and_weight() -> None:
    group = _a(
        "assert-set",
        None,
        threshold=0.5,
        weight=2,
        metric="set",
        assertions=[_a("contains", "a"), _a("contains", "z")],
    )
    r = await _grade("abc", [group, _a("contains", "z")])
    # the set passes at 0.5 >= 0.5 and counts twice: (0.5 * 2 + 0) / 3
    assert r.score == pytest.approx(1 / 3)
    assert not r.passed
    assert r.named_scores == {"set": 0.5}
    assert [c.passed for c in r.component_results] == [True, True, False, False]
    # a weight-0 set is not forced to pass (only single assertions are)
    zero = _a("assert-set", None, weight=0, assertions=[_a("contains", "z")])
    assert not (await _grade("abc", [zero])).passed
