"""Anthropic Messages API through the official SDK (AsyncAnthropic, our retries, not its)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

from promptyard.core.types import Completion, CompletionRequest, ProviderSpec, TokenUsage
from promptyard.errors import ConfigError, ProviderError, ProviderResponseError
from promptyard.providers.common import (
    PERMISSIVE,
    BaseProvider,
    env_key_allowed,
    import_vendor,
    require_api_key,
    sdk_http_client,
)
from promptyard.providers.config import split_model
from promptyard.providers.sdk_errors import map_sdk_error
from promptyard.trust import TrustPolicy, egress

KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_BASE_URL = "https://api.anthropic.com"  # the SDK's own default
DEFAULT_MAX_TOKENS = 1024  # the API requires max_tokens; promptfoo's default
_PARAMS = ("temperature", "top_p", "top_k", "metadata", "tool_choice", "thinking", "service_tier")


class AnthropicProvider(BaseProvider):
    """`anthropic:messages:MODEL` and `anthropic:MODEL`."""

    def __init__(self, spec: ProviderSpec, *, trust: TrustPolicy | None = None) -> None:
        model = split_model(spec.id, "anthropic", ("messages", "chat"))
        super().__init__(spec, prefix="anthropic", model=model)
        if not model:
            raise ConfigError(
                f"provider id {spec.id!r} names no model; write anthropic:messages:MODEL",
                file=spec.where or None,
                field="id",
            )
        base = self.config.get("base_url") or os.environ.get("ANTHROPIC_BASE_URL")
        # The SDK appends /v1/messages itself; accept a base written with /v1 too.
        if base and base.rstrip("/").endswith("/v1"):
            base = base.rstrip("/")[:-3]
        self.base_url: str | None = base or None
        self.trust = trust = trust or PERMISSIVE
        url = self.base_url or DEFAULT_BASE_URL
        host = egress.check_url(trust, url, where=spec.where, field="config.base_url")
        self._read_env = env_key_allowed(
            trust, self.config, KEY_ENV, required=True, url=url, where=spec.where
        )
        self._summarize = trust.summarize_upstream_errors and not egress.vendor_host(host)
        self._params = self._static_params()
        self._max_tokens = int(self.config.get("max_tokens") or DEFAULT_MAX_TOKENS)
        self._client: Any = None
        self._sdk: Any = None

    def key_env(self) -> str:
        return str(self.config.get("api_key_env") or KEY_ENV)

    def _static_params(self) -> dict[str, Any]:
        """Sampling and tool parameters. They travel in extra_body: SDK releases differ in
        which of them they accept as keyword arguments, the wire format does not."""
        cfg = self.config
        params: dict[str, Any] = {}
        for key in _PARAMS:
            if cfg.get(key) is not None:
                params[key] = cfg[key]
        stop = cfg.get("stop")
        if stop is not None:
            params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if cfg.get("tools"):
            params["tools"] = [_tool(t) for t in cfg["tools"]]
        params.update(cfg.get("extra_body") or {})
        return params

    def _get_client(self) -> Any:
        if self._client is None:
            self._sdk = sdk = import_vendor("anthropic", "anthropic>=0.40", self.where)
            key = require_api_key(self.id, self.config, KEY_ENV, read_env=self._read_env)
            headers = {str(k): str(v) for k, v in (self.config.get("headers") or {}).items()}
            extra: dict[str, Any] = {}
            http_client = sdk_http_client(self.trust, sdk)  # a strict policy's checked client
            if http_client is not None:
                extra["http_client"] = http_client
            self._client = sdk.AsyncAnthropic(
                api_key=key,
                base_url=self.base_url,
                max_retries=0,
                default_headers=headers or None,
                **extra,
            )
        return self._client

    async def complete(self, request: CompletionRequest) -> Completion:
        client = self._get_client()
        self.pricer.prefetch()
        system, messages = split_system(request)
        if self.config.get("system_prompt"):
            system = "\n\n".join(s for s in (str(self.config["system_prompt"]), system) if s)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self._max_tokens,
            "messages": messages,
        }
        if system:
            kwargs["system"] = system
        seconds = float(self.config.get("timeout") or request.timeout_s)
        start = time.perf_counter()
        try:
            msg = await client.messages.create(
                **kwargs, extra_body=self._params or None, timeout=seconds
            )
        except ProviderError:
            raise
        except Exception as exc:
            mapped = map_sdk_error(self._sdk, exc, self.id, summarize=self._summarize)
            if mapped is None:
                raise
            raise mapped from None
        if isinstance(msg, str | bytes) or not hasattr(msg, "content"):
            shown = "" if self._summarize else f": {str(msg)[:200]}"
            raise ProviderResponseError(f"unexpected response{shown}", provider=self.id)
        usage = _usage(msg.usage)
        return Completion(
            output=output_of(msg.content),
            usage=usage,
            cost=self.pricer(usage),
            latency_ms=(time.perf_counter() - start) * 1000.0,
            finish_reason=msg.stop_reason,
            model=msg.model,
            raw=msg.model_dump(exclude_none=True),
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(RuntimeError):
                await client.close()


def split_system(request: CompletionRequest) -> tuple[str, list[dict[str, Any]]]:
    """Anthropic takes system text apart from the turns; join every system message into it."""
    if not request.messages:
        return "", [{"role": "user", "content": request.prompt}]
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for m in request.messages:
        if m.get("role") == "system":
            content = m.get("content")
            system.append(content if isinstance(content, str) else json.dumps(content))
        else:
            turns.append({"role": m.get("role", "user"), "content": m.get("content", "")})
    if not turns:  # a system-only prompt: the API needs one user turn
        turns = [{"role": "user", "content": request.prompt}]
    return "\n\n".join(system), turns


def output_of(blocks: Any) -> str:
    """Text blocks joined; tool_use blocks as JSON after them (promptfoo's shape)."""
    parts: list[str] = []
    for block in blocks or ():
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(block.text)
        elif kind == "tool_use":
            parts.append(
                json.dumps(
                    {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
                )
            )
    return "\n\n".join(parts)


def _usage(u: Any) -> TokenUsage:
    if u is None:
        return TokenUsage()
    cached = int(getattr(u, "cache_read_input_tokens", None) or 0)
    created = int(getattr(u, "cache_creation_input_tokens", None) or 0)
    prompt = int(u.input_tokens or 0) + cached + created
    completion = int(u.output_tokens or 0)
    return TokenUsage(
        prompt=prompt, completion=completion, total=prompt + completion, cached=cached
    )


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """OpenAI-format tools become Anthropic tools; Anthropic ones pass as they are."""
    fn = tool.get("function") if tool.get("type") == "function" else None
    if not isinstance(fn, dict):
        return tool
    out: dict[str, Any] = {
        "name": fn["name"],
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }
    if fn.get("description"):
        out["description"] = fn["description"]
    return out
