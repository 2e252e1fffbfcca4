"""What a judge needs from outside it: the model, models and cache protocols a composition
root fills (see promptyard/judge_models.py), the model an assertion names for each kind, and
the tokens and cost of a verdict's judge calls. Used by scorers/judge.py and its siblings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from promptyard.core.types import (
    Assertion,
    Completion,
    CompletionRequest,
    GradingResult,
    TokenUsage,
)
from promptyard.errors import PromptyardError

if TYPE_CHECKING:
    from promptyard.providers.base import Embedder
    from promptyard.providers.classification import Classifier
    from promptyard.providers.moderation import Moderator


class JudgeModel(Protocol):
    """A chat model for judging, with the task's retry policy around it."""

    id: str

    async def complete(self, request: CompletionRequest) -> Completion: ...

    def cache_identity(self) -> dict[str, Any]: ...


class JudgeModels(Protocol):
    """How the composition root turns a promptfoo `provider` reference into models.

    `ref` is what a config wrote (an id, `{id, config}`, a profile name) or None for the default.
    """

    def chat(self, ref: Any) -> JudgeModel: ...

    def embedder(self, ref: Any) -> Embedder: ...

    def moderator(self, ref: Any) -> Moderator:
        """The moderation model `ref` names, else the default one (OpenAI's moderations)."""
        ...

    def classifier(self, ref: Any) -> Classifier:
        """The text-classification model `ref` names (there is no default one)."""
        ...

    def check(self, ref: Any, kind: str, where: str = "") -> None:
        """Raise (naming the variable to set) when the model for `kind` ("chat", "embedding",
        "moderation" or "classification") lacks credentials, or ConfigError (naming `where`)
        when it cannot be built or its trust policy refuses it; called before any call."""
        ...


class JudgeCache(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class Spend:
    """Tokens and cost of one verdict's judge calls."""

    usage: TokenUsage = field(default_factory=TokenUsage)
    cost: float | None = None
    calls: int = 0

    def add(self, usage: TokenUsage, cost: float | None, *, cached: bool) -> None:
        self.calls += 1
        if cached:  # a cached reply costs nothing this time; its tokens show as cached
            self.usage.cached += usage.total
            self.cost = self.cost or 0.0
            return
        self.usage.add(usage)
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost

    def apply(self, result: GradingResult) -> GradingResult:
        result.tokens_used = self.usage
        result.cost = self.cost
        return result


class JudgeUnreadable(PromptyardError):
    """The judge broke its reply contract twice."""

    def __init__(self, why: str, raw: str) -> None:
        super().__init__(f"judge reply not readable ({why}): {raw[:2000]}")
        self.raw = raw


def chat_ref(assertion: Assertion, options: dict[str, Any]) -> Any:
    ref = assertion.provider if assertion.provider is not None else options.get("provider")
    # promptfoo's {text: ..., embedding: ...} form names a model per kind.
    if isinstance(ref, dict) and ("text" in ref or "embedding" in ref) and "id" not in ref:
        return ref.get("text")
    return ref


def embedding_ref(assertion: Assertion, options: dict[str, Any]) -> Any:
    ref = assertion.provider if assertion.provider is not None else options.get("provider")
    if isinstance(ref, dict) and ("text" in ref or "embedding" in ref) and "id" not in ref:
        return ref.get("embedding")
    if isinstance(ref, dict) and "embedding" in str(ref.get("id", "")):
        return ref
    if isinstance(ref, str) and ":embedding" in ref:
        return ref
    return None  # a chat model named for grading is no embedder: use the default one
