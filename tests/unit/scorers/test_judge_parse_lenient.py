"""Judge replies are read as leniently as promptfoo reads them (extractJsonObjects: the first
slice from a `{` that parses as YAML, `//` comments turned into `#`), so a judge that answers
in near-JSON passes here as it passes there."""

from __future__ import annotations

import pytest

from promptyard.scorers.judge_parse import (
    JudgeParseError,
    first_json_object,
    read_rubric,
    read_score,
    read_steps,
    slash_comments_to_hash,
)

FENCED = """Here is my verdict:
```json
{
  "reason": "The answer is concise", // why it passes
  "pass": true,
  "score": 0.9,
}
```"""


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"reason": "ok", "pass": true, "score": 1}', {"reason": "ok", "pass": True, "score": 1}),
        (FENCED, {"reason": "The answer is concise", "pass": True, "score": 0.9}),
        (  # unquoted keys and values
            "{reason: The output greets the user, pass: true, score: 1}",
            {"reason": "The output greets the user", "pass": True, "score": 1},
        ),
        ("{'pass': false, 'score': 0.2}", {"pass": False, "score": 0.2}),  # single quotes
        ('{"pass": true, # fine\n "score": 1}', {"pass": True, "score": 1}),  # hash comment
        ('{"pass": true, "score": 1,}', {"pass": True, "score": 1}),  # trailing comma
        ("Verdict {bad: [} then {pass: false}", {"pass": False}),  # first that parses
        ('{"reason": "a } inside", "pass": true}', {"reason": "a } inside", "pass": True}),
        ('{"reason": "see http://x.y", "pass": true}', {"reason": "see http://x.y", "pass": True}),
        ('{"a": {"b": 1}, "pass": true}', {"a": {"b": 1}, "pass": True}),
    ],
)
def test_near_json_replies_are_read(reply: str, expected: dict[str, object]) -> None:
    assert first_json_object(reply) == expected


def test_yes_stays_a_string_as_in_js_yaml() -> None:
    # js-yaml reads YAML 1.2: `yes` is a string (PyYAML's YAML 1.1 would make it true); the
    # rubric reader then counts "yes" as a pass, as promptfoo does.
    assert first_json_object("{pass: yes, score: 1}") == {"pass": "yes", "score": 1}
    assert read_rubric("{pass: yes}", None).passed
    assert not read_rubric("{pass: no}", None).passed


@pytest.mark.parametrize("reply", ["no object here", "{ unclosed", "{a: &x [1], b: *x}", "[1, 2]"])
def test_replies_without_a_mapping_still_fail(reply: str) -> None:
    with pytest.raises(JudgeParseError):
        first_json_object(reply)


def test_readers_accept_near_json() -> None:
    verdict = read_rubric("{reason: 'Matches the rubric', pass: true, score: 0.8,}", 0.5)
    assert (verdict.passed, verdict.score, verdict.reason) == (True, 0.8, "Matches the rubric")
    assert read_steps("{steps: [Read the answer, Check the facts]}") == [
        "Read the answer",
        "Check the facts",
    ]
    assert read_score("```\n{score: 7, reason: mostly right}\n```", 10) == (7.0, "mostly right")


def test_slash_comments_to_hash_respects_quotes_and_apostrophes() -> None:
    assert slash_comments_to_hash('{"a": 1} // note') == '{"a": 1} # note'
    assert slash_comments_to_hash('{"u": "http://x"}') == '{"u": "http://x"}'
    assert slash_comments_to_hash("{a: 'it''s //x'}") == "{a: 'it''s //x'}"
    assert slash_comments_to_hash("{r: don't // c}") == "{r: don't # c}"
    assert slash_comments_to_hash("x //// y\nz") == "x ## y\nz"


def test_a_long_reply_of_braces_stays_fast() -> None:
    import time

    reply = "{" * 5000 + "}" * 10 + " no mapping"
    start = time.perf_counter()
    with pytest.raises(JudgeParseError):
        first_json_object(reply)
    assert time.perf_counter() - start < 2.0
