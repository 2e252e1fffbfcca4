"""The exceptions the client raises: one root, and the HTTP status mapped to a class in one place.

```
PromptyardError                 status_code, response_text, detail (None when no response came)
 ├── ValidationError            400, 422: the request was refused as malformed
 ├── AuthenticationError        401 (no or bad token) and 403 (missing scope)
 │    └── PermissionDeniedError 403
 ├── NotFoundError              404
 ├── ConflictError              409: duplicate name, another job already running, job finished
 ├── RateLimitError             429: rate limit or full job queue; `retry_after` in seconds
 ├── ServerError                5xx
 ├── NetworkError               no answer: refused, reset, timed out (after the retries)
 └── JobTimeoutError            wait_for_job / wait_for_run gave up; the job keeps running
```
Catch `PromptyardError` for everything; the subclasses exist so that callers can tell "fix
the request" from "try again later" from "the server is down" without reading status codes.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "JobTimeoutError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "PromptyardError",
    "RateLimitError",
    "ServerError",
    "ValidationError",
]

RESPONSE_TEXT_LIMIT = 4000  # characters of a response body kept on an exception


class PromptyardError(Exception):
    """The root: any failure of a call to a Promptyard server."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        response_text: str | None = None,
        detail: Any = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.response_text = response_text
        self.detail = detail
        self.body = body  # the parsed JSON answer, when there was one (422 field errors, rows)


class ValidationError(PromptyardError):
    """400 or 422: fix the request; retrying it unchanged will not help."""


class AuthenticationError(PromptyardError):
    """401 or 403: no token, a bad or revoked one, or one without the needed scope."""


class PermissionDeniedError(AuthenticationError):
    """403: the token is valid but lacks the scope (read < write < admin)."""


class NotFoundError(PromptyardError):
    """404: unknown prompt, version, label, dataset, run, job, token, or route."""


class ConflictError(PromptyardError):
    """409: a duplicate name, a job while another runs (queue length 0), or a finished job."""


class RateLimitError(PromptyardError):
    """429: too many requests, or the job queue is full; wait `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(PromptyardError):
    """5xx: a bug on the server (quote the request id in the detail), or a proxy in front."""


class NetworkError(PromptyardError):
    """No HTTP answer at all: connection refused or reset, DNS, or a timeout."""


class JobTimeoutError(PromptyardError):
    """Waiting for a job took longer than the caller allowed; the job itself goes on."""

    def __init__(self, message: str, *, job_id: str, status: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.status = status  # the last status seen


def _message(detail: Any, status: int, reason: str) -> str:
    """A readable one-liner: the server's detail, with 422 field errors flattened."""
    if isinstance(detail, str) and detail:
        return f"{status} {reason}: {detail}"
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                msg = str(item.get("msg", item))
                parts.append(f"{loc}: {msg}" if loc else msg)
            else:
                parts.append(str(item))
        return f"{status} {reason}: " + "; ".join(parts)
    return f"{status} {reason}"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for_response(response: httpx.Response) -> PromptyardError:
    """The exception for a non-2xx answer (the body must already be read)."""
    status = response.status_code
    text = response.text[:RESPONSE_TEXT_LIMIT]
    body: Any = None
    detail: Any = None
    try:
        body = response.json()
    except ValueError:
        detail = text or None
    else:
        detail = body.get("detail") if isinstance(body, dict) else body
    reason = response.reason_phrase or "error"
    message = _message(detail, status, reason)
    kwargs: dict[str, Any] = {"status_code": status, "response_text": text, "detail": detail,
                              "body": body}  # fmt: skip
    if status in (400, 422):
        return ValidationError(message, **kwargs)
    if status == 401:
        return AuthenticationError(message, **kwargs)
    if status == 403:
        return PermissionDeniedError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status == 409:
        return ConflictError(message, **kwargs)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return PromptyardError(message, **kwargs)


def network_error(exc: httpx.TransportError, method: str, url: str) -> NetworkError:
    """A NetworkError naming what failed, e.g. 'GET http://...: connection refused'."""
    kind = type(exc).__name__
    text = str(exc) or kind
    return NetworkError(f"{method} {url} failed ({kind}): {text}")
