"""Checks on the provider's response rather than its text: cost, latency, perplexity,
perplexity-score, finish-reason (tool calls: scorers/tools.py)."""

from __future__ import annotations

import math

from promptyard.core.types import Completion, GradingResult
from promptyard.scorers.base import CheckInput
from promptyard.scorers.values import js_string, js_to_precision


def _completion(inp: CheckInput, what: str) -> Completion:
    if inp.ctx.completion is None:
        raise ValueError(f"{what} assertion needs the provider response, and there is none")
    return inp.ctx.completion


def _budget(inp: CheckInput, name: str, amount: float, shown: str) -> GradingResult:
    """cost / latency: at most the threshold; without one, record the amount as the score
    (promptfoo requires a `metric` then, so the number lands in a named score)."""
    threshold = inp.assertion.threshold
    if threshold is None:
        if inp.inverse:
            raise ValueError(f"{name} assertion requires a threshold when using not-{name}")
        if not inp.assertion.metric:
            raise ValueError(
                f"{name} assertion without a threshold must set `metric` to record a named metric"
            )
        return inp.result(True, f"{name.capitalize()} {shown} recorded", score=amount)
    within = amount <= threshold
    passed = within != inp.inverse
    limit = js_string(float(threshold)) + ("ms" if name == "latency" else "")
    if passed:
        rel = "within" if within else "greater than"
        return inp.result(True, f"{name.capitalize()} {shown} is {rel} threshold {limit}")
    rel = "less than or equal to" if inp.inverse else "greater than"
    return inp.result(False, f"{name.capitalize()} {shown} is {rel} threshold {limit}")


def check_cost(inp: CheckInput) -> GradingResult:
    cost = _completion(inp, "cost").cost
    if cost is None:
        raise ValueError("cost assertion: the provider did not report a cost for this call")
    return _budget(inp, "cost", cost, js_to_precision(cost, 2))


def check_latency(inp: CheckInput) -> GradingResult:
    completion = _completion(inp, "latency")
    if completion.cached:
        # promptfoo has no latency for cached responses and fails the assertion.
        raise ValueError(
            "latency assertion does not support cached results; rerun with the cache disabled"
        )
    ms = completion.latency_ms
    return _budget(inp, "latency", ms, f"{js_string(float(ms))}ms")


def _logprobs(inp: CheckInput, name: str) -> list[float]:
    completion = inp.ctx.completion
    logprobs = completion.logprobs if completion is not None else None
    if not logprobs:
        raise ValueError(
            f"{name} assertion needs token logprobs, and this provider response has none"
        )
    return logprobs


def check_perplexity(inp: CheckInput) -> GradingResult:
    """exp(-mean logprob); passes when at most the threshold (always, without one)."""
    logprobs = _logprobs(inp, "perplexity")
    ppl = math.exp(-sum(logprobs) / len(logprobs))
    threshold = inp.assertion.threshold
    if not threshold:
        return inp.result(True, f"Perplexity {ppl:.2f} (no threshold)")
    if ppl <= threshold:
        return inp.result(True, f"Perplexity {ppl:.2f} is within threshold {threshold:g}")
    return inp.result(False, f"Perplexity {ppl:.2f} is greater than threshold {threshold:g}")


def check_perplexity_score(inp: CheckInput) -> GradingResult:
    """1 / (1 + perplexity) as the score; passes when at least the threshold, if any."""
    logprobs = _logprobs(inp, "perplexity-score")
    norm = 1 / (1 + math.exp(-sum(logprobs) / len(logprobs)))
    threshold = inp.assertion.threshold
    if not threshold:
        return inp.result(True, f"Perplexity score {norm:.2f} (no threshold)", score=norm)
    passed = norm >= threshold
    rel = ">=" if passed else "is less than"
    return inp.result(
        passed, f"Perplexity score {norm:.2f} {rel} threshold {threshold:g}", score=norm
    )


def check_finish_reason(inp: CheckInput) -> GradingResult:
    if not isinstance(inp.value, str):
        raise ValueError('"finish-reason" assertion type must have a string value')
    actual = inp.ctx.completion.finish_reason if inp.ctx.completion is not None else None
    if not actual:
        return inp.result(False, "Provider did not supply stop/finish reason")
    if actual.lower() == inp.value.lower():
        return inp.result(True, f'Finish reason is "{actual}"')
    return inp.result(False, f'Expected finish reason "{inp.value}" but got "{actual}"')
