"""The on-disk memo of genai-prices rates: exact for flat prices, never used for tiered ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptyard.core.types import TokenUsage
from promptyard.providers import pricing
from promptyard.providers.price_memo import (
    TIERED,
    UNPRICED,
    PriceFn,
    PriceMemo,
    linear_rates,
    model_key,
)


def catalog(model: str) -> PriceFn:
    def price(prompt: int, cached: int, completion: int) -> float | None:
        return pricing._catalog_price("openai" if "gpt" in model else "anthropic", None, model,
                                      prompt, completion, cached)  # fmt: skip

    return price


def test_flat_prices_give_exact_rates() -> None:
    rates = linear_rates(catalog("gpt-4o-mini"))
    assert rates == pytest.approx((0.15e-6, 0.075e-6, 0.6e-6))


def test_tiered_prices_are_refused() -> None:
    # claude-sonnet-4-5 costs more per token past 200k input tokens: not linear.
    assert linear_rates(catalog("claude-sonnet-4-5")) is None


def test_memo_round_trips_through_its_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    memo = PriceMemo(path)
    memo.learn("a", catalog("gpt-4o-mini"))
    memo.learn("b", catalog("claude-sonnet-4-5"))
    memo.learn("c", lambda p, c, o: None)
    again = PriceMemo(path)
    assert again.lookup("a") == pytest.approx((0.15e-6, 0.075e-6, 0.6e-6))
    assert (again.lookup("b"), again.lookup("c"), again.lookup("d")) == (TIERED, UNPRICED, None)
    assert set(json.loads(path.read_text())) == {"a", "b", "c"}


def test_a_corrupt_memo_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text("{not json")
    assert PriceMemo(path).lookup("a") is None


@pytest.mark.parametrize(
    "usage", [TokenUsage(1234, 567, 1801, 0), TokenUsage(5000, 10, 5010, 4000)]
)
def test_memoised_price_equals_the_catalogs(usage: TokenUsage) -> None:
    pricer = pricing.Pricer("openai", "gpt-4o-mini")
    key = model_key("openai", None, "gpt-4o-mini")
    pricing.memo().learn(key, catalog("gpt-4o-mini"))
    expected = pricing._catalog_price("openai", None, "gpt-4o-mini", usage.prompt,
                                      usage.completion, usage.cached)  # fmt: skip
    assert pricer(usage) == pytest.approx(expected, rel=1e-12)
