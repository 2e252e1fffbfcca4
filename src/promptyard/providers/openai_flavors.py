"""The OpenAI-compatible family: one wire format, different default hosts and keys.

Each flavor is a promptfoo provider prefix with promptfoo's documented variables: its default
base URL, the variables that override it, and the variable(s) its key comes from (the first
one set wins). The server's trust policy sends each vendor's key only to that vendor's hosts
(trust/policy.py VENDOR_KEY_HOSTS).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from promptyard.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Flavor:
    prefix: str
    default_base_url: str | None
    base_url_envs: tuple[str, ...] = ()
    key_env: str | None = None
    key_required: bool = False
    kinds: tuple[str, ...] = ("chat",)  # "prefix:chat:MODEL" is the same as "prefix:MODEL"
    alt_key_envs: tuple[str, ...] = ()  # read when key_env is unset (GOOGLE_API_KEY, ...)
    host_envs: tuple[str, ...] = ()  # a bare host ("api.example.com"), as promptfoo's *_API_HOST
    host_path: str = "/v1"  # appended to a host from host_envs
    azure: bool = False  # deployments URL, api-version query, `api-key` header


def _f(prefix: str, url: str, key: str, *more_keys: str, **kw: Any) -> Flavor:
    """A hosted vendor: its key is required."""
    return Flavor(prefix, url, key_env=key, alt_key_envs=more_keys, key_required=True, **kw)


_GEMINI = "https://generativelanguage.googleapis.com/v1beta/openai"

FLAVORS: dict[str, Flavor] = {
    f.prefix: f
    for f in (
        Flavor(
            "openai",
            "https://api.openai.com/v1",
            ("OPENAI_BASE_URL", "OPENAI_API_BASE_URL"),
            "OPENAI_API_KEY",
            key_required=True,
            kinds=("chat", "responses"),  # responses: the SDK transport (openai_sdk.py)
            host_envs=("OPENAI_API_HOST",),
        ),
        Flavor("ollama", "http://127.0.0.1:11434/v1", ("OLLAMA_BASE_URL",), "OLLAMA_API_KEY"),
        Flavor("vllm", "http://127.0.0.1:8000/v1", ("VLLM_BASE_URL",), "VLLM_API_KEY"),
        Flavor("llamacpp", "http://127.0.0.1:8080/v1", ("LLAMACPP_BASE_URL",)),
        Flavor("lmstudio", "http://127.0.0.1:1234/v1", ("LMSTUDIO_BASE_URL",)),
        Flavor("localai", "http://127.0.0.1:8080/v1", ("LOCALAI_BASE_URL",)),
        Flavor("litellm", "http://127.0.0.1:4000", ("LITELLM_BASE_URL",), "LITELLM_API_KEY"),
        Flavor("openai-compatible", None, key_env=None),
        # Hosted OpenAI-compatible APIs (promptfoo's prefixes and variables).
        Flavor(
            "azure",
            None,
            ("AZURE_API_BASE_URL", "AZURE_OPENAI_API_BASE_URL", "AZURE_OPENAI_BASE_URL"),
            "AZURE_API_KEY",
            key_required=True,
            alt_key_envs=("AZURE_OPENAI_API_KEY",),
            host_envs=("AZURE_API_HOST", "AZURE_OPENAI_API_HOST"),
            host_path="",
            azure=True,
        ),
        _f("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        _f("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        _f("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
        _f("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        _f(
            "mistral",
            "https://api.mistral.ai/v1",
            "MISTRAL_API_KEY",
            base_url_envs=("MISTRAL_API_BASE_URL",),
            host_envs=("MISTRAL_API_HOST",),
        ),
        _f("perplexity", "https://api.perplexity.ai", "PERPLEXITY_API_KEY"),
        _f("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
        _f("xai", "https://api.x.ai/v1", "XAI_API_KEY"),
        _f("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
        # Gemini through Google's OpenAI-compatible endpoint (promptfoo's `google:` ids).
        _f("google", _GEMINI, "GEMINI_API_KEY", "GOOGLE_API_KEY"),
        _f("gemini", _GEMINI, "GEMINI_API_KEY", "GOOGLE_API_KEY"),
    )
}

AZURE_API_VERSION = "2024-10-21"  # the newest GA data-plane version; `apiVersion` overrides


def key_envs(flavor: Flavor) -> tuple[str, ...]:
    return ((flavor.key_env,) if flavor.key_env else ()) + flavor.alt_key_envs


def default_key_env(flavor: Flavor) -> str | None:
    """The variable this flavor's key comes from: the first of its variables that is set,
    else the first one (named in a "set ..." message)."""
    names = key_envs(flavor)
    return next((e for e in names if os.environ.get(e)), names[0] if names else None)


def resolve_base_url(flavor: Flavor, config: dict[str, Any], where: str) -> str:
    """Config base_url, else the flavor's env vars, else its default; always ending in /v1
    for hosts given without a path (OLLAMA_BASE_URL is "http://host:11434" in promptfoo)."""
    url = config.get("base_url")
    if not url:
        url = next((os.environ[e] for e in flavor.base_url_envs if os.environ.get(e)), None)
        if url and flavor.prefix == "ollama" and not url.rstrip("/").endswith("/v1"):
            url = url.rstrip("/") + "/v1"
    if not url:
        host = next((os.environ[e] for e in flavor.host_envs if os.environ.get(e)), None)
        if host:
            host = host.strip().rstrip("/")
            url = host if "://" in host else f"https://{host}{flavor.host_path}"
    url = url or flavor.default_base_url
    if not url:
        example = (
            "apiHost: NAME.openai.azure.com (or AZURE_API_HOST)"
            if flavor.azure
            else "`base_url` (or apiBaseUrl) in its config, e.g. http://127.0.0.1:8080/v1"
        )
        raise ConfigError(
            f"{flavor.prefix} needs {example}", file=where or None, field="config.base_url"
        )
    return str(url).rstrip("/")


def key_required(flavor: Flavor, config: dict[str, Any]) -> bool:
    flag = config.get("api_key_required")
    if flag is not None:
        return bool(flag)
    return flavor.key_required or bool(config.get("api_key_env"))
