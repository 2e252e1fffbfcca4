"""promptfoo's `moderation` assertion (scorers/moderation.py through the Judge): fails when a
flagged category is in `value`, or anything is flagged without a list; empty output passes."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.scorers.helpers import make_ctx

from promptyard.core.types import Assertion, GradingResult
from promptyard.errors import ConfigError
from promptyard.providers.moderation import ModerationFlag
from promptyard.scorers import Grader
from promptyard.scorers.judge import Judge


class Moderator:
    id = "fake-moderation"

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def moderate(self, texts: list[str]) -> list[list[ModerationFlag]]:
        self.seen.extend(texts)
        return [
            [ModerationFlag(w, 0.9) for w in ("violence", "harassment") if w in t] for t in texts
        ]

    def cache_identity(self) -> dict[str, Any]:
        return {"id": self.id}

    async def aclose(self) -> None:
        return None


class Models:
    def __init__(self, moderator: Moderator) -> None:
        self.moderator_ = moderator
        self.checked: list[tuple[Any, str]] = []
        self.refs: list[Any] = []

    def chat(self, ref: Any) -> Any:
        raise AssertionError("no chat model for moderation")

    def embedder(self, ref: Any) -> Any:
        raise AssertionError("no embeddings for moderation")

    def moderator(self, ref: Any) -> Moderator:
        self.refs.append(ref)
        return self.moderator_

    def check(self, ref: Any, kind: str, where: str = "") -> None:
        self.checked.append((ref, kind))


class Cache:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    async def put(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = value


async def grade(
    output: str, models: Models, cache: Cache | None = None, **kw: Any
) -> GradingResult:
    grader = Grader(judge=lambda: Judge(models, cache=cache))
    assertion = Assertion(type=kw.pop("type", "moderation"), where="t", **kw)
    grader.validate(assertion)
    result = await grader.grade(make_ctx(output, [assertion]))
    return result.component_results[0]


async def test_verdicts_follow_promptfoo() -> None:
    models = Models(Moderator())
    clean = await grade("a calm sea", models)
    assert clean.passed and clean.score == 1 and clean.reason == "No moderation flags detected"
    flagged = await grade("violence here", models)
    assert not flagged.passed and flagged.score == 0
    assert flagged.reason == "Moderation flags detected: violence"
    other = await grade("violence here", models, value=["harassment"])
    assert other.passed and other.reason == "No relevant moderation flags detected"
    listed = await grade("violence and harassment", models, value=["harassment", "hate"])
    assert not listed.passed and listed.reason == "Moderation flags detected: harassment"
    empty = await grade("", models)
    assert empty.passed and empty.reason == "No output to moderate"
    negated = await grade("violence", models, type="not-moderation")
    assert negated.passed and negated.score == 1
    assert ("openai:moderation:m", "moderation") not in models.checked
    assert {kind for _, kind in models.checked} == {"moderation"}


async def test_provider_ref_reaches_the_composition_root() -> None:
    models = Models(Moderator())
    await grade("ok", models, provider="openai:moderation:text-moderation-latest")
    assert models.checked == [("openai:moderation:text-moderation-latest", "moderation")]
    assert models.refs == ["openai:moderation:text-moderation-latest"]


async def test_results_are_cached() -> None:
    moderator = Moderator()
    cache = Cache()
    first = await grade("violence", Models(moderator), cache)
    again = await grade("violence", Models(moderator), cache)
    assert moderator.seen == ["violence"]
    assert first.reason == again.reason and not again.passed


async def test_value_must_be_category_names() -> None:
    with pytest.raises(ConfigError, match="list of category names"):
        await grade("x", Models(Moderator()), value={"a": 1})
