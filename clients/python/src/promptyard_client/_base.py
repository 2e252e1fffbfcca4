"""What Client and AsyncClient share: settings, the retry policy, response parsing and the
deployed-prompt cache. Nothing here does I/O, so the two clients differ only in how they wait.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

import httpx
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from promptyard_client._version import __version__
from promptyard_client.errors import (
    JobTimeoutError,
    NetworkError,
    PromptyardError,
    error_for_response,
    network_error,
    parse_retry_after,
)
from promptyard_client.models import FINISHED, JobDetail, JobEvent, Page, PromptVersion, Run

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


# -- what the two clients share besides I/O --------------------------------------------------


class ClientBase:
    """Settings, the prompt cache and every decision a call makes (retry or raise, how long to
    wait); the subclasses only send and sleep, each in its own way."""

    _settings: Settings
    _own_http: bool
    _prompts: PromptCache

    def _setup(self, settings: Settings, own_http: bool) -> None:
        self._settings = settings
        self._own_http = own_http
        self._prompts = PromptCache()

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._settings.base_url!r})"

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> Self:
        """A client like this one with other settings for the calls made through it, sharing
        its connections and prompt cache: `client.with_options(timeout=5).get_prompt("x")`
        is a per-request timeout (openai-python's pattern). Closing it closes nothing."""
        twin = copy.copy(self)
        twin._settings = with_options(self._settings, timeout, max_retries, default_headers)
        twin._own_http = False
        return twin

    def clear_prompt_cache(self) -> None:
        """Forget every cached deployed prompt (the next get_deployed_prompt fetches)."""
        self._prompts.clear()

    def _url(self, path: str) -> str:
        return self._settings.api_url + path

    def _retry_error(
        self, exc: httpx.TransportError, method: str, path: str, attempt: int
    ) -> float:
        """Seconds to wait before retrying after `exc`, or its NetworkError raised."""
        if attempt < self._settings.max_retries and should_retry_error(exc, method):
            return retry_delay(attempt)
        raise network_error(exc, method, self._url(path)) from exc

    def _retry_status(self, response: httpx.Response, method: str, attempt: int) -> float:
        """Seconds to wait before retrying after a non-2xx answer, or its error raised."""
        if attempt < self._settings.max_retries and should_retry_status(
            response.status_code, method
        ):
            return retry_delay(attempt, response_retry_after(response))
        raise error_for_response(response)

    def _fresh_prompt(self, key: PromptKey, ttl: float | None) -> PromptVersion | None:
        ttl = self._settings.prompt_cache_ttl if ttl is None else ttl
        return self._prompts.fresh(key, ttl)


PromptKey = tuple[str | None, str, str]


@dataclass(slots=True)
class Pager:
    """Where `paginate` is: the next page's offset, and whether the last page was the last."""

    offset: int

    def advance(self, page: Page[Any]) -> bool:
        """Move past `page`; True when there is no page after it."""
        self.offset += len(page.items)
        return not page.items or self.offset >= page.total


@dataclass(frozen=True, slots=True)
class Deadline:
    """`wait_for_job`'s limit: `timeout` seconds from now (None: no limit)."""

    timeout: float | None
    at: float | None

    @classmethod
    def after(cls, timeout: float | None) -> Deadline:
        return cls(timeout, None if timeout is None else time.monotonic() + timeout)

    def delay(self, job_id: str, status: str, interval: float) -> float:
        """Seconds to sleep before polling the job again, or JobTimeoutError once past."""
        if self.at is None:
            return interval
        left = self.at - time.monotonic()
        if left <= 0:
            raise JobTimeoutError(f"job {job_id} still {status} after {self.timeout} s",
                                  job_id=job_id, status=status)  # fmt: skip
        return min(interval, left)


def run_id_of(detail: JobDetail, job_id: str) -> str:
    """The id of the run a finished job made, or PromptyardError when it made none."""
    found = detail.job.run_id or (detail.summary or {}).get("run_id")
    if not found:
        raise PromptyardError(f"job {job_id} ended {detail.job.status} without a run")
    return str(found)


def run_finished(run: Run, run_id: str, start: float, timeout: float | None) -> bool:
    """Whether `run` is done polling: True when finished, JobTimeoutError once timed out."""
    if run.status in FINISHED:
        return True
    if timeout is not None and time.monotonic() - start >= timeout:
        raise JobTimeoutError(f"run {run_id} still {run.status} after {timeout} s",
                              job_id=run_id, status=run.status)  # fmt: skip
    return False


@dataclass(slots=True)
class StreamCursor:
    """A job's event stream across reconnects: the last seq seen (sent as Last-Event-ID, so no
    event comes twice), the failures in a row without progress, and whether `end` was seen."""

    job_id: str
    url: str
    last: int
    max_reconnects: int
    failures: int = 0
    ended: bool = False
    progressed: bool = False

    def headers(self, base: Mapping[str, str]) -> dict[str, str]:
        """A new connection's headers (and its progress reset)."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last:
            headers["Last-Event-ID"] = str(self.last)
        self.progressed = False
        return {**base, **headers}

    def take(self, event: JobEvent) -> bool:
        """Whether `event` is new (and so to be yielded)."""
        if event.seq <= self.last:
            return False
        self.last, self.progressed = event.seq, True
        self.ended = event.type == "end"
        return True

    def rest(self, events: list[JobEvent]) -> list[JobEvent]:
        return [e for e in events if e.seq > self.last]

    def refused(self, response: httpx.Response) -> float:
        """The wait before reconnecting after a non-200 answer (read), or its error raised."""
        error = error_for_response(response)
        if self.failures >= self.max_reconnects or not should_retry_status(
            response.status_code, "GET"
        ):
            raise error
        return retry_delay(self.failures, response_retry_after(response))

    def dropped(self, exc: httpx.TransportError) -> float:
        """The wait before reconnecting after a dropped connection, or NetworkError."""
        self.failures = 0 if self.progressed else self.failures
        if self.failures >= self.max_reconnects:
            raise network_error(exc, "GET", self.url) from exc
        log.info("event stream of job %s dropped after seq %d (%s); resuming",
                 self.job_id, self.last, type(exc).__name__)  # fmt: skip
        return retry_delay(self.failures)

    def closed(self) -> None:
        """The server closed the stream before the job's last `end`."""
        self.failures = 0 if self.progressed else self.failures

    def reopen_wait(self) -> float:
        """The wait before reopening a stream closed while the job runs, or NetworkError."""
        if self.failures >= self.max_reconnects:
            raise NetworkError(f"the event stream of job {self.job_id} keeps closing")
        return retry_delay(self.failures)
