"""The concrete judge and embedding models of a run (a composition root's part, like library.py).

Turns what a config writes as a grading `provider` (an id, `{id, label, config}`, nothing for
the default) into providers wrapped in the same call policy as the task's, built once per
distinct reference and closed with the run. The judge's response cache is the run store's.

Every model is built through the run's trust policy (`build_provider`): a python:/file://
judge or proposer is refused where Python is off, and confined to the project folder where
the policy confines files. check() builds the model, so a refused one stops the run (and a
server's submit) before any call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from promptyard.core.types import Completion, CompletionRequest, EvalOptions, ProviderSpec
from promptyard.errors import ConfigError
from promptyard.settings import Settings
from promptyard.trust import TrustPolicy

if TYPE_CHECKING:
    from promptyard.engine.budget import Budget
    from promptyard.providers.base import Embedder, Provider
    from promptyard.providers.classification import Classifier
    from promptyard.providers.moderation import Moderator
    from promptyard.providers.policy import CallPolicy


class _CacheStore(Protocol):
    def cache_get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def cache_put_many(self, items: Mapping[str, dict[str, Any]]) -> None: ...


def provider_spec(ref: Any, default: str, where: str = "options.provider") -> ProviderSpec:
    if ref is None or ref == "":
        return ProviderSpec(id=default, where=where)
    if isinstance(ref, str):
        return ProviderSpec(id=ref, where=where)
    if isinstance(ref, Mapping) and isinstance(ref.get("id"), str):
        config = ref.get("config") or {}
        if not isinstance(config, Mapping):
            raise ConfigError("a grading provider's `config` must be a mapping", field=where)
        return ProviderSpec(id=ref["id"], label=ref.get("label"), config=dict(config), where=where)
    raise ConfigError(
        "a grading provider is an id like openai:gpt-4.1-mini or a mapping with `id`", field=where
    )


def build_provider(spec: ProviderSpec, *, base_dir: str, trust: TrustPolicy) -> Provider:
    """create_provider, after the policy has checked a python:/file:// provider's file (the
    registry's factory knows no policy, so its file rules are applied here first)."""
    from promptyard.providers import create_provider
    from promptyard.providers.registry import PYTHON_PREFIXES, provider_prefix

    if isinstance(spec.id, str) and provider_prefix(spec.id) in PYTHON_PREFIXES:
        from promptyard.providers.pyfunc import check_python_provider

        check_python_provider(spec, base_dir=base_dir, trust=trust)
    return create_provider(spec, base_dir=base_dir, trust=trust)


class _PolicyModel:
    """A judge model: the provider behind the task's retry, timeout and concurrency policy."""

    def __init__(self, provider: Provider, policy: CallPolicy, budget: Budget | None) -> None:
        self.id = provider.id
        self._provider = provider
        self._policy = policy
        self._budget = budget

    async def complete(self, request: CompletionRequest) -> Completion:
        completion = await self._policy.complete(request)
        if self._budget is not None:
            self._budget.charge(completion.cost)
        return completion

    def cache_identity(self) -> dict[str, Any]:
        return self._provider.cache_identity()


class RunJudgeModels:
    """JudgeModels for one run: default models from settings, providers built on first use."""

    def __init__(
        self,
        settings: Settings,
        options: EvalOptions,
        base_dir: str,
        *,
        trust: TrustPolicy,
        budget: Budget | None = None,
    ) -> None:
        self._trust = trust  # judges, embedders and proposers are built under the run's policy
        self._budget = budget  # judge calls are counted in the run's budget
        self._settings = settings
        self._options = options
        self._base_dir = base_dir
        self._chat: dict[str, _PolicyModel] = {}
        self._embedders: dict[str, Embedder] = {}
        self._moderators: dict[str, Moderator] = {}
        self._classifiers: dict[str, Classifier] = {}

    def _chat_spec(self, ref: Any, where: str = "") -> ProviderSpec:
        return provider_spec(ref, self._settings.judge_provider, where or "options.provider")

    def _embedding_ref(self, ref: Any) -> Any:
        return ref if ref not in (None, "") else self._settings.embedding_provider

    def check(self, ref: Any, kind: str, where: str = "") -> None:
        """Credentials first (naming the variable to set), then the model is built through
        the policy and kept for the run: a refused judge stops the run before any call."""
        if kind == "embedding":
            from promptyard.providers.embeddings import check_embedder_credentials

            check_embedder_credentials(self._embedding_ref(ref), where=where, trust=self._trust)
            self.embedder(ref, where)
            return
        if kind == "moderation":
            from promptyard.providers.moderation import check_moderator_credentials

            ref = self._moderation_ref(ref)
            check_moderator_credentials(ref, where=where, trust=self._trust)
            self.moderator(ref, where)
            return
        if kind == "classification":
            self.classifier(ref, where)  # a token is optional: nothing else to check
            return
        from promptyard.providers import check_credentials

        check_credentials(self._chat_spec(ref, where), trust=self._trust)
        self.chat(ref, where)

    def chat(self, ref: Any, where: str = "") -> _PolicyModel:
        spec = self._chat_spec(ref, where)
        key = json.dumps([spec.id, spec.config], sort_keys=True, default=str)
        model = self._chat.get(key)
        if model is None:
            from promptyard.providers.policy import CallPolicy

            provider = build_provider(spec, base_dir=self._base_dir, trust=self._trust)
            policy = CallPolicy.from_config(provider, spec.config, self._options, where=spec.where)
            model = self._chat[key] = _PolicyModel(provider, policy, self._budget)
        return model

    def embedder(self, ref: Any, where: str = "") -> Embedder:
        ref = self._embedding_ref(ref)
        key = json.dumps(ref, sort_keys=True, default=str)
        embedder = self._embedders.get(key)
        if embedder is None:
            from promptyard.providers.embeddings import create_embedder

            embedder = self._embedders[key] = create_embedder(
                ref, base_dir=self._base_dir, where=where, trust=self._trust
            )
        return embedder

    @staticmethod
    def _moderation_ref(ref: Any) -> Any:
        """The moderation model `ref` names, else promptfoo's default (a chat judge named for
        grading is not a moderation model: promptfoo then falls back to its default too)."""
        from promptyard.providers.moderation import DEFAULT_MODERATION_PROVIDER, is_moderation_ref

        return ref if is_moderation_ref(ref) else DEFAULT_MODERATION_PROVIDER

    def moderator(self, ref: Any, where: str = "") -> Moderator:
        ref = self._moderation_ref(ref)
        key = json.dumps(ref, sort_keys=True, default=str)
        moderator = self._moderators.get(key)
        if moderator is None:
            from promptyard.providers.moderation import create_moderator

            moderator = self._moderators[key] = create_moderator(
                ref, where=where, trust=self._trust
            )
        return moderator

    def classifier(self, ref: Any, where: str = "") -> Classifier:
        key = json.dumps(ref, sort_keys=True, default=str)
        classifier = self._classifiers.get(key)
        if classifier is None:
            from promptyard.providers.classification import create_classifier

            classifier = self._classifiers[key] = create_classifier(
                ref, where=where, trust=self._trust
            )
        return classifier

    async def aclose(self) -> None:
        for classifier in self._classifiers.values():
            await classifier.aclose()
        self._classifiers.clear()
        for model in self._chat.values():
            await model._provider.aclose()
        for embedder in self._embedders.values():
            await embedder.aclose()
        for moderator in self._moderators.values():
            await moderator.aclose()
        self._chat.clear()
        self._embedders.clear()
        self._moderators.clear()


class StoreJudgeCache:
    """The judge's response cache on the run store (which the engine calls from threads)."""

    def __init__(self, store: _CacheStore) -> None:
        self._store = store

    async def get(self, key: str) -> dict[str, Any] | None:
        hits = await asyncio.to_thread(self._store.cache_get_many, [key])
        return hits.get(key)

    async def put(self, key: str, value: dict[str, Any]) -> None:
        await asyncio.to_thread(self._store.cache_put_many, {key: value})


class CachedChat:
    """A chat model whose replies are kept in the response cache (the optimizer's proposer):
    a re-run or a resumed job gets the same proposals without paying for them again. A
    cached reply costs 0."""

    def __init__(self, model: _PolicyModel, cache: StoreJudgeCache) -> None:
        self.id = model.id
        self._model = model
        self._cache = cache

    async def complete(self, request: CompletionRequest) -> Completion:
        from promptyard.core.hashing import content_hash

        key = content_hash({"chat": self._model.cache_identity(), "m": request.messages,
                            "sample": request.sample}, size=20)  # fmt: skip
        hit = await self._cache.get(key)
        if hit is not None:
            return Completion(output=hit["output"], cost=0.0, cached=True)
        completion = await self._model.complete(request)
        await self._cache.put(key, {"output": completion.output})
        return completion
