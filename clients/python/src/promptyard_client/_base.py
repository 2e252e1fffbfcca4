"""What Client and AsyncClient share: settings, the retry policy, response parsing and the
deployed-prompt cache. Nothing here does I/O, so the two clients differ only in how they wait.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from promptyard_client._version import __version__
from promptyard_client.errors import PromptyardError, parse_retry_after
from promptyard_client.models import Page, PromptVersion

log = logging.getLogger("promptyard_client")

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_URL = "http://127.0.0.1:6969"
URL_ENV = "PROMPTYARD_URL"
TOKEN_ENV = "PROMPTYARD_TOKEN"
VERIFY_ENV = "PROMPTYARD_VERIFY_SSL"

# Retry policy (openai-style): 0.5 s doubling to 8 s, minus up to 25 % jitter so that many
# clients shed by one restart do not come back in step; a Retry-After is honoured up to 30 s.
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 30.0
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_STATUSES_UNSAFE = frozenset({429, 503})  # the request was refused, not half done

# Streams: heartbeats come every 15 s, so a read timeout below ~45 s would cut healthy streams.
STREAM_READ_TIMEOUT = 45.0
MAX_STREAM_RECONNECTS = 10
USER_AGENT = f"promptyard-client/{__version__}"


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved constructor arguments (explicit value, else env var, else default)."""

    base_url: str
    api_url: str
    token: str | None
    timeout: float
    max_retries: int
    verify: bool | str
    prompt_cache_ttl: float
    default_headers: Mapping[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        """Every request's headers: ours, then `default_headers` (which may override them)."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(self.default_headers)
        return headers

    def ssl_verify(self) -> bool | ssl.SSLContext:
        """httpx wants a context for a CA bundle path (a str is deprecated in httpx 0.28)."""
        if isinstance(self.verify, bool):
            return self.verify
        if os.path.isdir(self.verify):
            return ssl.create_default_context(capath=self.verify)
        return ssl.create_default_context(cafile=self.verify)

    def timeouts(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout)

    def stream_timeouts(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=max(self.timeout, STREAM_READ_TIMEOUT))


def resolve_settings(
    base_url: str | None,
    token: str | None,
    timeout: float,
    max_retries: int,
    verify_ssl: bool | str | None,
    prompt_cache_ttl: float,
    default_headers: Mapping[str, str] | None = None,
) -> Settings:
    """Explicit arguments win over PROMPTYARD_URL / PROMPTYARD_TOKEN / PROMPTYARD_VERIFY_SSL."""
    url = (base_url or os.environ.get(URL_ENV) or DEFAULT_URL).strip().rstrip("/")
    if url.endswith("/api"):  # accept the API root too: the client adds /api itself
        url = url[: -len("/api")]
    if "://" not in url:
        url = "http://" + url
    secret = token if token is not None else os.environ.get(TOKEN_ENV) or None
    verify: bool | str = True
    if verify_ssl is not None:
        verify = verify_ssl
    elif (env := os.environ.get(VERIFY_ENV)) is not None:
        flag = env.strip().lower()
        verify = flag not in ("0", "false", "no", "off") if flag in _FLAGS else env.strip()
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    return Settings(base_url=url, api_url=url + "/api", token=secret, timeout=float(timeout),
                    max_retries=max_retries, verify=verify,
                    prompt_cache_ttl=float(prompt_cache_ttl),
                    default_headers={str(k): str(v) for k, v in (default_headers or {}).items()},
                    )  # fmt: skip


def with_options(
    settings: Settings,
    timeout: float | None,
    max_retries: int | None,
    default_headers: Mapping[str, str] | None,
) -> Settings:
    """`settings` with these changed (None keeps one); headers are merged over the old ones."""
    if max_retries is not None and max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    headers = {**settings.default_headers,
               **{str(k): str(v) for k, v in (default_headers or {}).items()}}  # fmt: skip
    return dataclasses.replace(
        settings,
        timeout=settings.timeout if timeout is None else float(timeout),
        max_retries=settings.max_retries if max_retries is None else max_retries,
        default_headers=headers,
    )


_FLAGS = frozenset({"0", "1", "true", "false", "yes", "no", "on", "off"})


# -- retry policy ----------------------------------------------------------------------------


def should_retry_status(status: int, method: str) -> bool:
    """429/502/503/504 for idempotent methods; a POST only on 429/503 (not processed)."""
    if method.upper() in IDEMPOTENT:
        return status in RETRY_STATUSES
    return status in RETRY_STATUSES_UNSAFE


def should_retry_error(exc: httpx.TransportError, method: str) -> bool:
    """A connection that never opened is always safe to retry; once the request may have
    reached the server (a read error or timeout), only an idempotent method is."""
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError):
        return False
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    return method.upper() in IDEMPOTENT


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based)."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    delay = min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
    return delay * (1.0 - 0.25 * random.random())


def response_retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"))


# -- calls and their parsers -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP request and how to read its answer: built once, sent by either client."""

    method: str
    path: str  # below /api, starting with "/"
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    data: dict[str, str] | None = None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise _bad_answer(response, "the answer is not JSON") from exc


def _bad_answer(response: httpx.Response, why: str) -> PromptyardError:
    return PromptyardError(
        f"unexpected answer from {response.request.method} {response.request.url}: {why}",
        status_code=response.status_code,
        response_text=response.text[:4000],
    )


def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    """A parser validating the JSON answer as `cls`."""

    def parse(response: httpx.Response) -> M:
        try:
            return cls.model_validate(_json(response))
        except PydanticValidationError as exc:
            raise _bad_answer(response, str(exc)) from exc

    return parse


def page(cls: type[M]) -> Callable[[httpx.Response], Page[M]]:
    """A parser for a list answer; a bare JSON list is accepted as a one-page Page."""

    def parse(response: httpx.Response) -> Page[M]:
        data = _json(response)
        if isinstance(data, list):
            data = {"items": data, "total": len(data), "limit": len(data), "offset": 0}
        try:
            return Page[cls].model_validate(data)  # type: ignore[valid-type]
        except PydanticValidationError as exc:
            raise _bad_answer(response, str(exc)) from exc

    return parse


def raw_page(response: httpx.Response) -> Page[dict[str, Any]]:
    data = _json(response)
    if isinstance(data, list):
        data = {"items": data, "total": len(data), "limit": len(data), "offset": 0}
    try:
        return Page[dict[str, Any]].model_validate(data)
    except PydanticValidationError as exc:
        raise _bad_answer(response, str(exc)) from exc


def json_object(response: httpx.Response) -> dict[str, Any]:
    data = _json(response)
    if not isinstance(data, dict):
        raise _bad_answer(response, "expected a JSON object")
    return data


def text(response: httpx.Response) -> str:
    return response.text


def nothing(response: httpx.Response) -> None:
    return None


# -- the deployed-prompt cache ---------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    value: PromptVersion
    fetched: float  # time.monotonic()


@dataclass(slots=True)
class PromptCache:
    """Deployed prompts by (project, name, label): fresh for a TTL, and kept after it as the
    last good copy to serve while the server cannot be reached."""

    entries: dict[tuple[str | None, str, str], _Entry] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fresh(self, key: tuple[str | None, str, str], ttl: float) -> PromptVersion | None:
        with self.lock:
            entry = self.entries.get(key)
        if entry is None or ttl <= 0 or time.monotonic() - entry.fetched >= ttl:
            return None
        return entry.value

    def put(self, key: tuple[str | None, str, str], value: PromptVersion) -> None:
        with self.lock:
            self.entries[key] = _Entry(value, time.monotonic())

    def fallback(self, key: tuple[str | None, str, str], exc: PromptyardError) -> PromptVersion:
        """The last good copy (re-armed for one more TTL, so an outage costs one failed fetch
        per TTL rather than one per call), or `exc` raised when there is none."""
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                raise exc
            entry.fetched = time.monotonic()
        project, name, label = key
        where = f"{project}/{name}" if project else name
        log.warning("promptyard server unreachable (%s); serving the cached %s:%s (version %d)",
                    exc, where, label, entry.value.version)  # fmt: skip
        return entry.value

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
