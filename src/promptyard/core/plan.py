"""Expand an EvalSpec into trials, lazily, in a stable order (pure).

Order: case, then prompt, then provider, then sample, so a trial's index is stable across
re-runs of the same spec (resume and cache rely on that).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from promptyard.core.hashing import content_hash
from promptyard.core.types import EvalSpec, PromptTemplate, ProviderSpec, TestCase
from promptyard.errors import ConfigError


@dataclass(slots=True, frozen=True)
class PlannedTrial:
    index: int
    case_index: int
    case_id: str
    test: TestCase
    prompt: PromptTemplate
    provider_index: int
    provider: ProviderSpec
    sample: int
    prompt_index: int = 0


def case_id(test: TestCase) -> str:
    """A content hash that pairs the same case across runs."""
    return content_hash(
        {
            "description": test.description,
            "vars": test.vars,
            "assert": [a.to_dict() for a in test.assertions],
        }
    )


def runs_prompt(provider: ProviderSpec, prompt: PromptTemplate) -> bool:
    """promptfoo's provider `prompts` filter: a prompt runs when the list names its label or
    id, or a prefix of its label up to a colon ("group" matches "group:a")."""
    allowed = provider.prompts
    if allowed is None:
        return True
    return any(
        name == prompt.label or name == prompt.id or prompt.label.startswith(f"{name}:")
        for name in allowed
    )


def pair_count(spec: EvalSpec) -> int:
    """The (prompt, provider) pairs that run: each case's trials per sample."""
    if all(p.prompts is None for p in spec.providers):
        return len(spec.prompts) * len(spec.providers)
    return sum(runs_prompt(v, p) for p in spec.prompts for v in spec.providers)


def prompt_configs(spec: EvalSpec) -> dict[tuple[int, int], ProviderSpec]:
    """The provider settings per-prompt `config` asks for, by (provider index, prompt index):
    the provider with the prompt's config laid over its own (promptfoo's shallow merge). Only
    pairs that run and whose prompt has a config are listed."""
    out: dict[tuple[int, int], ProviderSpec] = {}
    for prompt_index, prompt in enumerate(spec.prompts):
        if not prompt.config:
            continue
        for provider_index, provider in enumerate(spec.providers):
            if runs_prompt(provider, prompt):
                out[provider_index, prompt_index] = replace(
                    provider, config={**provider.config, **prompt.config}
                )
    return out


def trial_count(spec: EvalSpec) -> int:
    return len(spec.tests) * pair_count(spec) * spec.options.repeat


def plan_trials(spec: EvalSpec) -> Iterator[PlannedTrial]:
    index = 0
    filtered = any(p.prompts is not None for p in spec.providers)
    for case_index, test in enumerate(spec.tests):
        cid = case_id(test)
        for prompt_index, prompt in enumerate(spec.prompts):
            for provider_index, provider in enumerate(spec.providers):
                if filtered and not runs_prompt(provider, prompt):
                    continue
                for sample in range(spec.options.repeat):
                    yield PlannedTrial(
                        index,
                        case_index,
                        cid,
                        test,
                        prompt,
                        provider_index,
                        provider,
                        sample,
                        prompt_index,
                    )
                    index += 1


def select_tests(
    tests: list[TestCase], *, pattern: str | None = None, first_n: int | None = None
) -> list[TestCase]:
    """promptfoo's --filter-pattern (regex on the description) and --filter-first-n."""
    selected = tests
    if pattern:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ConfigError(
                f"not a valid regular expression: {exc}", field="filter_pattern"
            ) from None
        selected = [t for t in selected if regex.search(t.description or "")]
    if first_n is not None:
        if first_n < 0:
            raise ConfigError("must not be negative", field="filter_first_n")
        selected = selected[:first_n]
    return selected
