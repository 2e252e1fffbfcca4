"""max-score: the case's output whose other assertions scored highest passes (promptfoo)."""

from __future__ import annotations

from typing import Any

import pytest

from promptyard.core.types import Assertion, GradingContext, TestCase, TrialResult
from promptyard.errors import ConfigError
from promptyard.scorers import Grader, get_assertion_type


def trial(i: int, output: str) -> TrialResult:
    return TrialResult(run_id="r", index=i, case_index=0, case_id="c", prompt_id=f"p{i}",
                       prompt_label=f"p{i}", provider_id="echo", provider_label="echo", sample=0,
                       description=None, vars={}, prompt="q", output=output)  # fmt: skip


async def graded(test: TestCase, outputs: list[str]) -> list[TrialResult]:
    g = Grader()
    for a in test.assertions:
        g.validate(a)
    trials = [trial(i, out) for i, out in enumerate(outputs)]
    for t in trials:
        t.grading = await g.grade(GradingContext(t.output, "q", {}, test, "echo"))
        t.success, t.score = t.grading.passed, t.grading.score
    await g.compare(test, trials)
    return trials


def case(value: Any = None, **kw: Any) -> TestCase:
    return TestCase(vars={}, assertions=[
        Assertion(type="contains", value="a"),
        Assertion(type="contains", value="b"),
        Assertion(type="icontains", value="C"),
        Assertion(type="max-score", value=value, **kw),
    ])  # fmt: skip


async def test_the_highest_scoring_output_is_selected() -> None:
    trials = await graded(case(), ["a", "a b", "b"])
    assert [t.success for t in trials] == [False, False, False]  # none passes every contains
    verdicts = [t.grading.component_results[-1] for t in trials if t.grading]
    assert [v.passed for v in verdicts] == [False, True, False]
    assert "Selected as highest" in verdicts[1].reason
    assert "Not selected" in trials[0].grading.reason  # type: ignore[union-attr]
    trials = await graded(case(), ["a b c", "a b", "abc"])
    assert [t.success for t in trials] == [True, False, False]  # a tie goes to the first


async def test_weights_and_sum() -> None:
    value = {"weights": {"icontains": 5}, "method": "sum"}
    trials = await graded(case(value), ["a b", "c"])
    assert [t.success for t in trials] == [False, False]
    assert [t.grading.component_results[-1].passed for t in trials if t.grading] == [False, True]


async def test_threshold_selects_none_below_it() -> None:
    trials = await graded(case({"threshold": 0.9}), ["a", "b"])
    reasons = [t.grading.component_results[-1].reason for t in trials if t.grading]
    assert all("No output met the threshold" in r for r in reasons)


def test_bad_values_and_negation_are_load_errors() -> None:
    with pytest.raises(ConfigError, match="method"):
        Grader().validate(Assertion(type="max-score", value={"method": "median"}, where="t"))
    with pytest.raises(ConfigError, match="not- form"):
        Grader().validate(Assertion(type="not-max-score", where="t"))
    entry = get_assertion_type("max-score")
    assert entry is not None and not entry.needs_model
