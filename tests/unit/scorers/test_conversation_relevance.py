"""conversation-relevance (promptfoo): each reply of the `_conversation` var (or this turn) is
judged relevant or not in a sliding window; the score is the relevant share."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.unit.scorers.helpers import make_ctx

from promptyard.core.types import Assertion, Completion, CompletionRequest, GradingResult
from promptyard.scorers import Grader
from promptyard.scorers.judge import Judge


class Model:
    id = "fake-judge"

    def __init__(self, verdicts: dict[str, str]) -> None:
        self.verdicts = verdicts  # last assistant reply -> "yes" / "no"
        self.requests: list[CompletionRequest] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        last = request.messages[-1]["content"].rsplit("Last assistant reply: ", 1)[1]
        verdict = self.verdicts.get(last.strip(), "yes")
        return Completion(output=json.dumps({"verdict": verdict, "reason": f"{verdict}!"}))

    def cache_identity(self) -> dict[str, Any]:
        return {"id": self.id}


class Models:
    def __init__(self, model: Model) -> None:
        self.model = model

    def chat(self, ref: Any) -> Model:
        return self.model

    def embedder(self, ref: Any) -> Any:
        raise AssertionError("no embeddings here")

    def check(self, ref: Any, kind: str, where: str = "") -> None:
        return None


CONVERSATION = [
    {"input": "I need help planning my wedding", "output": "Congratulations! What's your vision?"},
    {"input": "We want an outdoor ceremony", "output": "Have a backup plan for rain."},
    {"input": "What about flowers?", "output": "The stock market has been volatile."},
    {"input": "I meant wedding flowers", "output": "Peonies and roses are popular."},
]


async def grade(model: Model, output: str, vars: dict[str, Any], **kw: Any) -> GradingResult:
    grader = Grader(judge=lambda: Judge(Models(model)))
    assertion = Assertion(type="conversation-relevance", where="t", **kw)
    grader.validate(assertion)
    result = await grader.grade(make_ctx(output, [assertion], vars=vars))
    return result.component_results[0]


async def test_multi_turn_windows_and_score() -> None:
    model = Model({"The stock market has been volatile.": "no"})
    result = await grade(model, "ignored", {"_conversation": CONVERSATION}, threshold=0.7,
                         config={"windowSize": 2})  # fmt: skip
    assert result.score == pytest.approx(0.75) and result.passed
    assert "turn 3" in result.reason
    assert len(model.requests) == 4
    # a window of 2: the fourth judgement sees turns 3 and 4 only
    last = model.requests[3].messages[-1]["content"]
    assert "What about flowers?" in last and "outdoor" not in last
    failing = await grade(Model({"The stock market has been volatile.": "no"}), "x",
                          {"_conversation": CONVERSATION}, threshold=0.9)  # fmt: skip
    assert not failing.passed


async def test_single_turn_uses_the_prompt_and_output() -> None:
    model = Model({"Paris in spring.": "yes"})
    result = await grade(model, "Paris in spring.", {})
    assert result.passed and result.score == 1.0
    assert "the prompt" in model.requests[0].messages[-1]["content"]


async def test_bad_window_is_an_error() -> None:
    result = await grade(Model({}), "x", {}, config={"windowSize": "two"})
    assert not result.passed and result.error


def test_classifier_is_no_longer_refused() -> None:
    grader = Grader(judge=lambda: Judge(Models(Model({}))))
    grader.validate(Assertion(type="classifier", value="x", where="t"))  # checked by the models
