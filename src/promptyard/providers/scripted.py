"""`scripted`: answers queued by a test, or given in config. For engine and optimizer tests.

Where an answer comes from, first match wins:
  1. `provider.queue(...)`: items used once each, first in first out;
  2. config `var` + `responses` mapping: the answer for that variable's value (else `default`);
  3. config `responses` list: used in order, cycling;
  4. otherwise the prompt itself, like `echo`.

An item is an output (any JSON value), or a dict with `output` and optionally `tokenUsage`
(or `usage`), `cost`, `finish_reason`, `delay_ms`, or `error` (+ `status`: 429 or 5xx become
retryable errors), or a Completion, or an exception instance to raise.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from typing import Any

from promptyard.core.types import Completion, CompletionRequest, ProviderSpec
from promptyard.errors import ConfigError, ProviderError
from promptyard.providers.common import BaseProvider, estimate_usage, usage_from_token_usage
from promptyard.providers.http_errors import error_for_status

_ITEM_KEYS = frozenset(
    {
        "output",
        "tokenUsage",
        "usage",
        "cost",
        "finish_reason",
        "delay_ms",
        "error",
        "status",
        "logprobs",
    }
)


class ScriptedProvider(BaseProvider):
    def __init__(self, spec: ProviderSpec) -> None:
        name = spec.id.partition(":")[2] or "scripted"
        super().__init__(spec, prefix="scripted", model=name)
        self._queue: deque[Any] = deque()
        self.calls: list[CompletionRequest] = []
        self._var: str | None = self.config.get("var")
        responses = self.config.get("responses")
        self._map: dict[str, Any] | None = None
        self._list: list[Any] | None = None
        if self._var is not None:
            if not isinstance(responses, dict):
                raise ConfigError(
                    "with `var`, `responses` must map variable values to outputs",
                    file=spec.where or None,
                    field="config.responses",
                )
            self._map = {str(k): v for k, v in responses.items()}
        elif responses is not None:
            if not isinstance(responses, list) or not responses:
                raise ConfigError(
                    "`responses` must be a non-empty list (or a mapping, with `var`)",
                    file=spec.where or None,
                    field="config.responses",
                )
            self._list = responses
        self._next = 0
        self._instance = uuid.uuid4().hex

    def cache_identity(self) -> dict[str, Any]:
        # Queued answers are not a function of the request: never share a cache entry
        # between two scripted providers, even with the same id.
        return {**super().cache_identity(), "instance": self._instance}

    def queue(self, *items: Any) -> None:
        """Queue answers for the next calls (used once each, before any configured answer)."""
        self._queue.extend(items)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _pick(self, request: CompletionRequest) -> Any:
        if self._queue:
            return self._queue.popleft()
        if self._map is not None and self._var is not None:
            value = request.vars.get(self._var)
            key = str(value)
            if key in self._map:
                return self._map[key]
            if "default" in self.config:
                return self.config["default"]
            raise ProviderError(f"no scripted response for {self._var}={value!r}", provider=self.id)
        if self._list is not None:
            item = self._list[self._next % len(self._list)]
            self._next += 1
            return item
        return request.prompt

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls.append(request)
        item = self._pick(request)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, Completion):
            return item
        if (
            isinstance(item, dict)
            and item
            and set(item) <= _ITEM_KEYS
            and ("output" in item or "error" in item)
        ):
            return await self._from_dict(item, request)
        text = item if isinstance(item, str) else str(item)
        usage = estimate_usage(request.prompt, text)
        return Completion(
            output=item,
            usage=usage,
            cost=self.pricer(usage),
            finish_reason="stop",
            model=self.model,
        )

    async def _from_dict(self, item: dict[str, Any], request: CompletionRequest) -> Completion:
        if item.get("delay_ms"):
            await asyncio.sleep(float(item["delay_ms"]) / 1000.0)
        if item.get("error"):
            status = item.get("status")
            if isinstance(status, int):
                raise error_for_status(status, str(item["error"]), None, provider=self.id)
            raise ProviderError(str(item["error"]), provider=self.id)
        output = item.get("output")
        raw_usage = item.get("tokenUsage") or item.get("usage")
        if isinstance(raw_usage, dict):
            usage = usage_from_token_usage(raw_usage)
        else:
            usage = estimate_usage(request.prompt, output if isinstance(output, str) else "")
        cost = item["cost"] if "cost" in item else self.pricer(usage)
        return Completion(
            output=output,
            usage=usage,
            cost=cost,
            finish_reason=item.get("finish_reason", "stop"),
            logprobs=item.get("logprobs"),
            model=self.model,
        )
