"""Moderation models for the `moderation` assertion: OpenAI's POST /v1/moderations.

Ids (a string, or a mapping `{id, config}`), as promptfoo spells them:

    openai:moderation:MODEL    omni-moderation-latest (the default), text-moderation-latest
    PREFIX:moderation:MODEL    any OpenAI-compatible flavor serving /moderations
                               (openai-compatible, vllm, ...)

The config keys are the chat adapter's (`base_url`/`apiBaseUrl`, `api_key`, `apiKeyEnvar`,
`headers`, `timeout`...). The request goes through the same client as chat and embeddings
(providers/openai_http.py), so the trust policy's checks apply unchanged: the base URL's host
(trust/egress.py), which variable may supply the key and where it may go, the resolver's address
checks under a strict policy. Creating a moderator makes no call.

promptfoo's other moderation providers (Azure Content Safety, Replicate's LlamaGuard) are
refused with a reason: they are different APIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from promptyard.errors import ConfigError
from promptyard.providers.common import (
    NOT_IDENTITY,
    check_compat_key,
    check_trusted_key_env,
    compat_client,
    split_provider_ref,
)
from promptyard.providers.config import normalize_config
from promptyard.providers.openai_flavors import FLAVORS, Flavor
from promptyard.trust import TrustPolicy

DEFAULT_MODERATION_PROVIDER = "openai:moderation:omni-moderation-latest"
DEFAULT_TIMEOUT_S = 60.0
_OTHER_APIS = {
    "azure": "Azure Content Safety is a different API from OpenAI's /moderations",
    "replicate": "Replicate's LlamaGuard moderation is not called by Promptyard",
}


@dataclass(frozen=True, slots=True)
class ModerationFlag:
    """One flagged category: promptfoo's {code, description, confidence}."""

    code: str
    confidence: float | None = None


class Moderator(Protocol):
    id: str

    async def moderate(self, texts: list[str]) -> list[list[ModerationFlag]]:
        """The flags raised for each text, in order (an empty list: nothing flagged)."""
        ...

    def cache_identity(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def is_moderation_ref(ref: Any) -> bool:
    """True when `ref` names a moderation model (`PREFIX:moderation:MODEL`, or a mapping
    with such an `id`); a chat judge named for grading is not one (promptfoo then uses its
    default moderation model)."""
    if isinstance(ref, Mapping):
        ref = ref.get("id")
    if not isinstance(ref, str):
        return False
    return ref.strip().split(":")[1:2] == ["moderation"]


def create_moderator(
    ref: str | Mapping[str, Any], *, where: str = "", trust: TrustPolicy
) -> Moderator:
    """The moderator `ref` names; ConfigError (naming `where`) for an id that names none.
    `trust` decides, as for create_provider, where the key may go and which hosts may be
    called."""
    provider_id, config = _split_ref(ref, where)
    flavor, model = _model(provider_id, where)
    return OpenAIModerator(provider_id, flavor, model, config, where=where, trust=trust)


def check_moderator_credentials(
    ref: str | Mapping[str, Any], *, where: str = "", trust: TrustPolicy | None = None
) -> None:
    """Raise ProviderAuthError naming the variable to set when the key is missing (no call)."""
    provider_id, raw_config = _split_ref(ref, where)
    check_trusted_key_env(trust, raw_config, where)
    flavor, _ = _model(provider_id, where)
    check_compat_key(provider_id, flavor, raw_config, where)


class OpenAIModerator:
    """POST {base_url}/moderations through the lean aiohttp client (providers/openai_http.py)."""

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
        self._timeout_s = float(self._config.get("timeout") or DEFAULT_TIMEOUT_S)

    async def moderate(self, texts: list[str]) -> list[list[ModerationFlag]]:
        if not texts:
            return []
        results = await self._client.moderate(texts, model=self.model, timeout_s=self._timeout_s)
        return [flags_of(r) for r in results]

    def cache_identity(self) -> dict[str, Any]:
        params = {k: v for k, v in sorted(self._config.items()) if k not in NOT_IDENTITY}
        params.pop("base_url", None)
        return {"id": self.id, "model": self.model, "base_url": self.base_url, "config": params}

    async def aclose(self) -> None:
        await self._client.aclose()


def flags_of(result: Mapping[str, Any]) -> list[ModerationFlag]:
    """promptfoo's reading of one result: when `flagged`, every category set true."""
    if not result.get("flagged"):
        return []
    categories = result.get("categories")
    scores = result.get("category_scores")
    scores = scores if isinstance(scores, Mapping) else {}
    flags = []
    for code, on in categories.items() if isinstance(categories, Mapping) else ():
        if on:
            score = scores.get(code)
            confidence = float(score) if isinstance(score, int | float) else None
            flags.append(ModerationFlag(str(code), confidence))
    return flags


def _split_ref(ref: str | Mapping[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    return split_provider_ref(
        ref,
        where,
        config_error="a moderation provider's config must be a mapping",
        id_error="a moderation provider is an id like openai:moderation:omni-moderation-latest "
        "or a mapping with `id`",
    )


def _model(provider_id: str, where: str) -> tuple[Flavor, str]:
    prefix, _, rest = provider_id.partition(":")
    kind, sep, model = rest.partition(":")
    if prefix in _OTHER_APIS:
        raise ConfigError(
            f"moderation provider {provider_id!r} is not supported: {_OTHER_APIS[prefix]}; "
            f"use {DEFAULT_MODERATION_PROVIDER} or an OpenAI-compatible /moderations endpoint",
            file=where or None,
            field="id",
        )
    flavor = FLAVORS.get(prefix)
    if flavor is None or kind != "moderation" or not sep or not model:
        raise ConfigError(
            f"{provider_id!r} is not a moderation model; write PREFIX:moderation:MODEL, e.g. "
            f"{DEFAULT_MODERATION_PROVIDER}",
            file=where or None,
            field="id",
        )
    return flavor, model
