"""The synchronous client. `AsyncClient` (async_client.py) is its twin, method for method;
everything that is not I/O lives in _base.py and _calls.py."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from promptyard_client import _calls as calls
from promptyard_client._base import (
    MAX_STREAM_RECONNECTS,
    Call,
    ClientBase,
    Deadline,
    Pager,
    StreamCursor,
    resolve_settings,
    run_finished,
    run_id_of,
)
from promptyard_client.errors import NetworkError, NotFoundError, ServerError
from promptyard_client.events import iter_sse, to_job_event
from promptyard_client.models import (
    Budgets,
    CancelResult,
    Catalog,
    Dataset,
    Health,
    Iteration,
    Job,
    JobCreated,
    JobDetail,
    JobEvent,
    Optimization,
    OptimizerInfo,
    Page,
    Profile,
    Prompt,
    PromptVersion,
    Run,
    SavedVersion,
    Token,
    TokenCreated,
)

T = TypeVar("T")


class Client(ClientBase):
    """A Promptyard server, synchronously.

    `base_url` is the server root (http://127.0.0.1:6969); the client adds `/api`. Both it and
    `token` default to $PROMPTYARD_URL and $PROMPTYARD_TOKEN. Failed calls are retried up to
    `max_retries` times (connection errors, 502/503/504, 429 honouring Retry-After); a POST
    is retried only when the server cannot have acted on it.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float = 30,
        max_retries: int = 2,
        verify_ssl: bool | str | None = None,
        *,
        prompt_cache_ttl: float = 60.0,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        settings = resolve_settings(base_url, token, timeout, max_retries, verify_ssl,
                                    prompt_cache_ttl, default_headers)  # fmt: skip
        self._setup(settings, own_http=http_client is None)
        # An injected client keeps its own transport, proxies, TLS and limits (verify_ssl does
        # not apply to it) and is not closed by close(); every request carries our URL,
        # headers and timeout, so it needs no base_url of its own.
        self._http = http_client or httpx.Client(
            timeout=self._settings.timeouts(), verify=self._settings.ssl_verify()
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def paginate(self, list_method: Callable[..., Any], /, **kwargs: Any) -> Iterator[Any]:
        """Every item of a list call, page after page: `for p in client.paginate(
        client.list_prompts, project="x")`. `limit` sets the page size; `offset` the start."""
        pager = Pager(int(kwargs.pop("offset", 0)))
        while True:
            page = list_method(offset=pager.offset, **kwargs)
            yield from page.items
            if pager.advance(page):
                return

    # -- transport ---------------------------------------------------------------------------

    def _send(self, call: Call[T]) -> T:
        response = self._request(call.method, call.path, params=call.params, json=call.json,
                                 files=call.files, data=call.data)  # fmt: skip
        return call.parse(response)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call with the retry policy; a non-2xx answer becomes its typed exception."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, self._url(path),
                    headers=self._settings.headers(), timeout=self._settings.timeouts(), **kwargs,
                )  # fmt: skip
            except httpx.TransportError as exc:
                wait = self._retry_error(exc, method, path, attempt)
            else:
                if response.is_success:
                    return response
                wait = self._retry_status(response, method, attempt)
            time.sleep(wait)
            attempt += 1

    # -- meta --------------------------------------------------------------------------------

    def health(self) -> Health:
        """`{"status": "ok"}` when the server is up (needs no token)."""
        return self._send(calls.health())

    def catalog(self) -> Catalog:
        """Projects with their prompts, datasets and profiles; scorers; provider prefixes."""
        return self._send(calls.catalog())

    # -- prompts -----------------------------------------------------------------------------

    def list_prompts(
        self,
        *,
        project: str | None = None,
        tag: str | None = None,
        team: str | None = None,
        group: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Prompt]:
        return self._send(calls.list_prompts(project, tag, team, group, search, limit, offset))

    def get_prompt(self, name: str, *, project: str | None = None) -> Prompt:
        """The prompt with its latest version number, labels and tags."""
        return self._send(calls.get_prompt(name, project))

    def create_prompt(
        self,
        name: str,
        template: str | list[dict[str, Any]],
        *,
        config: dict[str, Any] | None = None,
        project: str | None = None,
        description: str = "",
        tags: Sequence[str] = (),
        group: str | None = None,
        message: str = "",
    ) -> Prompt:
        """A new prompt with version 1 (ConflictError if the name exists)."""
        return self._send(calls.create_prompt(name, template, config, project, description,
                                              tags, group, message))  # fmt: skip

    def create_prompt_version(
        self,
        name: str,
        template: str | list[dict[str, Any]],
        *,
        config: dict[str, Any] | None = None,
        message: str = "",
        project: str | None = None,
    ) -> PromptVersion:
        """A new version; content identical to the latest version returns that version."""
        return self._send(calls.create_prompt_version(name, template, config, message, project))

    def list_prompt_versions(
        self, name: str, *, project: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[PromptVersion]:
        return self._send(calls.list_prompt_versions(name, project, limit, offset))

    def get_prompt_version(
        self, name: str, version: int, *, project: str | None = None
    ) -> PromptVersion:
        return self._send(calls.get_prompt_version(name, version, project))

    def set_label(
        self, name: str, label: str, version: int, *, project: str | None = None
    ) -> Prompt:
        """Point `label` at `version`: deploying is moving the `production` label."""
        return self._send(calls.set_label(name, label, version, project))

    def delete_label(self, name: str, label: str, *, project: str | None = None) -> None:
        self._send(calls.delete_label(name, label, project))

    def set_prompt_tags(
        self, name: str, tags: Sequence[str], *, project: str | None = None
    ) -> Prompt:
        """Replace the prompt's tags."""
        return self._send(calls.set_prompt_tags(name, tags, project))

    def diff_prompt_versions(
        self, name: str, a: int, b: int, *, project: str | None = None
    ) -> dict[str, Any]:
        """A unified diff of two versions' templates, and whether their config changed."""
        return self._send(calls.diff_prompt_versions(name, a, b, project))

    def get_deployed_prompt(
        self,
        name: str,
        label: str = "production",
        *,
        project: str | None = None,
        ttl: float | None = None,
    ) -> PromptVersion:
        """The version `label` points at, for production code: cached for `ttl` seconds
        (default: the client's prompt_cache_ttl), and while the server is unreachable or
        failing (NetworkError, ServerError) the last good copy is served with a warning."""
        key = (project, name, label)
        if (cached := self._fresh_prompt(key, ttl)) is not None:
            return cached
        try:
            version = self._send(calls.deployed_prompt(name, label, project))
        except (NetworkError, ServerError) as exc:
            return self._prompts.fallback(key, exc)
        self._prompts.put(key, version)
        return version

    # -- datasets ----------------------------------------------------------------------------

    def create_dataset(
        self,
        name: str,
        rows: Sequence[dict[str, Any]],
        *,
        project: str | None = None,
        description: str = "",
        tags: Sequence[str] = (),
        message: str = "",
    ) -> Dataset:
        """A dataset from rows: `{"vars", "assert", "expected", "split", "metadata"}`."""
        return self._send(calls.create_dataset(name, rows, project, description, tags, message))

    def upload_dataset(
        self,
        file: str | os.PathLike[str] | bytes,
        name: str,
        *,
        filename: str | None = None,
        project: str | None = None,
        description: str | None = None,
    ) -> Dataset:
        """A dataset, or a new version of an existing one, from a CSV / JSON / JSONL / YAML
        file (a path, or its bytes: the server picks the parser by `filename`'s suffix,
        guessed from the content for bytes)."""
        return self._send(calls.upload_dataset(file, name, filename, project, description))

    def list_datasets(
        self,
        *,
        project: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Dataset]:
        return self._send(calls.list_datasets(project, search, limit, offset))

    def get_dataset(self, name: str, *, project: str | None = None) -> Dataset:
        return self._send(calls.get_dataset(name, project))

    def dataset_rows(
        self,
        name: str,
        *,
        version: int | None = None,
        split: str | None = None,
        project: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[dict[str, Any]]:
        """Rows of the latest (or a given) version, optionally of one split."""
        return self._send(calls.dataset_rows(name, version, split, project, limit, offset))

    def delete_dataset(self, name: str, *, project: str | None = None) -> None:
        self._send(calls.delete_dataset(name, project))

    def derive_dataset(
        self,
        source: str,
        name: str,
        *,
        split: str | None = None,
        search: str | None = None,
        metadata: dict[str, Any] | None = None,
        project: str | None = None,
    ) -> Dataset:
        """A new dataset from the rows of `source` that match a split, text or metadata."""
        return self._send(calls.derive_dataset(source, name, split, search, metadata, project))

    # -- profiles ----------------------------------------------------------------------------

    def list_profiles(self, *, project: str | None = None) -> Page[Profile]:
        return self._send(calls.list_profiles(project))

    def create_profile(
        self,
        name: str,
        provider_id: str,
        *,
        config: dict[str, Any] | None = None,
        label: str | None = None,
        project: str | None = None,
    ) -> Profile:
        """A named provider; secrets go by env var name (`api_key_env`), never by value."""
        return self._send(calls.create_profile(name, provider_id, config, label, project))

    # -- runs --------------------------------------------------------------------------------

    def list_runs(self, *, limit: int = 50, offset: int = 0) -> Page[Run]:
        return self._send(calls.list_runs(limit, offset))

    def get_run(self, run_id: str) -> Run:
        return self._send(calls.get_run(run_id))

    def run_trials(
        self, run_id: str, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> Page[dict[str, Any]]:
        """A run's trials (promptfoo's result shape); `status` is pass, fail or error."""
        return self._send(calls.run_trials(run_id, status, limit, offset))

    def run_report(self, run_id: str, format: str = "json") -> str:
        """The report as text: html, json, jsonl, csv, markdown (md) or junit."""
        return self._send(calls.run_report(run_id, format))

    def compare_runs(self, a: str, b: str, *, alpha: float | None = None) -> dict[str, Any]:
        """The paired comparison of two runs (per-case differences, test, verdict)."""
        return self._send(calls.compare_runs(a, b, alpha))

    # -- jobs --------------------------------------------------------------------------------

    def start_job(self, kind: str, **body: Any) -> JobCreated:
        """POST /api/{kind} (run, evaluate, optimize) with `body` as given."""
        return self._send(calls.start_job(kind, body))

    def run_eval(
        self,
        config: dict[str, Any] | None = None,
        *,
        project: str | None = None,
        prompt: str | None = None,
        providers: Sequence[str | dict[str, Any]] | None = None,
        dataset: str | None = None,
        inject_vars: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> JobCreated:
        """Start an `evaluate` job from a config (promptyard.yaml as a dict) or from registry
        references (`prompt` as name, name@3 or name:label; provider ids or profile names)."""
        return self._send(calls.evaluate(config, project, prompt, providers, dataset,
                                              inject_vars, options, description))  # fmt: skip

    def run_manual_eval(
        self,
        config: dict[str, Any],
        *,
        project: str | None = None,
        options: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> JobCreated:
        """Start an `evaluate` job from a self-contained config: POST /api/evaluate {config}."""
        return self.run_eval(config, project=project, options=options, description=description)

    def run_prompt_eval(
        self,
        prompt: str,
        providers: Sequence[str | dict[str, Any]],
        dataset: str | None = None,
        *,
        inject_vars: dict[str, Any] | None = None,
        project: str | None = None,
        options: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> JobCreated:
        """Evaluate a registry prompt (name, name@3, name:label) on a dataset or on
        `inject_vars` alone."""
        return self.run_eval(project=project, prompt=prompt, providers=providers,
                             dataset=dataset, inject_vars=inject_vars, options=options,
                             description=description)  # fmt: skip

    def get_job(self, job_id: str) -> JobDetail:
        """The job, its manifest, every event so far and its summary (once finished)."""
        return self._send(calls.get_job(job_id))

    def list_jobs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        project: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Job]:
        return self._send(calls.list_jobs(kind, status, project, limit, offset))

    def cancel_job(self, job_id: str) -> CancelResult:
        """Ask a queued or running job to stop (ConflictError once it has finished)."""
        return self._send(calls.cancel_job(job_id))

    def resume_job(self, job_id: str) -> JobCreated:
        """Resume an interrupted, cancelled or failed job."""
        return self._send(calls.resume_job(job_id))

    def wait_for_job(
        self, job_id: str, timeout: float | None = 600.0, poll_interval: float = 1.0
    ) -> JobDetail:
        """Poll until the job finishes; JobTimeoutError after `timeout` s (None: no limit)."""
        deadline = Deadline.after(timeout)
        while True:
            detail = self.get_job(job_id)
            if detail.job.finished:
                return detail
            time.sleep(deadline.delay(job_id, detail.job.status, poll_interval))

    def wait_for_run(
        self, run_id: str, timeout: float | None = 600.0, poll_interval: float = 1.0
    ) -> Run:
        """The finished run, given its id or the id of the job that makes it."""
        start = time.monotonic()
        try:
            detail = self.get_job(run_id)
        except NotFoundError:
            detail = None
        if detail is not None:
            detail = self.wait_for_job(run_id, timeout, poll_interval)
            return self.get_run(run_id_of(detail, run_id))
        while True:
            run = self.get_run(run_id)
            if run_finished(run, run_id, start, timeout):
                return run
            time.sleep(poll_interval)

    def stream_job(
        self, job_id: str, *, after: int = 0, max_reconnects: int = MAX_STREAM_RECONNECTS
    ) -> Iterator[JobEvent]:
        """The job's events from seq `after` on, live, until its last `end` event (a job
        resumed after a cancel or a crash has one per stop: the stream goes on past the
        earlier ones and ends when the server closes it after the last). A dropped
        connection is resumed with Last-Event-ID (with backoff; no event twice); after
        `max_reconnects` failures in a row without progress it raises NetworkError."""
        cursor = StreamCursor(job_id, self._url(calls.events_path(job_id)), after, max_reconnects)
        timeout = self._settings.stream_timeouts()
        while True:
            wait: float | None = None
            try:
                with self._http.stream("GET", cursor.url,
                    headers=cursor.headers(self._settings.headers()), timeout=timeout,
                ) as response:  # fmt: skip
                    if response.status_code != 200:
                        response.read()
                        wait = cursor.refused(response)
                    else:
                        for message in iter_sse(response.iter_lines()):
                            event = to_job_event(message)
                            if cursor.take(event):
                                yield event
            except httpx.TransportError as exc:
                wait = cursor.dropped(exc)
            else:
                if wait is None:  # the server closed the stream
                    if cursor.ended:
                        return  # after the job's last `end`
                    cursor.closed()  # without one: done if the job is
                    detail = self.get_job(job_id)
                    if detail.job.finished:
                        yield from cursor.rest(detail.events)
                        return
                    wait = cursor.reopen_wait()
            cursor.failures += 1
            time.sleep(wait or 0.0)

    # -- optimizations -----------------------------------------------------------------------

    def list_optimizers(self) -> list[OptimizerInfo]:
        """Every optimizer on the server with its hyperparameters (name, type, default,
        range or choices)."""
        return self._send(calls.list_optimizers())

    def submit_optimization(
        self,
        *,
        config: dict[str, Any] | None = None,
        project: str | None = None,
        prompt: str | None = None,
        dataset: str | None = None,
        model: str | dict[str, Any] | None = None,
        proposer_model: str | dict[str, Any] | None = None,
        optimizer: str = "instruct",
        hyperparameters: dict[str, Any] | None = None,
        budgets: Budgets | dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> JobCreated:
        """Start an `optimize` job on a config with one prompt, or on registry references
        (`prompt` as name, name@3 or name:label; `dataset`; `model`, the provider to optimize
        for). `proposer_model` writes the candidates; `budgets` caps the spend
        (max_cost_usd, max_calls, max_seconds); `options` are the loop's settings."""
        return self._send(calls.optimize(
            config=config, project=project, prompt=prompt, dataset=dataset, model=model,
            proposer_model=proposer_model, optimizer=optimizer,
            hyperparameters=hyperparameters, budgets=budgets, options=options,
            description=description,
        ))  # fmt: skip

    def get_optimization(self, job_id: str) -> Optimization:
        """The job, its best iteration so far, and its result once finished (best prompt,
        seed and best test scores with intervals, spend, why it stopped)."""
        return self._send(calls.get_optimization(job_id))

    def list_iterations(
        self, job_id: str, *, order: Literal["step", "val"] = "step"
    ) -> list[Iteration]:
        """Every candidate so far, by step, or by validation score (best first)."""
        return self._send(calls.list_iterations(job_id, order))

    def get_best_iteration(self, job_id: str) -> Iteration:
        """The accepted candidate with the highest validation score (the seed at first)."""
        return self._send(calls.best_iteration(job_id))

    def cancel_optimization(self, job_id: str) -> CancelResult:
        """Stop the search; it ends `cancelled` and keeps the best candidate so far."""
        return self._send(calls.cancel_job(job_id))

    def wait_for_optimization(
        self, job_id: str, *, timeout: float | None = 600.0, poll_interval: float = 1.0
    ) -> Optimization:
        """Poll until the optimization finishes, however it ends; JobTimeoutError after
        `timeout` s (None: no limit)."""
        self.get_optimization(job_id)  # an unknown or non-optimize job fails now, not later
        self.wait_for_job(job_id, timeout, poll_interval)
        return self.get_optimization(job_id)

    def save_optimization(
        self,
        job_id: str,
        *,
        name: str | None = None,
        label: str | None = None,
        step: int | None = None,
        message: str | None = None,
    ) -> SavedVersion:
        """Save the best (or `step`'s) candidate as a new version of `name` (default: the
        registry prompt the job started from), then point `label` at it: `production`
        deploys it."""
        return self._send(calls.save_iteration(job_id, name, label, step, message))

    # -- tokens ------------------------------------------------------------------------------

    def create_token(
        self, name: str, *, scopes: Sequence[str] = ("read",), kind: str = "personal"
    ) -> TokenCreated:
        """A new token; its `secret` is in this answer only."""
        return self._send(calls.create_token(name, scopes, kind))

    def list_tokens(self) -> Page[Token]:
        return self._send(calls.list_tokens())

    def revoke_token(self, token_id: str) -> None:
        self._send(calls.revoke_token(token_id))
