"""OpenAI chat-completions wire format: request bodies and response parsing.

Shared by the lean aiohttp transport and the SDK transport, so both behave the same.
"""

from __future__ import annotations

import json
from typing import Any

from promptyard.core.types import Completion, CompletionRequest, TokenUsage
from promptyard.errors import ProviderResponseError
from promptyard.providers.http_errors import excerpt, vendor_message

# Config keys sent as-is in the request body.
BODY_PARAMS = (
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "seed",
    "stop",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "n",
    "user",
    "logit_bias",
    "reasoning_effort",
    "service_tier",
    "metadata",
    "modalities",
    "prediction",
    "store",
)


def body_template(model: str, config: dict[str, Any]) -> dict[str, Any]:
    """The constant part of every request body, built once per provider."""
    body: dict[str, Any] = {"model": model}
    for key in BODY_PARAMS:
        value = config.get(key)
        if value is not None:
            body[key] = value
    if config.get("stream"):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(config.get("extra_body") or {})
    return body


def messages_for(request: CompletionRequest) -> list[dict[str, Any]]:
    return request.messages or [{"role": "user", "content": request.prompt}]


def wants_json(config: dict[str, Any]) -> bool:
    """promptfoo parses the output as JSON when the response format is a JSON schema."""
    fmt = config.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") == "json_schema"


def parse_chat(data: Any, *, provider: str, raw: bytes | str | None = None) -> Completion:
    """A chat.completion body -> Completion (cost and latency are filled by the caller)."""
    if not isinstance(data, dict):
        raise ProviderResponseError(
            f"expected a JSON object, got: {excerpt(raw if raw is not None else repr(data))}",
            provider=provider,
        )
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        message = vendor_message(data) if "error" in data else None
        detail = message or f"no choices in the response: {excerpt(raw or json.dumps(data))}"
        raise ProviderResponseError(detail, provider=provider)
    choice = choices[0]
    msg = choice.get("message")
    output = message_output(msg if isinstance(msg, dict) else {})
    logprobs = None
    lp = choice.get("logprobs")
    if isinstance(lp, dict) and isinstance(lp.get("content"), list):
        logprobs = [float(t.get("logprob", 0.0)) for t in lp["content"]]
    return Completion(
        output=output,
        usage=parse_usage(data.get("usage")),
        finish_reason=choice.get("finish_reason"),
        logprobs=logprobs,
        model=data.get("model"),
        raw=data,
    )


def message_output(message: dict[str, Any]) -> Any:
    """Text when there is only text; tool calls when only tools; the message when both."""
    content = message.get("content")
    tool_calls = message.get("tool_calls") or message.get("function_call")
    if tool_calls:
        return message if content else tool_calls
    if content is None:
        refusal = message.get("refusal")
        return refusal if isinstance(refusal, str) else ""
    return content


def parse_usage(usage: Any) -> TokenUsage:
    if not isinstance(usage, dict):
        return TokenUsage()
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    details = usage.get("prompt_tokens_details")
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    total = int(usage.get("total_tokens") or prompt + completion)
    return TokenUsage(prompt=prompt, completion=completion, total=total, cached=cached)


def maybe_json(output: Any) -> Any:
    if isinstance(output, str):
        try:
            return json.loads(output)
        except ValueError:
            return output
    return output


class StreamAccumulator:
    """Folds `chat.completion.chunk` events into one chat.completion body."""

    __slots__ = ("finish_reason", "logprobs", "model", "parts", "tool_calls", "usage")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.logprobs: list[dict[str, Any]] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.parts.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                slot = self.tool_calls.setdefault(
                    call.get("index", 0),
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                slot["id"] = call.get("id") or slot["id"]
                fn = call.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
            lp = choice.get("logprobs")
            if isinstance(lp, dict) and lp.get("content"):
                self.logprobs.extend(lp["content"])
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.parts) or None}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        elif message["content"] is None:
            message["content"] = ""
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "finish_reason": self.finish_reason,
        }
        if self.logprobs:
            choice["logprobs"] = {"content": self.logprobs}
        return {
            "object": "chat.completion",
            "model": self.model,
            "choices": [choice],
            "usage": self.usage,
        }
