"""promptfoo's `classifier` assertion (scorers/classifier.py through the Judge): the class's
score (value; unset: the best class) against the threshold (default 1)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.scorers.helpers import make_ctx

from promptyard.core.types import Assertion, GradingResult
from promptyard.errors import ConfigError
from promptyard.scorers import Grader
from promptyard.scorers.judge import Judge


class Classifier:
    id = "huggingface:text-classification:fake"

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def classify(self, text: str) -> dict[str, float]:
        self.seen.append(text)
        hate = 0.9 if "hate" in text else 0.1
        return {"hate": hate, "nothate": 1 - hate}

    def cache_identity(self) -> dict[str, Any]:
        return {"id": self.id}

    async def aclose(self) -> None:
        return None


class Models:
    def __init__(self, classifier: Classifier) -> None:
        self.classifier_ = classifier
        self.checked: list[tuple[Any, str]] = []

    def chat(self, ref: Any) -> Any:
        raise AssertionError("no chat model here")

    def embedder(self, ref: Any) -> Any:
        raise AssertionError("no embeddings here")

    def moderator(self, ref: Any) -> Any:
        raise AssertionError("no moderation here")

    def classifier(self, ref: Any) -> Classifier:
        return self.classifier_

    def check(self, ref: Any, kind: str, where: str = "") -> None:
        self.checked.append((ref, kind))


class Cache:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    async def put(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = value


REF = "huggingface:text-classification:facebook/roberta-hate-speech-dynabench-r4-target"


async def grade(
    output: str, models: Models, cache: Cache | None = None, **kw: Any
) -> GradingResult:
    grader = Grader(judge=lambda: Judge(models, cache=cache))
    kw.setdefault("provider", REF)
    assertion = Assertion(type=kw.pop("type", "classifier"), where="t", **kw)
    grader.validate(assertion)
    result = await grader.grade(make_ctx(output, [assertion]))
    return result.component_results[0]


async def test_verdicts_follow_promptfoo() -> None:
    models = Models(Classifier())
    ok = await grade("hello", models, value="nothate", threshold=0.5)
    assert ok.passed and ok.score == pytest.approx(0.9)
    assert ok.reason == "Classification nothate has score 0.90 >= 0.5"
    bad = await grade("I hate it", models, value="nothate", threshold=0.5)
    assert not bad.passed and bad.reason == "Classification nothate has score 0.10 < 0.5"
    strict = await grade("hello", models, value="nothate")  # threshold 1 by default
    assert not strict.passed
    missing = await grade("hello", models, value="no-such-class", threshold=0.1)
    assert not missing.passed and missing.score == 0
    best = await grade("hello", models, threshold=0.8)
    assert best.passed and best.reason.startswith("Classification undefined has score 0.90")
    negated = await grade("I hate it", models, type="not-classifier", value="hate", threshold=0.5)
    assert not negated.passed and negated.score == pytest.approx(0.1)
    assert models.checked[0] == (REF, "classification")


async def test_results_are_cached() -> None:
    classifier = Classifier()
    cache = Cache()
    await grade("hello", Models(classifier), cache, value="nothate", threshold=0.5)
    again = await grade("hello", Models(classifier), cache, value="nothate", threshold=0.5)
    assert classifier.seen == ["hello"] and again.passed


async def test_value_must_be_one_class() -> None:
    with pytest.raises(ConfigError, match="one class"):
        await grade("x", Models(Classifier()), value=["a", "b"])
