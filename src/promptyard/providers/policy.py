"""The one wrapper the engine calls: limits, timeout and retries around provider.complete.

Per provider: a concurrency limit (`max_concurrency`), an optional request rate limit
(`requests_per_minute`), a per-call timeout, and retries (see retry.py). Cheap per call: one
semaphore, one timeout handle, no allocation beyond the call itself on the happy path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from promptyard.core.types import Completion, CompletionRequest, EvalOptions
from promptyard.errors import ProviderError, ProviderTimeoutError, RunCancelled
from promptyard.providers.base import Provider
from promptyard.providers.config import normalize_config
from promptyard.providers.retry import DEFAULT_MAX_RETRIES, retry_delay, should_retry


class RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart (a leaky bucket, no burst)."""

    __slots__ = ("_interval", "_next")

    def __init__(self, requests_per_minute: float) -> None:
        self._interval = 60.0 / requests_per_minute
        self._next = 0.0

    async def acquire(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


class CallPolicy:
    """Limits and retries for one provider. Build once per provider per run."""

    __slots__ = ("_limiter", "_semaphore", "_sleep", "max_retries", "provider", "timeout_s")

    def __init__(
        self,
        provider: Provider,
        *,
        max_concurrency: int = 4,
        requests_per_minute: float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout_s: float | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._limiter = RateLimiter(requests_per_minute) if requests_per_minute else None
        self._sleep = sleep

    @classmethod
    def from_config(
        cls,
        provider: Provider,
        config: Mapping[str, Any] | None,
        options: EvalOptions | None = None,
        *,
        where: str = "",
    ) -> CallPolicy:
        """Provider config (`max_concurrency`, `requests_per_minute`, `max_retries`, `timeout`)
        over the run's options."""
        cfg = normalize_config(config, where)
        opts = options or EvalOptions()
        return cls(
            provider,
            max_concurrency=int(cfg.get("max_concurrency") or opts.max_concurrency),
            requests_per_minute=cfg.get("requests_per_minute"),
            max_retries=int(cfg.get("max_retries", opts.max_retries)),
            timeout_s=float(cfg.get("timeout") or opts.timeout_s),
        )

    async def complete(
        self,
        request: CompletionRequest,
        *,
        max_retries: int | None = None,
        cancel: asyncio.Event | None = None,
    ) -> Completion:
        """Call the provider, retrying retryable failures; raise the last error when spent."""
        retries = self.max_retries if max_retries is None else max_retries
        timeout = self.timeout_s or request.timeout_s
        attempt = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise RunCancelled("run cancelled before the provider call")
            try:
                async with self._semaphore:
                    if self._limiter is not None:
                        await self._limiter.acquire()
                    try:
                        async with asyncio.timeout(timeout):
                            return await self.provider.complete(request)
                    except TimeoutError:
                        raise ProviderTimeoutError(
                            f"no answer within {timeout:g} s", provider=self.provider.id
                        ) from None
            except ProviderError as error:
                if attempt >= retries or not should_retry(error):
                    raise
                delay = retry_delay(attempt, error.retry_after)
                attempt += 1
            await self._wait(delay, cancel)

    async def _wait(self, delay: float, cancel: asyncio.Event | None) -> None:
        if cancel is None:
            await self._sleep(delay)
            return
        try:
            async with asyncio.timeout(delay):
                await cancel.wait()
        except TimeoutError:
            return
        raise RunCancelled("run cancelled while waiting to retry a provider call")


async def call_with_retry(
    provider: Provider,
    request: CompletionRequest,
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    cancel: asyncio.Event | None = None,
) -> Completion:
    """One call with retries and no limits: for one-off callers (judges, the CLI)."""
    policy = CallPolicy(provider, max_concurrency=1, max_retries=max_retries)
    return await policy.complete(request, cancel=cancel)
