"""Exceptions of the Stainless-built SDKs (openai, anthropic) -> our ProviderError tree.

Both SDKs define the same class names, so one mapping serves both; the module is passed in
because the SDKs are imported lazily.
"""

from __future__ import annotations

from typing import Any

from promptyard.core.secrets import scrub_text
from promptyard.errors import (
    ProviderError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
)
from promptyard.providers.http_errors import error_for_status
from promptyard.trust.egress import refusal_in


def map_sdk_error(
    sdk: Any, exc: BaseException, provider: str, *, summarize: bool = False
) -> ProviderError | None:
    """Our error for an SDK exception, or None when it is not one of the SDK's API errors.
    `summarize` (a strict trust policy): bodies are summarised, not echoed."""
    refused = refusal_in(exc)
    if refused is not None:
        return ProviderError(str(refused), provider=provider)  # not retryable
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderTimeoutError(f"no answer in time: {scrub_text(str(exc))}", provider=provider)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        shown = scrub_text(str(cause))
        return ProviderServerError(f"connection failed: {shown}", provider=provider)
    if isinstance(exc, sdk.APIStatusError):
        response = exc.response
        body = getattr(exc, "body", None)
        raw: bytes | str
        try:
            raw = response.content
        except Exception:  # a streamed response that was never read
            raw = str(body or exc)
        return error_for_status(
            exc.status_code, raw, response.headers, provider=provider, summarize=summarize
        )
    if isinstance(exc, sdk.APIResponseValidationError | sdk.APIError):
        shown = "" if summarize else f": {scrub_text(str(exc))}"
        return ProviderResponseError(f"unexpected response{shown}", provider=provider)
    return None
