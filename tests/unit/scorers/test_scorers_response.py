"""Checks on the provider response: cost, latency, perplexity, finish reason, tool calls."""

from __future__ import annotations

import json
import math

import pytest
from tests.unit.scorers.helpers import grade_one

from promptyard.core.types import Completion


async def test_cost() -> None:
    done = Completion(output="x", cost=0.002)
    assert (await grade_one("cost", None, "x", threshold=0.01, completion=done)).passed
    over = await grade_one("cost", None, "x", threshold=0.001, completion=done)
    assert not over.passed and "greater than threshold" in over.reason
    assert (await grade_one("not-cost", None, "x", threshold=0.001, completion=done)).passed


async def test_cost_without_threshold_records_the_amount() -> None:
    done = Completion(output="x", cost=0.25)
    result = await grade_one("cost", None, "x", metric="usd", completion=done)
    assert result.passed and result.score == pytest.approx(0.25)


async def test_cost_unknown_is_an_error_on_the_assertion() -> None:
    result = await grade_one("cost", None, "x", threshold=1, completion=Completion(output="x"))
    assert not result.passed and result.error and "cost" in result.reason


async def test_latency() -> None:
    fast = Completion(output="x", latency_ms=120)
    assert (await grade_one("latency", None, "x", threshold=500, completion=fast)).passed
    assert not (await grade_one("latency", None, "x", threshold=100, completion=fast)).passed
    assert (await grade_one("not-latency", None, "x", threshold=100, completion=fast)).passed


async def test_latency_fails_on_cached_response() -> None:
    cached = Completion(output="x", latency_ms=0, cached=True)
    result = await grade_one("latency", None, "x", threshold=500, completion=cached)
    assert not result.passed and result.error and "cached" in result.reason


async def test_perplexity_and_score() -> None:
    logprobs = [math.log(0.5), math.log(0.5)]  # perplexity exactly 2
    done = Completion(output="x", logprobs=logprobs)
    ok = await grade_one("perplexity", None, "x", threshold=2.5, completion=done)
    assert ok.passed and "2.00" in ok.reason
    assert not (await grade_one("perplexity", None, "x", threshold=1.5, completion=done)).passed
    score = await grade_one("perplexity-score", None, "x", threshold=0.3, completion=done)
    assert score.passed and score.score == pytest.approx(1 / 3)
    low = await grade_one("perplexity-score", None, "x", threshold=0.5, completion=done)
    assert not low.passed and low.score == pytest.approx(1 / 3)


async def test_perplexity_without_logprobs_fails_clearly() -> None:
    result = await grade_one("perplexity", None, "x", completion=Completion(output="x"))
    assert not result.passed and result.error and "logprobs" in result.reason
    result = await grade_one("perplexity-score", None, "x")
    assert not result.passed and "logprobs" in result.reason


async def test_finish_reason() -> None:
    done = Completion(output="x", finish_reason="stop")
    assert (await grade_one("finish-reason", "STOP", "x", completion=done)).passed
    bad = await grade_one("finish-reason", "length", "x", completion=done)
    assert not bad.passed and '"stop"' in bad.reason
    none = await grade_one("finish-reason", "stop", "x", completion=Completion(output="x"))
    assert not none.passed and "did not supply" in none.reason


async def test_openai_tools_call() -> None:
    call = {
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    assert (await grade_one("is-valid-openai-tools-call", None, [call])).passed
    assert (await grade_one("is-valid-openai-tools-call", None, json.dumps([call]))).passed
    broken = {"type": "function", "function": {"name": "f", "arguments": "{not json"}}
    bad = await grade_one("is-valid-openai-tools-call", None, [broken])
    assert not bad.passed and "not valid JSON" in bad.reason
    assert not (await grade_one("is-valid-openai-tools-call", None, "plain text")).passed
