"""The provider contract: one async method. Retries, caching and pricing live around it.

`Embedder` is the same idea for embeddings (the `similar` assertion): one async batch call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from promptyard.core.types import Completion, CompletionRequest, TokenUsage


@runtime_checkable
class Provider(Protocol):
    """An LLM endpoint. `id` is "provider:model"; `label` is what reports show."""

    id: str
    label: str

    async def complete(self, request: CompletionRequest) -> Completion:
        """Answer one request. Raise a ProviderError subclass on failure."""
        ...

    def cache_identity(self) -> dict[str, Any]:
        """Everything besides the request that changes the answer (model, params, base URL)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@dataclass(slots=True)
class Embeddings:
    """One embed call's answer: a vector per input text, in input order, and its spend.

    `cost` is USD; None when no price is known (never 0 for "unknown").
    """

    vectors: list[list[float]]
    usage: TokenUsage
    cost: float | None


@runtime_checkable
class Embedder(Protocol):
    """An embeddings endpoint or a local model. `id` is the id it was created from."""

    id: str

    async def embed(self, texts: list[str]) -> Embeddings:
        """Embed all `texts` in one call. Raise a ProviderError subclass on failure."""
        ...

    def cache_identity(self) -> dict[str, Any]:
        """Everything besides the texts that changes the vectors (model, base URL...)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
