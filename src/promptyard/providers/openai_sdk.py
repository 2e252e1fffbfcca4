"""OpenAI-compatible chat through the official SDK (`transport: sdk`), and the Responses API
(`openai:responses:MODEL`, always through the SDK).

Same config, same wire format and the same parsing as the aiohttp transport; retries are
ours, so the SDK's are off (max_retries=0). The account headers (organization, project) are the
ones the aiohttp transport decided, not the SDK's own reading of the environment, so both
transports send the same requests (tests/integration/test_transport_parity.py).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from promptyard.core.types import Completion, CompletionRequest, ProviderSpec, TokenUsage
from promptyard.errors import ConfigError, ProviderError, ProviderResponseError
from promptyard.providers.common import import_vendor, sdk_http_client
from promptyard.providers.http_errors import body_note, summary
from promptyard.providers.openai_flavors import AZURE_API_VERSION, Flavor
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
            headers = {str(k): str(v) for k, v in (self.config.get("headers") or {}).items()}
            if self.flavor.azure:
                client = sdk.AsyncAzureOpenAI(
                    api_key=key or "not-needed",
                    azure_endpoint=self.base_url,
                    api_version=str(self.config.get("api_version") or AZURE_API_VERSION),
                    max_retries=0,
                    default_headers=headers or None,
                    **extra,
                )
            else:
                client = sdk.AsyncOpenAI(
                    api_key=key or "not-needed",  # local servers ignore it; the SDK insists
                    base_url=self.base_url,
                    max_retries=0,
                    default_headers=headers or None,
                    **extra,
                )
            # The SDK reads OPENAI_ORG_ID / OPENAI_PROJECT_ID itself, for any host: send what
            # the policy decided instead (openai_http._openai_account).
            client.organization = self._org
            client.project = self._project
            self._client = client
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


# Responses API parameters taken from the config (chat names mapped where they differ).
RESPONSES_PARAMS = (
    "temperature", "top_p", "max_output_tokens", "instructions", "reasoning", "text", "tools",
    "tool_choice", "parallel_tool_calls", "store", "metadata", "user", "previous_response_id",
    "truncation", "include", "service_tier", "prompt_cache_key", "safety_identifier",
)  # fmt: skip
_CHAT_TO_RESPONSES = {
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
}


class OpenAIResponsesProvider(OpenAISDKProvider):
    """`openai:responses:MODEL`: the Responses API through the official SDK (a different wire
    format from chat completions; the lean transport speaks only the latter)."""

    def __init__(
        self, spec: ProviderSpec, flavor: Flavor, *, trust: TrustPolicy | None = None
    ) -> None:
        super().__init__(spec, flavor, trust=trust)
        from promptyard.providers.openai_wire import BODY_PARAMS

        params: dict[str, Any] = {}
        for key, value in self.config.items():
            if value is None:
                continue
            name = _CHAT_TO_RESPONSES.get(key, key)
            if key == "reasoning_effort":
                params["reasoning"] = {**params.get("reasoning", {}), "effort": value}
            elif key == "response_format" and isinstance(value, dict):
                params["text"] = {"format": _text_format(value)}
            elif name in RESPONSES_PARAMS:
                params[name] = value
            elif key in BODY_PARAMS or key == "stream":
                raise ConfigError(
                    f"{spec.id}: config key `{key}` is not a Responses API parameter",
                    file=spec.where or None,
                    field=f"config.{key}",
                )
        self._params = params

    async def complete(self, request: CompletionRequest) -> Completion:
        client = self._get_client()
        self.pricer.prefetch()
        seconds = float(self.config.get("timeout") or request.timeout_s)
        start = time.perf_counter()
        try:
            resp = await client.responses.create(
                model=self.model,
                input=messages_for(request),
                extra_body=self.config.get("extra_body") or None,
                timeout=seconds,
                **self._params,
            )
            data = resp.model_dump(exclude_none=True)
        except ProviderError:
            raise
        except Exception as exc:
            mapped = map_sdk_error(self._sdk, exc, self.id, summarize=self._summarize)
            if mapped is None:
                raise
            raise mapped from None
        completion = parse_response(data, provider=self.id)
        completion.latency_ms = (time.perf_counter() - start) * 1000.0
        completion.cost = self.pricer(completion.usage)
        if self._json:
            completion.output = maybe_json(completion.output)
        return completion


def _text_format(response_format: dict[str, Any]) -> dict[str, Any]:
    """A chat `response_format` as the Responses API's `text.format`."""
    if response_format.get("type") == "json_schema" and "json_schema" in response_format:
        return {"type": "json_schema", **response_format["json_schema"]}
    return dict(response_format)


def parse_response(data: Any, *, provider: str) -> Completion:
    """A Responses API body -> Completion: the text of its output messages (or its function
    calls, as chat's tool calls are), its usage and status."""
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise ProviderResponseError(f"not a Responses API body: {summary(data)}", provider=provider)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in data["output"]:
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    texts.append(str(part.get("text", "")))
        elif item.get("type") == "function_call":
            calls.append(item)
    u = data.get("usage") or {}
    prompt, out = int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0)
    cached = int((u.get("input_tokens_details") or {}).get("cached_tokens") or 0)
    total = int(u.get("total_tokens") or prompt + out)
    usage = TokenUsage(prompt=prompt, completion=out, total=total, cached=cached)
    output: Any = "".join(texts) if texts or not calls else calls
    return Completion(
        output=output,
        usage=usage,
        finish_reason="stop" if data.get("status") == "completed" else data.get("status"),
        model=data.get("model"),
        raw=data,
    )
