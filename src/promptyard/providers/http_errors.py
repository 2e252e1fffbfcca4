"""HTTP status and body -> our ProviderError subclasses, shared by every HTTP adapter.

Under a strict trust policy (the server) a body is summarised, not echoed: a provider's URL
is chosen by whoever wrote the config, and an internal service's error page must not come
back through a trial error. The summary keeps the status and a short error code.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from promptyard.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
)

EXCERPT_CHARS = 200
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,39}")


def excerpt(body: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """A short, one-line piece of a body for an error message."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    if not text:
        return "<empty body>"
    return text if len(text) <= limit else text[:limit] + "…"


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI), `retry-after` (seconds or HTTP date)."""
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms") or headers.get("Retry-After-Ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after") or headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def vendor_message(body: bytes | str | Any) -> str | None:
    """The vendor's own error message in OpenAI/Anthropic/generic JSON error shapes."""
    data = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    err = data.get("error", data)
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        for key in ("message", "detail", "error"):
            value = err.get(key)
            if isinstance(value, str) and value:
                return value
    detail = data.get("detail") or data.get("message")
    return detail if isinstance(detail, str) else None


def vendor_code(body: bytes | str | Any) -> str | None:
    """A short error code from a JSON error body (`error.code`, else `error.type`), when it is
    a plain identifier (letters, digits, `_.-`, up to 40 characters)."""
    data = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    err = data.get("error", data)
    if not isinstance(err, dict):
        return None
    for key in ("code", "type"):
        value = err.get(key)
        if isinstance(value, str) and _CODE.fullmatch(value):
            return value
    return None


def summary(body: bytes | str | Any) -> str:
    """What a strict policy shows of a body: its error code, if it has a plain one."""
    code = vendor_code(body)
    return f"the body is withheld (code {code})" if code else "the body is withheld"


def body_note(body: bytes | str, *, summarize: bool) -> str:
    """An excerpt of `body` for a message, or only its size under a strict policy."""
    if not summarize:
        return excerpt(body)
    size = len(body.encode() if isinstance(body, str) else body)
    return f"{size} bytes, withheld"


def error_for_status(
    status: int,
    body: bytes | str,
    headers: Mapping[str, str] | None,
    *,
    provider: str,
    summarize: bool = False,
) -> ProviderError:
    """The error to raise for a non-2xx response; `summarize`: keep the status and an error
    code, not the body's text."""
    message = summary(body) if summarize else vendor_message(body) or excerpt(body)
    if status in (401, 403):
        return ProviderAuthError(
            f"credentials rejected: {message}", provider=provider, status=status
        )
    if status == 429:
        return ProviderRateLimitError(
            f"rate limited: {message}",
            provider=provider,
            status=status,
            retry_after=parse_retry_after(headers),
        )
    if status >= 500 or status == 408:
        return ProviderServerError(
            f"server error: {message}",
            provider=provider,
            status=status,
            retry_after=parse_retry_after(headers),
        )
    return ProviderResponseError(f"request refused: {message}", provider=provider, status=status)
