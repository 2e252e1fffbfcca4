"""Prices: config overrides, the genai-prices catalogue, local models, unknown models."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from promptyard.core.types import TokenUsage
from promptyard.errors import ConfigError
from promptyard.providers import cost_of

USAGE = TokenUsage(prompt=1000, completion=500, total=1500)


def catalog(model: str, provider: str, prompt: int = 1000, completion: int = 500) -> float:
    usage = Usage(input_tokens=prompt, output_tokens=completion)
    return float(calc_price(usage, model, provider_id=provider).total_price)


def test_catalog_prices() -> None:
    assert cost_of("openai:gpt-4o-mini", USAGE) == pytest.approx(catalog("gpt-4o-mini", "openai"))
    assert cost_of("openai:chat:gpt-4o-mini", USAGE) == cost_of("openai:gpt-4o-mini", USAGE)
    assert cost_of("anthropic:messages:claude-haiku-4-5", USAGE) == pytest.approx(
        catalog("claude-haiku-4-5", "anthropic")
    )
    assert cost_of("gpt-4o-mini", USAGE) == pytest.approx(catalog("gpt-4o-mini", "openai"))


def test_cached_tokens_are_cheaper() -> None:
    cached = TokenUsage(prompt=1000, completion=500, total=1500, cached=800)
    full = cost_of("openai:gpt-4o-mini", USAGE)
    part = cost_of("openai:gpt-4o-mini", cached)
    assert full is not None and part is not None and part < full


def test_unknown_model_is_none_not_zero() -> None:
    assert cost_of("openai:no-such-model-xyz", USAGE) is None
    assert cost_of("no-such-model-xyz", USAGE) is None


def test_local_models_are_free() -> None:
    for pid in (
        "ollama:llama3.2",
        "ollama:llama3.2:1b",
        "vllm:x",
        "echo",
        "scripted",
        "python:p.py:f",
        "llamacpp:m",
        "lmstudio:m",
    ):
        assert cost_of(pid, USAGE) == 0.0, pid
    assert cost_of("openai-compatible:m", USAGE, {"base_url": "http://localhost:8080/v1"}) == 0.0
    # llama.cpp behind `openai:` on loopback: unknown to the catalogue, so local and free.
    assert cost_of("openai:my-gguf", USAGE, {"apiBaseUrl": "http://127.0.0.1:8080/v1"}) == 0.0
    # ...but a known OpenAI model through a local proxy keeps its price.
    assert cost_of("openai:gpt-4o-mini", USAGE, {"apiBaseUrl": "http://127.0.0.1:1/v1"}) == (
        pytest.approx(catalog("gpt-4o-mini", "openai"))
    )


def test_our_override_is_usd_per_million() -> None:
    cfg = {"cost": {"input": 2.0, "output": 8.0}}
    assert cost_of("openai:gpt-4o-mini", USAGE, cfg) == pytest.approx(0.002 + 0.004)
    assert cost_of("ollama:llama3.2", USAGE, cfg) == pytest.approx(0.006)
    assert cost_of("openai:no-such-model-xyz", USAGE, cfg) == pytest.approx(0.006)


def test_promptfoo_override_is_usd_per_token() -> None:
    assert cost_of("openai:gpt-4o-mini", USAGE, {"cost": 0.00001}) == pytest.approx(0.015)
    cfg = {"inputCost": 0.000001, "outputCost": 0.000002}
    assert cost_of("openai:gpt-4o-mini", USAGE, cfg) == pytest.approx(0.001 + 0.001)


def test_one_sided_override_takes_the_other_side_from_the_catalog() -> None:
    only_input = cost_of("openai:gpt-4o-mini", USAGE, {"inputCost": 0.0})
    assert only_input == pytest.approx(catalog("gpt-4o-mini", "openai", prompt=0))
    # Unknown model: the missing side has no rate, so no price (unless it has no tokens).
    assert cost_of("openai:no-such-model-xyz", USAGE, {"inputCost": 0.000001}) is None
    no_output = TokenUsage(prompt=1000, completion=0, total=1000)
    assert cost_of("openai:no-such-model-xyz", no_output, {"inputCost": 0.000001}) == (
        pytest.approx(0.001)
    )
    assert cost_of("ollama:m", USAGE, {"cost": {"output": 10.0}}) == pytest.approx(0.005)


def test_bad_cost_config_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"config\.cost.*inptu"):
        cost_of("openai:gpt-4o-mini", USAGE, {"cost": {"inptu": 1}})
    with pytest.raises(ConfigError, match=r"config\.cost\.input.*number"):
        cost_of("openai:gpt-4o-mini", USAGE, {"cost": {"input": "cheap"}})
