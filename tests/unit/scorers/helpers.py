"""Builders for hand-made grading contexts (pure unit tests: no engine, no provider)."""

from __future__ import annotations

from typing import Any

from promptyard.core.types import Assertion, Completion, GradingContext, GradingResult, TestCase
from promptyard.scorers import Grader


def make_ctx(
    output: Any,
    assertions: list[Assertion] | None = None,
    *,
    vars: dict[str, Any] | None = None,
    threshold: float | None = None,
    completion: Completion | None = None,
    options: dict[str, Any] | None = None,
    base_dir: str = ".",
) -> GradingContext:
    test = TestCase(
        vars=vars or {},
        assertions=assertions or [],
        threshold=threshold,
        options=options or {},
        where="tests.yaml: tests[0]",
    )
    return GradingContext(
        output=output,
        prompt="the prompt",
        vars=test.vars,
        test=test,
        provider_id="echo",
        completion=completion,
        base_dir=base_dir,
    )


async def grade_one(
    type_: str, value: Any, output: Any, *, grader: Grader | None = None, **kwargs: Any
) -> GradingResult:
    """Grade one assertion and return its component result."""
    assertion = Assertion(
        type=type_,
        value=value,
        threshold=kwargs.pop("threshold", None),
        metric=kwargs.pop("metric", None),
        config=kwargs.pop("config", {}),
        where="tests.yaml: tests[0].assert[0]",
    )
    g = grader or Grader()
    result = await g.grade(make_ctx(output, [assertion], **kwargs))
    assert len(result.component_results) == 1
    component = result.component_results[0]
    assert component.assertion is assertion
    assert component.reason, "every result carries a reason"
    return component
