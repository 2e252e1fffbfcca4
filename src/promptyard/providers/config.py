"""Provider ids and config keys: promptfoo's spellings folded into ours, validated once.

Everything here runs when a provider is created, never per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptyard.errors import ConfigError

# promptfoo (camelCase) and other common spellings -> our key.
_ALIASES: dict[str, str] = {
    "apiBaseUrl": "base_url",
    "api_base_url": "base_url",
    "baseUrl": "base_url",
    "baseURL": "base_url",
    "apiKey": "api_key",
    "apiKeyEnvar": "api_key_env",
    "api_key_envar": "api_key_env",
    "apiKeyEnv": "api_key_env",
    "apiKeyRequired": "api_key_required",
    "maxTokens": "max_tokens",
    "maxCompletionTokens": "max_completion_tokens",
    "topP": "top_p",
    "topK": "top_k",
    "frequencyPenalty": "frequency_penalty",
    "presencePenalty": "presence_penalty",
    "responseFormat": "response_format",
    "topLogprobs": "top_logprobs",
    "toolChoice": "tool_choice",
    "extraBody": "extra_body",
    "maxConcurrency": "max_concurrency",
    "requestsPerMinute": "requests_per_minute",
    "rpm": "requests_per_minute",
    "maxRetries": "max_retries",
    "timeout_s": "timeout",
    "stopSequences": "stop",
    "stop_sequences": "stop",
    "systemPrompt": "system_prompt",
    "apiVersion": "api_version",
    "maxOutputTokens": "max_output_tokens",
}

# Keys whose value is milliseconds in promptfoo; stored as seconds under `timeout`.
_MS_TIMEOUT_KEYS = ("timeoutMs", "timeout_ms")
_HOST_KEYS = ("apiHost", "api_host")
_TRANSPORTS = ("aiohttp", "sdk")


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """USD per token for input and output (None: not overridden on that side)."""

    input: float | None
    output: float | None


def normalize_config(config: Mapping[str, Any] | None, where: str = "") -> dict[str, Any]:
    """Return `config` with promptfoo's keys renamed to ours; conflicting duplicates are errors.

    apiHost ("api.example.com") becomes base_url "https://api.example.com/v1", and timeoutMs
    becomes `timeout` in seconds, as promptfoo means them.
    """
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in (config or {}).items():
        canon = _ALIASES.get(key, key)
        if key in _HOST_KEYS:
            canon, value = "base_url", _host_to_url(value, where, key)
        elif key in _MS_TIMEOUT_KEYS:
            canon, value = "timeout", _positive(value, where, key) / 1000.0
        if canon == "extra_body" or key == "passthrough":
            canon = "extra_body"
            value = {**out.get("extra_body", {}), **_mapping(value, where, key)}
        elif canon in out and out[canon] != value:
            raise ConfigError(
                f"`{origin[canon]}` and `{key}` both set, with different values; keep one",
                file=where or None,
                field=f"config.{key}",
            )
        out[canon] = value
        origin.setdefault(canon, key)
    _validate(out, where)
    return out


def canonical_keys(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """`config` with promptfoo's key spellings renamed to ours, nothing validated (for a
    plugin's config, whose other keys are its own)."""
    out: dict[str, Any] = {}
    for key, value in (config or {}).items():
        if key in _HOST_KEYS and isinstance(value, str) and value:
            out.setdefault("base_url", _host_to_url(value, "", key))
        else:
            out.setdefault(_ALIASES.get(key, key), value)
    return out


def _validate(cfg: dict[str, Any], where: str) -> None:
    for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        if key in cfg and cfg[key] is not None:
            _number(cfg[key], where, key)
    for key in ("max_tokens", "max_completion_tokens", "top_logprobs", "seed", "max_retries"):
        if key in cfg and cfg[key] is not None:
            _integer(cfg[key], where, key)
    for key in ("max_concurrency",):
        if key in cfg and _integer(cfg[key], where, key) < 1:
            raise ConfigError("must be at least 1", file=where or None, field=f"config.{key}")
    for key in ("requests_per_minute", "timeout"):
        if key in cfg and cfg[key] is not None:
            _positive(cfg[key], where, key)
    if "headers" in cfg:
        _mapping(cfg["headers"], where, "headers")
    if "base_url" in cfg and not isinstance(cfg["base_url"], str):
        raise ConfigError("must be a URL string", file=where or None, field="config.base_url")
    transport = cfg.get("transport", "aiohttp")
    if transport not in _TRANSPORTS:
        raise ConfigError(
            f"unknown transport {transport!r}; use one of {', '.join(_TRANSPORTS)}",
            file=where or None,
            field="config.transport",
        )
    price_override(cfg, where)  # validates the cost keys early


def price_override(cfg: Mapping[str, Any], where: str = "") -> PriceOverride | None:
    """The configured prices, per token, or None when the config sets none.

    Ours: `cost: {input: USD per 1M tokens, output: ...}`. promptfoo's: `cost` (a number, USD
    per token for both sides), `inputCost` / `outputCost` (USD per token); theirs win per side.
    """
    cost = cfg.get("cost")
    inp: float | None = None
    outp: float | None = None
    if isinstance(cost, Mapping):
        unknown = set(cost) - {"input", "output"}
        if unknown:
            raise ConfigError(
                f"unknown key(s) {sorted(unknown)}; expected input and output (USD per 1M tokens)",
                file=where or None,
                field="config.cost",
            )
        if cost.get("input") is not None:
            inp = _number(cost["input"], where, "cost.input") / 1e6
        if cost.get("output") is not None:
            outp = _number(cost["output"], where, "cost.output") / 1e6
    elif cost is not None:
        inp = outp = _number(cost, where, "cost")
    if cfg.get("inputCost") is not None:
        inp = _number(cfg["inputCost"], where, "inputCost")
    if cfg.get("outputCost") is not None:
        outp = _number(cfg["outputCost"], where, "outputCost")
    if inp is None and outp is None:
        return None
    return PriceOverride(inp, outp)


def split_model(provider_id: str, prefix: str, kinds: tuple[str, ...] = ("chat",)) -> str:
    """The model part of "prefix:MODEL" or "prefix:KIND:MODEL" (promptfoo's forms)."""
    rest = provider_id[len(prefix) + 1 :] if provider_id.startswith(prefix + ":") else ""
    head, sep, tail = rest.partition(":")
    if sep and head in kinds:
        return tail
    return rest


def _host_to_url(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("must be a host name", file=where or None, field=f"config.{key}")
    if "://" in value:
        return value.rstrip("/")
    return f"https://{value.strip('/')}/v1"


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"must be a number, got {value!r}", file=where or None, field=f"config.{key}"
        )
    return float(value)


def _positive(value: Any, where: str, key: str) -> float:
    number = _number(value, where, key)
    if number <= 0:
        raise ConfigError(
            f"must be greater than 0, got {value!r}", file=where or None, field=f"config.{key}"
        )
    return number


def _integer(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"must be an integer, got {value!r}", file=where or None, field=f"config.{key}"
        )
    return value


def _mapping(value: Any, where: str, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"must be a mapping, got {type(value).__name__}",
            file=where or None,
            field=f"config.{key}",
        )
    return dict(value)
