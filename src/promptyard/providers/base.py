"""The provider contract: one async method. Retries, caching and pricing live around it."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from promptyard.core.types import Completion, CompletionRequest


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
