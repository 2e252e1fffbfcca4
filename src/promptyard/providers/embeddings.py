"""Embedders for the `similar` assertion: an OpenAI-compatible embeddings API, or the offline model.

Ids (a string, or a mapping `{id, config}`; promptfoo's `{embedding: {id, config}}` also works):

    PREFIX:embedding:MODEL    PREFIX is any OpenAI-compatible flavor: openai, ollama, vllm,
    PREFIX:embeddings:MODEL   llamacpp, lmstudio, openai-compatible (promptfoo spells both kinds;
    PREFIX:MODEL              the bare form is read as an embedding model too)
    local:all-MiniLM-L6-v2    the offline model from the `embeddings` extra (canonical id)
    sentence-transformers:all-MiniLM-L6-v2             the same model
    transformers:feature-extraction:Xenova/all-MiniLM-L6-v2   the same model (promptfoo's id)

The HTTP config keys are the chat adapter's (`base_url`/`apiBaseUrl`, `api_key`, `api_key_env`/
`apiKeyEnvar`, `headers`, `timeout`, `cost`...), plus `dimensions`; the offline model takes
`device` ("cpu", "cuda"; "auto" or unset lets sentence-transformers pick).
Creating an embedder makes no call and loads no model: the HTTP client connects on its first
call; the offline model's libraries (torch, ~1.5 s to import) load on its first call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptyard.core.types import TokenUsage
from promptyard.errors import ConfigError
from promptyard.providers.base import Embedder, Embeddings
from promptyard.providers.common import (
    NOT_IDENTITY,
    check_compat_key,
    check_trusted_key_env,
    compat_client,
)
from promptyard.providers.config import normalize_config, price_override
from promptyard.providers.openai_flavors import FLAVORS, Flavor
from promptyard.providers.pricing import Pricer
from promptyard.trust import TrustPolicy

LOCAL_PREFIXES = ("local", "sentence-transformers", "transformers")
_HTTP_KINDS = ("embedding", "embeddings")
_LOCAL_KINDS = ("embedding", "embeddings", "feature-extraction")
DEFAULT_TIMEOUT_S = 60.0
# Config keys that cannot change the vectors: changing them keeps cached scores.
_NOT_IDENTITY = NOT_IDENTITY | {"api_key_required"}


def create_embedder(
    ref: str | Mapping[str, Any], *, base_dir: str = ".", where: str = "", trust: TrustPolicy
) -> Embedder:
    """The embedder `ref` names; ConfigError (naming `where`) for an unknown id or bad config.

    `base_dir` is accepted for parity with create_provider (no embedder reads files yet).
    `trust` decides, as for create_provider, which environment variable may supply the key,
    where it may go and which hosts may be called (trust/egress.py).
    """
    provider_id, raw_config = _split_ref(ref, where)
    prefix = provider_id.partition(":")[0]
    if prefix in LOCAL_PREFIXES:
        from promptyard.providers.local_embeddings import LocalEmbedder

        return LocalEmbedder(provider_id, _local_model(provider_id, where), raw_config, where=where)
    flavor, model = _http_model(provider_id, where)
    return OpenAICompatEmbedder(provider_id, flavor, model, raw_config, where=where, trust=trust)


def check_embedder_credentials(
    ref: str | Mapping[str, Any], *, where: str = "", trust: TrustPolicy | None = None
) -> None:
    """Raise ProviderAuthError naming the variable to set when a needed API key is missing.

    Call it before a run: it makes no call and loads nothing. The offline model needs no key.
    With `trust`, a variable the policy refuses is refused first, set or not.
    """
    provider_id, raw_config = _split_ref(ref, where)
    check_trusted_key_env(trust, raw_config, where)
    if provider_id.partition(":")[0] in LOCAL_PREFIXES:
        _local_model(provider_id, where)
        return
    flavor, _ = _http_model(provider_id, where)
    check_compat_key(provider_id, flavor, raw_config, where)


class OpenAICompatEmbedder:
    """POST {base_url}/embeddings through the lean aiohttp client (providers/openai_http.py)."""

    def __init__(
        self,
        provider_id: str,
        flavor: Flavor,
        model: str,
        config: Mapping[str, Any] | None = None,
        *,
        where: str = "",
        trust: TrustPolicy | None = None,
    ) -> None:
        self.id = provider_id
        self.model = model
        self._config = normalize_config(config, where)
        self._client = compat_client(provider_id, flavor, config, where=where, trust=trust)
        self.base_url = self._client.base_url
        self._pricer = Pricer(
            flavor.prefix,
            model,
            override=price_override(self._config, where),
            base_url=self.base_url,
        )
        self._timeout_s = float(self._config.get("timeout") or DEFAULT_TIMEOUT_S)
        extra: dict[str, Any] = dict(self._config.get("extra_body") or {})
        if self._config.get("dimensions") is not None:
            extra["dimensions"] = self._config["dimensions"]
        self._extra = extra

    async def embed(self, texts: list[str]) -> Embeddings:
        if not texts:
            return Embeddings(vectors=[], usage=TokenUsage(), cost=0.0)
        self._pricer.prefetch()
        vectors, usage = await self._client.embed_with_usage(
            texts, model=self.model, timeout_s=self._timeout_s, extra=self._extra
        )
        return Embeddings(vectors=vectors, usage=usage, cost=self.price(usage))

    def price(self, usage: TokenUsage) -> float | None:
        """USD for `usage`: 0.0 when local or free, None when the price or the usage is unknown."""
        if usage.prompt or usage.total:
            if not usage.prompt:  # embeddings bill input tokens; some servers send total only
                usage = TokenUsage(prompt=usage.total, total=usage.total, cached=usage.cached)
            return self._pricer(usage)
        # No usage reported: free models cost 0.0; for a priced one the spend is unknown.
        per_token = self._pricer(TokenUsage(prompt=1, total=1))
        return 0.0 if per_token == 0.0 else None

    def cache_identity(self) -> dict[str, Any]:
        params = {k: v for k, v in sorted(self._config.items()) if k not in _NOT_IDENTITY}
        params.pop("base_url", None)
        return {"id": self.id, "model": self.model, "base_url": self.base_url, "config": params}

    async def aclose(self) -> None:
        await self._client.aclose()


# -- ids ---------------------------------------------------------------------------------------


def _split_ref(ref: str | Mapping[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """(id, raw config) of a string or a mapping ref."""
    provider_id: Any
    config: Any
    if isinstance(ref, str):
        provider_id, config = ref, {}
    elif isinstance(ref, Mapping):
        if "id" not in ref and isinstance(ref.get("embedding"), Mapping | str):
            return _split_ref(ref["embedding"], where)  # promptfoo: provider: {embedding: ...}
        provider_id = ref.get("id")
        config = ref.get("config") or {}
        if not isinstance(config, Mapping):
            raise ConfigError(
                f"an embedding provider's config must be a mapping, got {type(config).__name__}",
                file=where or None,
                field="config",
            )
    else:
        raise ConfigError(
            f"an embedding provider is an id or {{id, config}}, got {type(ref).__name__}",
            file=where or None,
        )
    if not isinstance(provider_id, str) or not provider_id.strip():
        raise ConfigError("an embedding provider needs an `id`", file=where or None, field="id")
    return provider_id.strip(), dict(config)


def _http_model(provider_id: str, where: str) -> tuple[Flavor, str]:
    prefix, _, rest = provider_id.partition(":")
    flavor = FLAVORS.get(prefix)
    if flavor is None:
        known = ", ".join([*FLAVORS, *LOCAL_PREFIXES])
        raise ConfigError(
            f"unknown embedding provider {provider_id!r}; known prefixes: {known}",
            file=where or None,
            field="id",
        )
    head, sep, tail = rest.partition(":")
    if sep and head in _HTTP_KINDS:
        model = tail
    elif sep and head in ("chat", "completion", "responses", "assistant"):
        raise ConfigError(
            f"{provider_id!r} is not an embedding model; write {prefix}:embedding:MODEL",
            file=where or None,
            field="id",
        )
    else:
        model = rest
    if not model:
        raise ConfigError(
            f"embedding provider {provider_id!r} names no model; write {prefix}:embedding:MODEL",
            file=where or None,
            field="id",
        )
    return flavor, model


def _local_model(provider_id: str, where: str) -> str:
    """The bundled model's name if `provider_id` names it (any org prefix, any case)."""
    from promptyard.providers.local_embeddings import MODEL_NAME

    _, _, rest = provider_id.partition(":")
    head, sep, tail = rest.partition(":")
    name = tail if sep and head in _LOCAL_KINDS else rest
    if name.rpartition("/")[2].casefold() != MODEL_NAME.casefold():
        raise ConfigError(
            f"{provider_id!r}: the only offline embedding model is {MODEL_NAME} "
            f"(write local:{MODEL_NAME}), or use an embeddings API such as "
            "openai:embedding:text-embedding-3-small",
            file=where or None,
            field="id",
        )
    return MODEL_NAME
