"""Retry timing, retry decisions, and the CallPolicy wrapper (over the scripted provider)."""

from __future__ import annotations

import asyncio
import time

import pytest

from promptyard.core.types import CompletionRequest, ProviderSpec
from promptyard.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    RunCancelled,
)
from promptyard.providers import (
    INITIAL_RETRY_DELAY_S,
    MAX_RETRY_AFTER_S,
    MAX_RETRY_DELAY_S,
    CallPolicy,
    RateLimiter,
    call_with_retry,
    create_provider,
    retry_delay,
    should_retry,
)
from promptyard.providers.scripted import ScriptedProvider
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


def req(text: str = "hi") -> CompletionRequest:
    return CompletionRequest(prompt=text, messages=[])


def scripted(**config: object) -> ScriptedProvider:
    p = create_provider(ProviderSpec(id="scripted", config=dict(config)), trust=LOCAL_TRUST)
    assert isinstance(p, ScriptedProvider)
    return p


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (ProviderRateLimitError("x"), True),
        (ProviderServerError("x"), True),
        (ProviderTimeoutError("x"), True),
        (ProviderAuthError("x"), False),
        (ProviderResponseError("x"), False),
        (ProviderError("x"), False),
        (ValueError("x"), False),
    ],
)
def test_should_retry(error: BaseException, retry: bool) -> None:
    assert should_retry(error) is retry


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    top = [retry_delay(a, rand=lambda: 1.0) for a in range(8)]
    assert top[:4] == [INITIAL_RETRY_DELAY_S * 2**a for a in range(4)]
    assert max(top) == MAX_RETRY_DELAY_S
    assert top == sorted(top)
    assert retry_delay(3, rand=lambda: 0.0) == 0.0
    assert retry_delay(2, rand=lambda: 0.5) == pytest.approx(INITIAL_RETRY_DELAY_S * 4 * 0.5)
    samples = {retry_delay(1) for _ in range(50)}
    assert len(samples) > 10 and all(0 <= s <= 2 * INITIAL_RETRY_DELAY_S for s in samples)
    assert retry_delay(10_000, rand=lambda: 1.0) == MAX_RETRY_DELAY_S  # no overflow


def test_retry_after_is_honoured_and_capped() -> None:
    assert retry_delay(0, 3.0, rand=lambda: 0.0) == 3.0
    assert retry_delay(5, 0.0) == 0.0
    assert retry_delay(0, 3600.0) == MAX_RETRY_AFTER_S


async def test_policy_retries_retryable_errors_then_succeeds() -> None:
    p = scripted()
    p.queue({"error": "busy", "status": 429}, {"error": "oops", "status": 503}, "done")
    c = await CallPolicy(p, max_retries=2, sleep=_no_sleep).complete(req())
    assert c.output == "done"
    assert len(p.calls) == 3


async def test_policy_gives_up_with_the_last_error() -> None:
    p = scripted()
    p.queue(*[{"error": f"down {i}", "status": 500} for i in range(5)])
    with pytest.raises(ProviderServerError, match="down 2"):
        await CallPolicy(p, max_retries=2, sleep=_no_sleep).complete(req())
    assert len(p.calls) == 3


async def test_policy_does_not_retry_fatal_errors() -> None:
    p = scripted()
    p.queue({"error": "bad key", "status": 401}, "never")
    with pytest.raises(ProviderAuthError):
        await CallPolicy(p, max_retries=5, sleep=_no_sleep).complete(req())
    assert len(p.calls) == 1


async def test_policy_waits_the_retry_after() -> None:
    p = scripted()
    p.queue(ProviderRateLimitError("slow down", retry_after=0.25), "ok")
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    await CallPolicy(p, sleep=record).complete(req())
    assert waits == [0.25]


async def test_policy_timeout_is_retryable() -> None:
    p = scripted()
    p.queue({"output": "late", "delay_ms": 500}, "quick")
    c = await CallPolicy(p, timeout_s=0.05, max_retries=1, sleep=_no_sleep).complete(req())
    assert c.output == "quick"
    p.queue({"output": "late", "delay_ms": 500})
    with pytest.raises(ProviderTimeoutError, match=r"0\.05 s"):
        await CallPolicy(p, timeout_s=0.05, max_retries=0).complete(req())


async def test_cancel_stops_the_backoff_wait() -> None:
    p = scripted()
    p.queue(ProviderRateLimitError("wait", retry_after=30.0), "never")
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, cancel.set)
    start = time.monotonic()
    with pytest.raises(RunCancelled):
        await CallPolicy(p).complete(req(), cancel=cancel)
    assert time.monotonic() - start < 1.0
    with pytest.raises(RunCancelled):
        await CallPolicy(p).complete(req(), cancel=cancel)  # already cancelled: no call
    assert len(p.calls) == 1


async def test_concurrency_limit() -> None:
    running = 0
    peak = 0

    class Probe(ScriptedProvider):
        async def complete(self, request: CompletionRequest):  # type: ignore[no-untyped-def]
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            return await super().complete(request)

    probe = Probe(ProviderSpec(id="scripted"))
    policy = CallPolicy(probe, max_concurrency=2)
    await asyncio.gather(*(policy.complete(req(str(i))) for i in range(8)))
    assert peak == 2
    assert len(probe.calls) == 8


async def test_rate_limiter_spaces_calls() -> None:
    limiter = RateLimiter(requests_per_minute=1200)  # one per 50 ms
    start = time.monotonic()
    for _ in range(4):
        await limiter.acquire()
    assert time.monotonic() - start >= 0.14


async def test_from_config_reads_provider_keys() -> None:
    p = scripted()
    policy = CallPolicy.from_config(
        p, {"maxConcurrency": 7, "requestsPerMinute": 60, "max_retries": 1, "timeoutMs": 2500}
    )
    assert policy.max_retries == 1
    assert policy.timeout_s == 2.5


async def test_call_with_retry() -> None:
    p = scripted()
    p.queue(ProviderServerError("x", retry_after=0.0), "fine")
    c = await call_with_retry(p, req(), max_retries=1)
    assert c.output == "fine"


async def _no_sleep(seconds: float) -> None:
    return None
