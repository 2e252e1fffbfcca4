"""Exceptions of the Stainless-built SDKs (openai, anthropic) -> our ProviderError tree.

Both SDKs define the same class names, so one mapping serves both; the module is passed in
because the SDKs are imported lazily.
"""

from __future__ import annotations

from typing import Any

from promptyard.errors import (
    ProviderError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
)
from promptyard.providers.http_errors import error_for_status


def map_sdk_error(sdk: Any, exc: BaseException, provider: str) -> ProviderError | None:
    """Our error for an SDK exception, or None when it is not one of the SDK's API errors."""
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderTimeoutError(f"no answer in time: {exc}", provider=provider)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        return ProviderServerError(f"connection failed: {cause}", provider=provider)
    if isinstance(exc, sdk.APIStatusError):
        response = exc.response
        body = getattr(exc, "body", None)
        raw: bytes | str
        try:
            raw = response.content
        except Exception:  # a streamed response that was never read
            raw = str(body or exc)
        return error_for_status(exc.status_code, raw, response.headers, provider=provider)
    if isinstance(exc, sdk.APIResponseValidationError | sdk.APIError):
        return ProviderResponseError(f"unexpected response: {exc}", provider=provider)
    return None
