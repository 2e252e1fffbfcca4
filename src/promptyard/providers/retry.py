"""Retry policy: which failures to retry and how long to wait, as two small functions.

Exponential backoff with full jitter (sleep uniform in [0, min(cap, base * 2**attempt)]),
except that a server's Retry-After is honoured (capped) when it sent one.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from promptyard.errors import ProviderError

INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0  # a server asking for longer than this still gets retried at the cap
DEFAULT_MAX_RETRIES = 4


def should_retry(error: BaseException) -> bool:
    """Retry 429, 5xx, timeouts and connection failures; never auth or bad-request errors."""
    return isinstance(error, ProviderError) and error.retryable


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep before retry number `attempt` (0 for the first retry)."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, MAX_RETRY_AFTER_S)
    ceiling = min(MAX_RETRY_DELAY_S, INITIAL_RETRY_DELAY_S * (2 ** min(attempt, 30)))
    return float(ceiling * rand())
