"""`echo`: answers with the rendered prompt. Free; tokens are whitespace words."""

from __future__ import annotations

from promptyard.core.types import Completion, CompletionRequest, ProviderSpec
from promptyard.providers.common import BaseProvider, estimate_usage


class EchoProvider(BaseProvider):
    def __init__(self, spec: ProviderSpec) -> None:
        super().__init__(spec, prefix="echo", model="echo")

    async def complete(self, request: CompletionRequest) -> Completion:
        usage = estimate_usage(request.prompt, request.prompt)
        return Completion(
            output=request.prompt,
            usage=usage,
            cost=self.pricer(usage),
            finish_reason="stop",
            model="echo",
        )
