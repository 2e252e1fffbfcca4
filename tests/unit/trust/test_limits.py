"""trust/limits.py: stored text capped with a marker that says so, and nesting measured without
recursion, naming the path."""

from __future__ import annotations

import json

import pytest

from promptyard.core.types import Completion, GradingResult, TrialResult
from promptyard.trust.limits import (
    TRUNCATED,
    cap_completion,
    cap_text,
    cap_trial,
    data_depth_path,
    json_depth_path,
)
from promptyard.trust.policy import Limits


def test_cap_text_keeps_the_start_and_says_why() -> None:
    assert cap_text("short", 10, "S") == "short"
    capped = cap_text("x" * 5000, 1000, "PROMPTYARD_MAX_OUTPUT_CHARS")
    assert len(capped) == 1000
    assert capped.startswith("x" * 100)
    assert TRUNCATED in capped and "5000 characters" in capped
    assert "PROMPTYARD_MAX_OUTPUT_CHARS" in capped


def test_cap_completion_and_cap_trial() -> None:
    limits = Limits(max_output_chars=1000, max_reason_chars=200, max_stored_value_chars=2000)
    c = cap_completion(
        Completion(output="o" * 10_000, raw={"big": "r" * 10_000}), limits, json.dumps
    )
    assert len(c.output) == 1000 and TRUNCATED in c.output
    assert isinstance(c.raw, str) and len(c.raw) == 2000  # the raw body's JSON, cut
    small = Completion(output="fine", raw={"id": 1})
    assert cap_completion(small, limits, json.dumps).raw == {"id": 1}

    inner = GradingResult(passed=False, score=0.0, reason="because " * 1000)
    t = TrialResult(
        run_id="r", index=0, case_index=0, case_id="c", prompt_id="p", prompt_label="p",
        provider_id="echo", provider_label="echo", sample=0, description="d" * 5000,
        vars={"q": "v"}, prompt="p" * 5000, output={"k": "v" * 5000}, error="e" * 5000,
        grading=GradingResult(passed=False, score=0.0, reason="r" * 500,
                              component_results=[inner]),
    )  # fmt: skip
    cap_trial(t, limits, json.dumps)
    assert isinstance(t.output, str) and len(t.output) == 1000  # a structure's JSON, cut
    assert t.grading is not None and len(t.grading.reason) == 200
    assert len(t.grading.component_results[0].reason) == 200
    assert t.error is not None and len(t.error) == 2000
    assert len(t.prompt) == 2000 and t.description is not None and len(t.description) == 2000


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_json_depth_path_names_the_first_value_too_deep(depth: int) -> None:
    text = '{"config": {"tests": [{"vars": {"x": ' + "[" * depth + "]" * depth + "}}]}}"
    path = json_depth_path(text, 64)
    assert path is not None
    assert path.startswith("config.tests[0].vars.x[0]")
    assert path.count("[0]") == 1 + 64 - 5  # config..x are 5 levels: 59 more lists, then one


def test_json_depth_path_passes_what_fits_and_ignores_strings() -> None:
    assert json_depth_path('{"a": [1, 2, {"b": 3}]}', 3) is None
    assert json_depth_path('{"a": [1, 2, {"b": 3}]}', 2) == "a[2]"
    assert json_depth_path(json.dumps({"s": "[[[[[[", "k": ['"]]]', "x"]}), 2) is None
    keyed = '{"a": {"b\\"c": {"d": [1, [2, [3]]]}}}'
    assert json_depth_path(keyed, 4) == 'a.b"c.d[1]'


def test_data_depth_path_is_iterative() -> None:
    value: object = 1
    for _ in range(100_000):
        value = [value]
    assert data_depth_path(value, 64, root="rows") == "rows" + "[0]" * 64
    assert data_depth_path({"a": {"b": [1]}}, 3) is None
