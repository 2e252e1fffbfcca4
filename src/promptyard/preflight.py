"""A run's pre-flight: everything `evaluate_async` does before its first call (build the
grader, validate every test, check credentials, build the providers and the nunjucks filters),
and `check_config` / `check_tests`, which do it without a run. A composition root's part, like
library.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptyard.core.types import EvalSpec
from promptyard.errors import ConfigError
from promptyard.judge_models import RunJudgeModels, StoreJudgeCache, build_provider
from promptyard.settings import Settings, load_settings
from promptyard.trust import TrustPolicy

if TYPE_CHECKING:
    from promptyard.library import EvalRequest
    from promptyard.providers.base import Provider
    from promptyard.scorers import Grader
    from promptyard.scorers.judge import Judge


def _new_grader(
    spec: EvalSpec,
    settings: Settings,
    trust: TrustPolicy,
    judge_models: RunJudgeModels,
    *,
    cache_store: Any = None,
    prestart_js: bool = True,
) -> Grader:
    from promptyard.scorers import Grader

    def make_judge() -> Judge:
        from promptyard.scorers.judge import Judge

        cache = StoreJudgeCache(cache_store) if cache_store is not None else None
        return Judge(judge_models, cache=cache, base_dir=spec.base_dir)

    return Grader(
        base_dir=spec.base_dir,
        trust=trust,
        js_timeout_ms=settings.js_timeout_ms,
        js_max_memory_bytes=settings.js_max_memory_mb * 2**20,
        judge=make_judge,
        prestart_js=prestart_js,
        providers=spec.providers,
    )


def _check_spec(spec: EvalSpec, grader: Grader, trust: TrustPolicy) -> None:
    """What a run checks before its first call, in order: every assertion (which builds each
    judge and embedding model through the policy), then the task providers' credentials."""
    from promptyard.providers import check_credentials

    _validate_tests(spec, grader)
    for provider_spec in spec.providers:
        check_credentials(provider_spec, trust=trust)
    filters = _load_filters(spec, trust)  # a bad or refused filter file stops the run here
    if filters is not None:
        filters.close()


def _load_filters(spec: EvalSpec, trust: TrustPolicy, settings: Settings | None = None) -> Any:
    """The config's nunjucksFilters (JS in the sandbox, Python where allowed), or None."""
    if not spec.raw_config.get("nunjucksFilters"):
        return None
    from promptyard.scorers.nunjucks_filters import load_nunjucks_filters

    settings = settings or load_settings()
    return load_nunjucks_filters(spec.raw_config.get("nunjucksFilters"), base_dir=spec.base_dir,
                                 trust=trust, js_timeout_ms=settings.js_timeout_ms,
                                 js_max_memory_bytes=settings.js_max_memory_mb * 2**20)  # fmt: skip


def check_tests(
    spec: EvalSpec, *, settings: Settings | None = None, trust: TrustPolicy | None = None
) -> EvalSpec:
    """Validate every test's assertions as a run does before its first call (building judge
    and embedding models through `trust`, calling none), without building the task providers
    or checking their credentials. Returns the spec."""
    settings = settings or load_settings()
    trust = trust or TrustPolicy.local(settings)
    judge_models = RunJudgeModels(settings, spec.options, spec.base_dir, trust=trust)
    grader = _new_grader(spec, settings, trust, judge_models, prestart_js=False)
    try:
        _validate_tests(spec, grader)
    finally:
        grader.close()
        _close_now([], judge_models)
    return spec


def _validate_tests(spec: EvalSpec, grader: Grader) -> None:
    """Every test's assertions; in a promptfoo config (spec.errored_tests) a test whose
    assertion is refused (an unknown type, an unsupported model kind, a missing value) is
    marked errored, with the reason, and the others run."""
    for test in spec.tests:
        if test.error is not None:
            continue
        if not spec.errored_tests:
            grader.validate_test(test)
            continue
        try:
            grader.validate_test(test)
        except ConfigError as exc:
            test.error = str(exc)


def check_config(
    config: str | Path | Mapping[str, Any] | EvalSpec,
    *,
    base_dir: str | Path | None = None,
    settings: Settings | None = None,
    trust: TrustPolicy | None = None,
    request: EvalRequest | None = None,
    proposer: Any = None,
) -> EvalSpec:
    """Everything `evaluate_async` does before its first call, and no call: load the config,
    validate every assertion (building each judge and embedding model), check the task
    providers' credentials and build each one (and the optimizer's `proposer`, when given),
    all under `trust`; then close what was built. Raises ConfigError naming the field (or
    ProviderAuthError naming the variable to set). Returns the loaded spec.

    Synchronous: it runs user code only where `trust` allows Python (importing a python:
    provider's file), so the server calls it from a worker thread."""
    from promptyard.library import load_spec

    settings = settings or load_settings()
    trust = trust or TrustPolicy.local(settings)
    if isinstance(config, EvalSpec):
        spec = config
    else:
        spec = load_spec(config, base_dir=base_dir, request=request, trust=trust)
    judge_models = RunJudgeModels(settings, spec.options, spec.base_dir, trust=trust)
    grader = _new_grader(spec, settings, trust, judge_models, prestart_js=False)
    providers: list[Provider] = []
    try:
        _check_spec(spec, grader, trust)
        for provider_spec in spec.providers:
            providers.append(build_provider(provider_spec, base_dir=spec.base_dir, trust=trust))
        _build_variants(spec, trust, providers)
        if proposer not in (None, ""):
            judge_models.check(proposer, "chat", "proposer_model")
    finally:
        grader.close()
        _close_now(providers, judge_models)
    return spec


def _build_variants(
    spec: EvalSpec, trust: TrustPolicy, built: list[Provider]
) -> dict[tuple[int, int], Provider]:
    """The providers per-prompt `config` asks for (core.plan.prompt_configs), built under
    `trust` like the others; each is appended to `built` too, so the caller closes it."""
    from promptyard.core.plan import prompt_configs

    variants: dict[tuple[int, int], Provider] = {}
    for key, provider_spec in prompt_configs(spec).items():
        provider = build_provider(provider_spec, base_dir=spec.base_dir, trust=trust)
        built.append(provider)
        variants[key] = provider
    return variants


def _close_now(providers: Sequence[Provider], judge_models: RunJudgeModels) -> None:
    """Close providers that never made a call, from synchronous code (a loop of their own,
    on this thread unless it already runs one)."""

    async def close() -> None:
        for provider in providers:
            await provider.aclose()
        await judge_models.aclose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(close())
        return
    worker = threading.Thread(target=asyncio.run, args=(close(),), name="promptyard-close")
    worker.start()
    worker.join()
