"""The OpenAI-compatible family: one wire format, different default hosts and keys."""

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


FLAVORS: dict[str, Flavor] = {
    f.prefix: f
    for f in (
        Flavor(
            "openai",
            "https://api.openai.com/v1",
            ("OPENAI_BASE_URL", "OPENAI_API_BASE_URL"),
            "OPENAI_API_KEY",
            key_required=True,
        ),
        Flavor("ollama", "http://127.0.0.1:11434/v1", ("OLLAMA_BASE_URL",), "OLLAMA_API_KEY"),
        Flavor("vllm", "http://127.0.0.1:8000/v1", ("VLLM_BASE_URL",), "VLLM_API_KEY"),
        Flavor("llamacpp", "http://127.0.0.1:8080/v1", ("LLAMACPP_BASE_URL",)),
        Flavor("lmstudio", "http://127.0.0.1:1234/v1", ("LMSTUDIO_BASE_URL",)),
        Flavor("openai-compatible", None, key_env=None),
    )
}


def resolve_base_url(flavor: Flavor, config: dict[str, Any], where: str) -> str:
    """Config base_url, else the flavor's env vars, else its default; always ending in /v1
    for hosts given without a path (OLLAMA_BASE_URL is "http://host:11434" in promptfoo)."""
    url = config.get("base_url")
    if not url:
        url = next((os.environ[e] for e in flavor.base_url_envs if os.environ.get(e)), None)
        if url and flavor.prefix == "ollama" and not url.rstrip("/").endswith("/v1"):
            url = url.rstrip("/") + "/v1"
    url = url or flavor.default_base_url
    if not url:
        raise ConfigError(
            f"{flavor.prefix} needs `base_url` (or apiBaseUrl) in its config, e.g. "
            "http://127.0.0.1:8080/v1",
            file=where or None,
            field="config.base_url",
        )
    return str(url).rstrip("/")


def key_required(flavor: Flavor, config: dict[str, Any]) -> bool:
    flag = config.get("api_key_required")
    if flag is not None:
        return bool(flag)
    return flavor.key_required or bool(config.get("api_key_env"))
