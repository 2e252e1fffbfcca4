"""OpenAI-compatible chat through the official SDK (`transport: sdk`), for comparison.

Same config, same wire format and the same parsing as the aiohttp transport; retries are
ours, so the SDK's are off (max_retries=0).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from promptyard.core.types import Completion, CompletionRequest, ProviderSpec
from promptyard.errors import ProviderError, ProviderResponseError
from promptyard.providers.common import import_vendor, sdk_http_client
from promptyard.providers.http_errors import body_note, summary
from promptyard.providers.openai_flavors import Flavor
from promptyard.providers.openai_http import OpenAICompatProvider
from promptyard.providers.openai_wire import (
    StreamAccumulator,
    maybe_json,
    messages_for,
    parse_chat,
)
from promptyard.providers.sdk_errors import map_sdk_error
from promptyard.trust import TrustPolicy


class OpenAISDKProvider(OpenAICompatProvider):
    def __init__(
        self, spec: ProviderSpec, flavor: Flavor, *, trust: TrustPolicy | None = None
    ) -> None:
        super().__init__(spec, flavor, trust=trust)
        self._client: Any = None
        self._sdk: Any = None
        extra = dict(self._body)
        extra.pop("model", None)
        extra.pop("stream", None)
        extra.pop("stream_options", None)
        self._extra = extra

    def _get_client(self) -> Any:
        if self._client is None:
            self._sdk = sdk = import_vendor("openai", "promptyard[openai]", self.where)
            key = self.api_key()
            extra: dict[str, Any] = {}
            http_client = sdk_http_client(self.trust, sdk)  # a strict policy's checked client
            if http_client is not None:
                extra["http_client"] = http_client
            self._client = sdk.AsyncOpenAI(
                api_key=key or "not-needed",  # local servers ignore it; the SDK insists
                base_url=self.base_url,
                organization=self.config.get("organization"),
                max_retries=0,
                default_headers={
                    str(k): str(v) for k, v in (self.config.get("headers") or {}).items()
                }
                or None,
                **extra,
            )
        return self._client

    async def complete(self, request: CompletionRequest) -> Completion:
        client = self._get_client()
        self.pricer.prefetch()
        sdk = self._sdk
        seconds = float(self.config.get("timeout") or request.timeout_s)
        start = time.perf_counter()
        try:
            if self._stream:
                stream = await client.chat.completions.create(
                    model=self.model,
                    messages=messages_for(request),
                    stream=True,
                    stream_options={"include_usage": True},
                    extra_body=self._extra,
                    timeout=seconds,
                )
                acc = StreamAccumulator()
                async for chunk in stream:
                    acc.add(chunk.model_dump(exclude_none=True))
                data: Any = acc.body()
            else:
                resp = await client.chat.completions.create(
                    model=self.model,
                    messages=messages_for(request),
                    extra_body=self._extra,
                    timeout=seconds,
                )
                if isinstance(resp, str | bytes):
                    raise ProviderResponseError(
                        f"the body is not JSON: {body_note(resp, summarize=self._summarize)}",
                        provider=self.id,
                    )
                data = resp.model_dump(exclude_none=True)
        except ProviderError:
            raise
        except ValueError as exc:  # a 200 whose body is not JSON
            doc = exc.doc if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ProviderResponseError(
                f"the body is not JSON: {body_note(doc, summarize=self._summarize)}",
                provider=self.id,
            ) from None
        except Exception as exc:
            mapped = map_sdk_error(sdk, exc, self.id, summarize=self._summarize)
            if mapped is None:
                raise
            raise mapped from None
        try:
            completion = parse_chat(data, provider=self.id)
        except ProviderResponseError:
            if not self._summarize:
                raise
            raise ProviderResponseError(
                f"not a chat completion: {summary(data)}", provider=self.id
            ) from None
        completion.latency_ms = (time.perf_counter() - start) * 1000.0
        completion.cost = self.pricer(completion.usage)
        if self._json:
            completion.output = maybe_json(completion.output)
        return completion

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(RuntimeError):
                await client.close()
        await super().aclose()
