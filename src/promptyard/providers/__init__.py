"""LLM providers: adapters with one async `complete`, the registry, retries and pricing."""

from promptyard.providers.base import Provider
from promptyard.providers.config import normalize_config, price_override
from promptyard.providers.policy import CallPolicy, RateLimiter, call_with_retry
from promptyard.providers.pricing import Pricer, cost_of
from promptyard.providers.registry import (
    check_credentials,
    create_provider,
    known_prefixes,
    register_provider,
)
from promptyard.providers.retry import (
    DEFAULT_MAX_RETRIES,
    INITIAL_RETRY_DELAY_S,
    MAX_RETRY_AFTER_S,
    MAX_RETRY_DELAY_S,
    retry_delay,
    should_retry,
)

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "INITIAL_RETRY_DELAY_S",
    "MAX_RETRY_AFTER_S",
    "MAX_RETRY_DELAY_S",
    "CallPolicy",
    "Pricer",
    "Provider",
    "RateLimiter",
    "call_with_retry",
    "check_credentials",
    "cost_of",
    "create_provider",
    "known_prefixes",
    "normalize_config",
    "price_override",
    "register_provider",
    "retry_delay",
    "should_retry",
]
