"""OpenAI chat-completions wire format: request bodies and response parsing.

Shared by the lean aiohttp transport and the SDK transport, so both behave the same.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from promptyard.core.types import Completion, CompletionRequest, TokenUsage
from promptyard.errors import ConfigError, ProviderResponseError
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
    "functions",
    "function_call",
    "audio",
    "web_search_options",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
    "top_k",  # not OpenAI's, but most compatible hosts take it (Together, OpenRouter, vLLM)
    "min_p",
    "repetition_penalty",
)

# Config keys the transports use themselves (never sent in the body).
TRANSPORT_KEYS = frozenset(
    {
        "base_url", "api_key", "api_key_env", "api_key_required", "headers", "organization",
        "project", "api_version", "transport", "stream", "extra_body", "timeout", "max_retries",
        "max_concurrency", "requests_per_minute", "cost", "inputCost", "outputCost",
        "dimensions",  # embeddings (providers/embeddings.py)
    }
)  # fmt: skip

# promptfoo keys we know and do not model, and why (refused by name rather than dropped).
REFUSED_KEYS: dict[str, str] = {
    "functionToolCallbacks": "promptfoo runs these JavaScript callbacks; Promptyard returns "
    "the tool calls as the output (check them with an assertion)",
    "mcp": "MCP servers are not supported",
    "showThinking": "reasoning text is not shown in the output; remove the key",
    "system_prompt": "put the system message in the prompt (a chat prompt's first message)",
    **dict.fromkeys(
        (
            "azureClientId",
            "azureClientSecret",
            "azureTenantId",
            "azureAuthorityHost",
            "azureTokenScope",
        ),
        "Entra ID sign-in is not supported: use an API key (AZURE_API_KEY), or send a token "
        "you obtained with `headers: {Authorization: Bearer ...}`",
    ),
    "best_of": "belongs to the legacy completions API, which is not supported",
    "echo": "belongs to the legacy completions API, which is not supported",
    "suffix": "belongs to the legacy completions API, which is not supported",
}
_RESPONSES_KEYS = ("max_output_tokens", "instructions", "reasoning", "text", "previous_response_id")
_KNOWN = sorted(TRANSPORT_KEYS | set(BODY_PARAMS))
# Keys other parts of Promptyard read from a provider's config (never sent).
_NOT_BODY = frozenset({*_RESPONSES_KEYS})


def check_config_keys(config: dict[str, Any], provider_id: str, where: str = "") -> None:
    """ConfigError naming a key this transport knows it must not take (promptfoo features we do
    not run, Responses API keys on chat, a likely misspelling of a known key), instead of
    dropping it silently. Any other key it does not model is sent in the request body as it
    is (`passthrough_params`), so the host answers for it, as promptfoo's `passthrough` does."""
    responses = ":responses:" in provider_id
    for key in config:
        if key in TRANSPORT_KEYS or key in BODY_PARAMS:
            continue
        if responses and key in _RESPONSES_KEYS:
            continue
        if key in REFUSED_KEYS:
            reason = REFUSED_KEYS[key]
        elif key in _RESPONSES_KEYS:
            reason = "belongs to the Responses API: use openai:responses:MODEL"
        else:
            close = difflib.get_close_matches(key, _KNOWN, n=1, cutoff=0.85)
            if not close:
                continue  # passed through
            reason = (
                f"did you mean `{close[0]}`? (a key Promptyard does not know is sent in the "
                "request body as it is; put it under `passthrough:` to say so)"
            )
        raise ConfigError(
            f"{provider_id}: config key `{key}`: {reason}",
            file=where or None,
            field=f"config.{key}",
        )


def passthrough_params(config: dict[str, Any]) -> dict[str, Any]:
    """The config keys that neither transport models: sent in the body as they are."""
    return {
        k: v
        for k, v in config.items()
        if k not in TRANSPORT_KEYS
        and k not in BODY_PARAMS
        and k not in REFUSED_KEYS
        and k not in _NOT_BODY
        and v is not None
    }


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
    body.update(passthrough_params(config))
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
