"""String checks: equals, contains family, starts-with, regex, levenshtein, word-count, refusal."""

from __future__ import annotations

import pytest
from tests.unit.scorers.helpers import grade_one

# ---------------------------------------------------------------- equals


@pytest.mark.parametrize(
    ("value", "output", "passed"),
    [
        ("Hello", "Hello", True),
        ("Hello", "hello", False),  # case-sensitive
        ("Hello", "Hello ", False),  # no trimming
        ("", "", True),
        (42, "42", True),  # numbers compare as their string
        (1.5, "1.5", True),
        (3.0, "3", True),  # JavaScript prints 3.0 as 3
        ({"a": 1, "b": [1, 2]}, '{"b": [1, 2], "a": 1}', True),  # JSON deep equality
        ({"a": 1}, '{"a": 2}', False),
        ({"a": 1}, "not json", False),
        ([1, 2], "[1,2]", True),
        ("café", "cafe\u0301", False),  # no Unicode normalization, as promptfoo by default
    ],
)
async def test_equals(value: object, output: str, passed: bool) -> None:
    result = await grade_one("equals", value, output)
    assert result.passed is passed
    assert result.score == (1.0 if passed else 0.0)


async def test_equals_stringifies_object_output() -> None:
    # promptfoo compares a non-string output by its JSON text.
    assert (await grade_one("equals", '{"a":1}', {"a": 1})).passed
    assert (await grade_one("equals", {"a": 1}, {"a": 1})).passed


async def test_not_equals_passes_on_non_json_output_for_object_value() -> None:
    assert (await grade_one("not-equals", {"a": 1}, "plain text")).passed
    result = await grade_one("not-equals", "same", "same")
    assert not result.passed
    assert 'to not equal "same"' in result.reason


# ---------------------------------------------------------------- contains


@pytest.mark.parametrize(
    ("type_", "value", "output", "passed"),
    [
        ("contains", "World", "Hello World", True),
        ("contains", "world", "Hello World", False),
        ("icontains", "world", "Hello World", True),
        ("icontains", "WORLD", "hello world", True),
        ("contains", 42, "The answer is 42.", True),  # numeric value
        ("contains", "42", "The answer is 4 2", False),
        ("contains", "Straße", "Die Straße ist lang", True),
        ("contains", "straße", "Die Straße ist lang", False),  # contains is case-sensitive
        ("icontains", "STRASSE", "Die Straße ist lang", False),  # toLowerCase keeps ß
        ("icontains", "straße", "DIE STRASSE", False),
        ("icontains", "CAFÉ", "un café noir", True),  # accented capitals fold
        ("icontains", "cafe", "un café noir", False),  # accents are not stripped
        ("icontains", "İstanbul", "i̇stanbul'da", True),  # İ folds to i + combining dot
        ("icontains", "ΣΟΦΙΑ", "σοφια", True),
        ("contains", "😀", "smile 😀!", True),
        ("contains", "x", "", False),  # empty output
        ("not-contains", "x", "", True),
        ("not-contains", "World", "Hello World", False),
        ("not-icontains", "WORLD", "Hello World", False),
        ("not-icontains", "mars", "Hello World", True),
    ],
)
async def test_contains(type_: str, value: object, output: str, passed: bool) -> None:
    result = await grade_one(type_, value, output)
    assert result.passed is passed, result.reason


async def test_contains_on_none_and_object_outputs() -> None:
    # None has no text; objects are searched in their JSON text as promptfoo does.
    assert not (await grade_one("contains", "a", None)).passed
    assert (await grade_one("contains", '"k":"v"', {"k": "v"})).passed
    assert (await grade_one("contains", "3", [1, 2, 3])).passed


async def test_contains_reasons_on_pass_and_fail() -> None:
    ok = await grade_one("contains", "World", "Hello World")
    assert "World" in ok.reason
    bad = await grade_one("contains", "Mars", "Hello World")
    assert bad.reason == 'Expected output to contain "Mars"'
    inv = await grade_one("not-contains", "World", "Hello World")
    assert inv.reason == 'Expected output to not contain "World"'


@pytest.mark.parametrize(
    ("type_", "value", "output", "passed"),
    [
        ("contains-any", "red, green, blue", "I like green", True),
        ("contains-any", ["red", "green"], "I like blue", False),
        ("contains-any", "red,,  ,green", "green!", True),  # repeated commas ignored
        ("contains-any", '"a, b", c', "x a, b y", True),  # a quoted field keeps its comma
        ("contains-any", '"a, b", c', "a b", False),
        ("contains-any", [1, 2], "route 2", True),  # numbers in lists
        ("contains-all", "red, green", "red and green", True),
        ("contains-all", "red, green", "red only", False),
        ("contains-all", ["Red", "green"], "red and green", False),
        ("icontains-any", "RED, Blue", "blue sky", True),
        ("icontains-all", "RED, GREEN", "red and green", True),
        ("icontains-all", "STRASSE, CAFÉ", "straße café", False),  # toLowerCase keeps ß
        ("not-contains-any", "red, green", "blue", True),
        ("not-contains-any", "red, green", "red", False),
        ("not-contains-all", "red, green", "red only", True),
        ("not-contains-all", "red, green", "red green", False),
        ("not-icontains-any", "RED", "red", False),
        ("not-icontains-all", "RED, BLUE", "red", True),
    ],
)
async def test_contains_any_all(type_: str, value: object, output: str, passed: bool) -> None:
    result = await grade_one(type_, value, output)
    assert result.passed is passed, result.reason


async def test_contains_all_reason_lists_missing() -> None:
    result = await grade_one("contains-all", "a, b, c", "only b here")
    assert result.reason == "Expected output to contain all of [a, b, c]. Missing: [a, c]"


async def test_contains_any_with_template_rendered_value() -> None:
    result = await grade_one(
        "contains-any", "{{ colour }}, pink", "so green", vars={"colour": "green"}
    )
    assert result.passed


# ---------------------------------------------------------------- starts-with


@pytest.mark.parametrize(
    ("type_", "value", "output", "passed"),
    [
        ("starts-with", "Hello", "Hello World", True),
        ("starts-with", "hello", "Hello World", False),
        ("starts-with", "Hello", " Hello", False),
        ("starts-with", "Ünï", "Ünïcode", True),
        ("not-starts-with", "Hello", "Hello World", False),
        ("not-starts-with", "World", "Hello World", True),
    ],
)
async def test_starts_with(type_: str, value: str, output: str, passed: bool) -> None:
    assert (await grade_one(type_, value, output)).passed is passed


# ---------------------------------------------------------------- regex


@pytest.mark.parametrize(
    ("value", "output", "passed"),
    [
        (r"\d{3}-\d{4}", "call 555-1234 now", True),  # unanchored search
        (r"^\d+$", "123", True),
        (r"^\d+$", "123a", False),
        ("hello", "HELLO", False),  # no flags: case-sensitive
        ("(?i)hello", "HELLO", True),  # inline flag
        ("a.b", "a\nb", False),  # `.` does not cross newlines, as in JavaScript
        ("(?s)a.b", "a\nb", True),
        ("^second", "first\nsecond", False),  # no multiline by default
        ("(?m)^second", "first\nsecond", True),
        (r"(?<year>\d{4})-\k<year>", "2024-2024", True),  # JavaScript named groups
        (r"(?<=\$)\d+", "costs $42", True),  # lookbehind still works
        ("ß", "Straße", True),
    ],
)
async def test_regex(value: str, output: str, passed: bool) -> None:
    assert (await grade_one("regex", value, output)).passed is passed


async def test_regex_not_and_invalid() -> None:
    assert (await grade_one("not-regex", r"\d", "no digits")).passed
    assert not (await grade_one("not-regex", r"\d", "d1")).passed
    bad = await grade_one("regex", "([a-z", "abc")
    assert not bad.passed
    assert bad.reason.startswith("Invalid regex pattern")


# ---------------------------------------------------------------- levenshtein


@pytest.mark.parametrize(
    ("value", "output", "threshold", "passed"),
    [
        ("kitten", "sitting", None, True),  # distance 3 <= default 5
        ("abcdefgh", "zyxwvuts", None, False),  # distance 8
        ("kitten", "sitting", 2, False),
        ("kitten", "sitting", 3, True),
        ("kitten", "kitten", 0, True),  # 0 counts as unset (promptfoo's `|| 5`)
        ("straße", "strasse", None, True),  # distance 2, on code points
    ],
)
async def test_levenshtein(value: str, output: str, threshold: float | None, passed: bool) -> None:
    result = await grade_one("levenshtein", value, output, threshold=threshold)
    assert result.passed is passed, result.reason
    assert "Levenshtein distance" in result.reason


# ---------------------------------------------------------------- word-count


@pytest.mark.parametrize(
    ("type_", "value", "output", "passed"),
    [
        ("word-count", 3, "one two three", True),
        ("word-count", "3", "  one\ttwo\nthree  ", True),  # numeric string, any whitespace
        ("word-count", 2, "one two three", False),
        ("word-count", 0, "", True),
        ("word-count", {"min": 2, "max": 4}, "a b c", True),
        ("word-count", {"min": 4}, "a b c", False),
        ("word-count", {"max": 3}, "a b c", True),
        ("not-word-count", 3, "a b c", False),
        ("not-word-count", {"min": 5}, "a b c", True),
    ],
)
async def test_word_count(type_: str, value: object, output: str, passed: bool) -> None:
    result = await grade_one(type_, value, output)
    assert result.passed is passed, result.reason


# ---------------------------------------------------------------- is-refusal


@pytest.mark.parametrize(
    ("output", "refusal"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I’m sorry, I cannot do that", True),  # curly apostrophe
        ("As an AI language model, I cannot provide that.", True),
        ("I cannot assist with that request.", True),
        ("", True),  # empty output counts as a refusal
        ("   ", True),
        ("Sure! Here is the recipe.", False),
        ("The capital of France is Paris.", False),
    ],
)
async def test_is_refusal(output: str, refusal: bool) -> None:
    assert (await grade_one("is-refusal", None, output)).passed is refusal
    assert (await grade_one("not-is-refusal", None, output)).passed is not refusal


async def test_is_refusal_non_text_output() -> None:
    result = await grade_one("is-refusal", None, None)
    assert result.passed and result.score == 0.0  # promptfoo: passes, but scores 0
    assert not (await grade_one("not-is-refusal", None, {"a": 1})).passed
