"""Spend caps (engine/budget.py) on their own and driving the real engine: a real SQLite store,
the `scripted` provider and the local stub over HTTP, the real grader. Nothing is mocked."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.stub_server import StubServer
from tests.integration.enginetools import Harness

from promptyard.core.types import TokenUsage
from promptyard.engine.budget import (
    DEFAULT_COMPLETION_TOKENS,
    Budget,
    calls_affordable,
    completion_tokens,
    estimate_call_cost,
    prompt_tokens,
)
from promptyard.engine.runner import RunOutcome
from promptyard.store import Store

# -- Budget on its own --------------------------------------------------------------------


def test_reserve_counts_in_flight_reservations_against_the_cap() -> None:
    b = Budget(max_cost_usd=1.0)
    r1 = b.try_reserve(0.4)
    r2 = b.try_reserve(0.4)
    assert r1 and r2
    assert b.reserved_usd == pytest.approx(0.8) and b.spent_usd == 0.0
    assert b.try_reserve(0.3) is None  # 0.8 held + 0.3 > 1.0, though nothing is spent yet
    assert b.exhausted_reason is not None and "max_cost_usd 1" in b.exhausted_reason
    b.settle(r1, 0.1)
    b.settle(r2, 0.25)
    assert b.spent_usd == pytest.approx(0.35)
    assert b.reserved_usd == 0.0
    assert b.calls == 2
    # Refusal is sticky: the room freed by settling does not reopen the budget.
    assert b.try_reserve(0.01) is None


def test_settle_unknown_cost_counts_the_estimate() -> None:
    b = Budget(max_cost_usd=10.0)
    r = b.try_reserve(0.5)
    assert r is not None
    b.settle(r, None)
    assert b.spent_usd == 0.5


def test_settle_twice_is_an_error() -> None:
    b = Budget()
    r = b.try_reserve(0.1)
    assert r is not None
    b.settle(r, 0.1)
    with pytest.raises(ValueError, match="already settled"):
        b.settle(r, 0.1)


def test_float_sums_do_not_overshoot_an_exact_cap() -> None:
    b = Budget(max_cost_usd=0.3)
    for _ in range(3):
        r = b.try_reserve(0.1)
        assert r is not None
        b.settle(r, 0.1)
    assert b.try_reserve(0.1) is None


def test_max_calls_and_deadline() -> None:
    b = Budget(max_calls=2)
    assert b.try_reserve(0.0) and b.try_reserve(0.0)
    assert b.try_reserve(0.0) is None
    assert b.exhausted_reason == "max_calls 2 reached"
    past = Budget(deadline=time.monotonic() - 1.0)
    assert past.try_reserve(0.0) is None
    assert past.exhausted_reason == "deadline passed"
    with pytest.raises(ValueError):
        Budget().try_reserve(-1.0)


def test_calls_affordable() -> None:
    assert calls_affordable(Budget(), 0.1) is None
    b = Budget(max_cost_usd=1.0, max_calls=50)
    assert calls_affordable(b, 0.1) == 10
    assert calls_affordable(b, 0.0) == 50  # free calls are capped by max_calls only
    r = b.try_reserve(0.2)
    assert r is not None
    assert calls_affordable(b, 0.1) == 8
    b.settle(r, 0.5)
    assert calls_affordable(b, 0.1) == 5
    assert calls_affordable(b, 1.0) == 0


def test_estimates() -> None:
    assert estimate_call_cost((1e-6, 2e-6), 1000, 500) == pytest.approx(0.002)

    def pricer(u: TokenUsage) -> float | None:
        return u.prompt * 1e-3 + u.completion * 1e-2

    assert estimate_call_cost(pricer, 10, 2) == pytest.approx(0.03)
    assert estimate_call_cost(lambda u: None, 10, 2) == 0.0  # unknown price
    assert estimate_call_cost(object(), 10, 2) == 0.0  # no pricer at all
    assert prompt_tokens("") == 1 and prompt_tokens("abcde") == 2
    assert completion_tokens({"max_tokens": 64}) == 64
    assert completion_tokens({}) == DEFAULT_COMPLETION_TOKENS


def test_budget_is_thread_safe() -> None:
    b = Budget(max_cost_usd=100.0)
    barrier = threading.Barrier(8)
    granted = [0] * 8

    def spend(i: int) -> None:
        barrier.wait()
        for _ in range(2000):
            r = b.try_reserve(0.01)
            if r is None:
                return
            granted[i] += 1
            b.settle(r, 0.01)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 100 / 0.01 calls fit, not one more, and every grant is accounted for exactly once.
    assert sum(granted) == b.calls == 10_000
    assert b.spent_usd == pytest.approx(100.0)
    assert b.reserved_usd == 0.0
    assert b.try_reserve(0.01) is None


# -- the engine ---------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'runs.db'}") as s:
        yield s


def stub_config(stub: StubServer, cases: int, concurrency: int, **config: Any) -> dict[str, Any]:
    return {
        "prompts": ["Q {{n}} x"],
        "providers": [
            {
                "id": "openai:chat:gpt-4o-mini",
                "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test", **config},
            }
        ],
        "tests": [{"vars": {"n": i}} for i in range(cases)],
        "evaluateOptions": {"maxConcurrency": concurrency},
    }


def assert_stopped_by_budget(h: Harness, out: RunOutcome) -> None:
    assert out.status == "cancelled"
    assert out.summary["budget"]["stopped"] is not None
    assert out.summary["stopped_by"].startswith("budget: ")
    run = h.store.get_run(out.run_id)
    assert run.status == "cancelled"
    assert run.summary["stopped_by"] == out.summary["stopped_by"]


async def test_cost_cap_stops_the_run_within_one_call_per_slot(
    h: Harness, stub_server: StubServer
) -> None:
    stub_server.set_latency(20)
    # USD per token, so both the estimate and the real cost are exact and large enough to see.
    # Estimate: ceil(len("Q 7 x") / 4) = 2 prompt + 10 (max_tokens) completion = 0.012.
    # Real: the stub counts words and echoes the 3-word prompt, so at least 3 + 3 = 0.006.
    price = {"inputCost": 0.001, "outputCost": 0.001, "max_tokens": 10}
    concurrency, cap, cheapest = 4, 0.06, 0.006
    spec = h.spec(stub_config(stub_server, 40, concurrency, **price))
    budget = Budget(max_cost_usd=cap)
    out = await h.run(spec, budget=budget)

    assert_stopped_by_budget(h, out)
    calls = stub_server.request_count
    n = round(cap / cheapest)
    assert 0 < calls <= n + concurrency
    assert calls < 40
    spent = out.summary["budget"]["spent_usd"]
    assert spent <= cap + concurrency * 0.012 + 1e-9
    assert spent <= cap + 1e-9  # here the estimate is above the real cost: never over the cap
    # Every call made was finished, stored and paid for; nothing else was stored.
    trials = list(h.store.iter_trials(out.run_id))
    assert len(trials) == calls == budget.calls == out.summary["budget"]["calls"]
    assert all(t.error is None and t.output for t in trials)
    assert sum(t.cost or 0.0 for t in trials) == pytest.approx(spent)
    assert out.summary["budget"]["max_cost_usd"] == cap
    assert out.summary["budget"]["max_calls"] is None


async def test_costs_above_the_estimate_overshoot_by_at_most_one_call_per_slot(
    h: Harness,
) -> None:
    # `scripted` is free by its price, so every estimate is 0 while each answer costs 0.01:
    # the cap is only seen once calls have settled, and calls in flight then still land.
    concurrency, cap, each = 3, 0.05, 0.01
    items = [{"output": "ok", "cost": each, "delay_ms": 5} for _ in range(30)]
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": [{"id": "scripted", "config": {"responses": items}}],
            "tests": [{"vars": {"n": i}} for i in range(30)],
            "evaluateOptions": {"maxConcurrency": concurrency},
        }
    )
    providers = h.providers(spec)
    out = await h.run(spec, providers, budget=Budget(max_cost_usd=cap))

    assert_stopped_by_budget(h, out)
    calls = len(providers[0].calls)
    assert calls <= round(cap / each) + 1 + concurrency
    spent = out.summary["budget"]["spent_usd"]
    assert cap < spent <= cap + concurrency * each + 1e-9
    trials = list(h.store.iter_trials(out.run_id))
    assert len(trials) == calls
    assert sum(t.cost or 0.0 for t in trials) == pytest.approx(spent)


async def test_max_calls_is_exact_with_one_slot(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": [{"id": "scripted", "config": {"responses": ["ok"]}}],
            "tests": [{"vars": {"n": i}} for i in range(12)],
            "evaluateOptions": {"maxConcurrency": 1},
        }
    )
    providers = h.providers(spec)
    out = await h.run(spec, providers, budget=Budget(max_calls=5))

    assert_stopped_by_budget(h, out)
    assert len(providers[0].calls) == 5
    assert out.summary["stopped_by"] == "budget: max_calls 5 reached"
    assert out.summary["budget"]["calls"] == 5
    trials = list(h.store.iter_trials(out.run_id))
    assert [t.index for t in trials] == [0, 1, 2, 3, 4]  # the first five, each finished
    assert [t.index for t in out.trials] == [0, 1, 2, 3, 4]


async def test_failed_calls_settle_at_zero(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": [
                {
                    "id": "scripted",
                    "config": {
                        "responses": [{"error": "bad request", "status": 400}],
                        "inputCost": 0.01,
                        "outputCost": 0.01,
                    },
                }
            ],
            "tests": [{"vars": {"n": i}} for i in range(3)],
        }
    )
    out = await h.run(spec, budget=Budget(max_cost_usd=100.0))

    assert out.status == "succeeded"
    assert out.summary["budget"] == {
        "spent_usd": 0.0,
        "calls": 3,
        "max_cost_usd": 100.0,
        "max_calls": None,
        "stopped": None,
    }
    assert all(t.error for t in out.trials)


async def test_cache_hits_are_free(h: Harness, stub_server: StubServer) -> None:
    spec = h.spec(stub_config(stub_server, 6, 4))
    first = await h.run(spec)
    assert first.status == "succeeded" and stub_server.request_count == 6

    out = await h.run(h.spec(spec.raw_config), budget=Budget(max_calls=0, max_cost_usd=0.0))

    assert out.status == "succeeded"
    assert stub_server.request_count == 6
    assert len(out.trials) == 6 and all(t.cached for t in out.trials)
    assert out.summary["budget"]["calls"] == 0
    assert out.summary["budget"]["stopped"] is None
    assert "stopped_by" not in out.summary


async def test_a_budget_already_spent_makes_no_call_and_records_the_run(h: Harness) -> None:
    budget = Budget(max_calls=0)
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": [{"id": "scripted"}],
            "tests": [{"vars": {"n": i}} for i in range(4)],
        }
    )
    providers = h.providers(spec)
    out = await h.run(spec, providers, budget=budget)

    assert_stopped_by_budget(h, out)
    assert providers[0].calls == []
    assert list(h.store.iter_trials(out.run_id)) == []


async def test_no_budget_changes_nothing(h: Harness, stub_server: StubServer) -> None:
    spec = h.spec(stub_config(stub_server, 10, 4))
    out = await h.run(spec)

    assert out.status == "succeeded"
    assert stub_server.request_count == 10
    assert "budget" not in out.summary and "stopped_by" not in out.summary
    assert len(list(h.store.iter_trials(out.run_id))) == 10


async def test_a_budget_not_reached_lets_the_run_finish(
    h: Harness, stub_server: StubServer
) -> None:
    spec = h.spec(stub_config(stub_server, 10, 4, inputCost=0.001, outputCost=0.001))
    out = await h.run(spec, budget=Budget(max_cost_usd=100.0, max_calls=10))

    assert out.status == "succeeded"
    assert stub_server.request_count == 10
    budget = out.summary["budget"]
    assert budget["calls"] == 10 and budget["stopped"] is None
    assert budget["spent_usd"] == pytest.approx(sum(t.cost or 0.0 for t in out.trials))
    assert "stopped_by" not in out.summary
