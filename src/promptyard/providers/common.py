"""What every adapter shares: identity, pricing, credentials lookup, token estimates."""

from __future__ import annotations

import os
from typing import Any

from promptyard.core.types import ProviderSpec, TokenUsage
from promptyard.errors import ProviderAuthError
from promptyard.providers.config import normalize_config, price_override
from promptyard.providers.pricing import Pricer

# Config keys that cannot change an answer: they stay out of cache keys, so changing them
# (a new key, a higher concurrency, a price) keeps the cached answers.
NOT_IDENTITY = frozenset(
    {
        "api_key", "api_key_env", "max_concurrency", "requests_per_minute", "max_retries",
        "timeout", "transport", "cost", "inputCost", "outputCost",
    }
)  # fmt: skip


class BaseProvider:
    """Holds id/label/config and a Pricer; adapters add `complete`."""

    def __init__(self, spec: ProviderSpec, *, prefix: str, model: str) -> None:
        self.id = spec.id
        self.label = spec.label or spec.id
        self.where = spec.where
        self.config: dict[str, Any] = normalize_config(spec.config, spec.where)
        self.model = model
        self.prefix = prefix
        self.pricer = self.make_pricer(self.config.get("base_url"))

    def make_pricer(self, base_url: str | None) -> Pricer:
        return Pricer(
            self.prefix,
            self.model,
            override=price_override(self.config, self.where),
            base_url=base_url,
        )

    def cache_identity(self) -> dict[str, Any]:
        params = {k: v for k, v in sorted(self.config.items()) if k not in NOT_IDENTITY}
        return {"id": self.id, "model": self.model, "config": params}

    async def aclose(self) -> None:
        return None


def resolve_api_key(
    config: dict[str, Any], default_env: str | None
) -> tuple[str | None, str | None]:
    """(key, env var it should come from): config api_key, else api_key_env, else default."""
    key = config.get("api_key")
    if key:
        return str(key), None
    env = config.get("api_key_env") or default_env
    if not env:
        return None, None
    return os.environ.get(env) or None, env


def require_api_key(provider_id: str, config: dict[str, Any], default_env: str | None) -> str:
    key, env = resolve_api_key(config, default_env)
    if key:
        return key
    raise ProviderAuthError(
        f"no API key: set the environment variable {env} (or `api_key` / `api_key_env` in the "
        "provider config)",
        provider=provider_id,
    )


def estimate_usage(prompt: str, output: str) -> TokenUsage:
    """Whitespace words as tokens: a cheap, deterministic stand-in for local providers."""
    p = len(prompt.split())
    c = len(output.split())
    return TokenUsage(prompt=p, completion=c, total=p + c)


def usage_from_token_usage(raw: Any) -> TokenUsage:
    """promptfoo's `tokenUsage` mapping ({prompt, completion, total, cached}) as TokenUsage;
    a missing total is prompt + completion."""
    usage = TokenUsage(
        prompt=int(raw.get("prompt") or 0),
        completion=int(raw.get("completion") or 0),
        total=int(raw.get("total") or 0),
        cached=int(raw.get("cached") or 0),
    )
    usage.total = usage.total or usage.prompt + usage.completion
    return usage


def import_vendor(module: str, pip_name: str, where: str = "") -> Any:
    """Import a vendor SDK on first use (they cost ~1 s); say how to install it if missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        from promptyard.errors import ConfigError

        raise ConfigError(
            f"this provider needs the `{module}` package: pip install '{pip_name}'",
            file=where or None,
        ) from None
