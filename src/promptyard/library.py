"""The in-process library API: `evaluate()` and its async twin. A composition root (like cli/
and server/): the one place outside those that picks the concrete store, providers and grader.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptyard.core.plan import select_tests
from promptyard.core.types import EvalSpec, TrialResult
from promptyard.engine.runner import EvalRunner, TrialSink
from promptyard.errors import ConfigError
from promptyard.settings import Settings, load_settings

if TYPE_CHECKING:
    from promptyard.store import Store


@dataclass(slots=True)
class EvalResult:
    """What `evaluate` returns: the run's id and status, its summary and its trials."""

    run_id: str
    status: str
    summary: dict[str, Any]
    trials: list[TrialResult] = field(default_factory=list)
    database_url: str = ""

    @property
    def pass_rate(self) -> float:
        return float(self.summary.get("pass_rate", 0.0))

    @property
    def all_passed(self) -> bool:
        return bool(self.summary.get("total", 0) == self.summary.get("passed", -1))


@dataclass(slots=True)
class EvalRequest:
    """Overrides a caller applies on top of the config (the CLI's flags)."""

    max_concurrency: int | None = None
    repeat: int | None = None
    delay_ms: int | None = None
    cache: bool | None = None
    filter_pattern: str | None = None
    filter_first_n: int | None = None
    description: str | None = None


def load_spec(
    config: str | Path | Mapping[str, Any],
    *,
    base_dir: str | Path | None = None,
    request: EvalRequest | None = None,
) -> EvalSpec:
    """Load and validate a config (a path, a project directory, or a dict)."""
    from promptyard.project import find_config, load_config, load_config_dict

    if isinstance(config, Mapping):
        spec = load_config_dict(dict(config), base_dir=str(base_dir or Path.cwd()))
    else:
        path = Path(config)
        if path.is_dir():
            path = find_config(path)
        if not path.exists():
            raise ConfigError("config file not found", file=str(path))
        spec = load_config(path)
    req = request or EvalRequest()
    options = spec.options
    if req.max_concurrency is not None:
        options.max_concurrency = req.max_concurrency
    if req.repeat is not None:
        options.repeat = req.repeat
    if req.delay_ms is not None:
        options.delay_ms = req.delay_ms
    if req.cache is not None:
        options.cache = req.cache
    if req.description:
        spec.description = req.description
    if options.max_concurrency < 1:
        raise ConfigError("must be at least 1", field="max_concurrency")
    if options.repeat < 1:
        raise ConfigError("must be at least 1", field="repeat")
    spec.tests = select_tests(spec.tests, pattern=req.filter_pattern, first_n=req.filter_first_n)
    return spec


async def evaluate_async(
    config: str | Path | Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
    request: EvalRequest | None = None,
    database_url: str | None = None,
    settings: Settings | None = None,
    on_trial: TrialSink | None = None,
    cancel: asyncio.Event | None = None,
    keep_trials: bool = True,
    spec: EvalSpec | None = None,
) -> EvalResult:
    """Evaluate a config and keep the run in the store. See `evaluate` for the arguments."""
    from promptyard.providers import check_credentials, create_provider
    from promptyard.scorers import Grader
    from promptyard.store import default_database_url

    settings = settings or load_settings()
    if spec is None:
        if config is None:
            raise ValueError("give a config or a spec")
        spec = load_spec(config, base_dir=base_dir, request=request)
    if not settings.cache and (request is None or request.cache is None):
        spec.options.cache = False  # PROMPTYARD_CACHE=false, unless the caller says otherwise
    grader = Grader(
        base_dir=spec.base_dir,
        allow_python=settings.allow_python,
        js_timeout_ms=settings.js_timeout_ms,
        js_max_memory_bytes=settings.js_max_memory_mb * 2**20,
    )
    validated: set[int] = set()  # defaultTest's assertions are one object shared by every test
    for test in spec.tests:
        for assertion in test.assertions:
            if id(assertion) not in validated:
                validated.add(id(assertion))
                grader.validate(assertion)
    for provider_spec in spec.providers:
        check_credentials(provider_spec)
    url = database_url or settings.database_url or default_database_url(spec.base_dir)
    store = _OpeningStore(url)
    if not url.startswith("sqlite"):
        store.wait()  # a network database: fail before any call if it is unreachable
    providers = []
    try:
        # Inside the try: a bad second provider must not leak the first one's connections.
        for provider_spec in spec.providers:
            providers.append(create_provider(provider_spec, base_dir=spec.base_dir))
        runner = EvalRunner(
            spec,
            providers=providers,
            grader=grader,
            store=store,
            on_trial=on_trial,
            cancel=cancel,
            keep_trials=keep_trials,
        )
        store.start()  # SQLite opens while the first calls are in flight
        outcome = await runner.run()
    finally:
        for provider in providers:
            await provider.aclose()
        grader.close()
        await asyncio.to_thread(store.close)
    return EvalResult(outcome.run_id, outcome.status, outcome.summary, outcome.trials, url)


def evaluate(
    config: str | Path | Mapping[str, Any],
    *,
    base_dir: str | Path | None = None,
    request: EvalRequest | None = None,
    database_url: str | None = None,
    settings: Settings | None = None,
    on_trial: TrialSink | None = None,
    keep_trials: bool = True,
) -> EvalResult:
    """Evaluate `config` (a promptyard.yaml path, a project folder or a dict) and return the
    run's summary and trials. The run is kept in the project's store (SQLite by default)."""
    return asyncio.run(
        evaluate_async(
            config,
            base_dir=base_dir,
            request=request,
            database_url=database_url,
            settings=settings,
            on_trial=on_trial,
            keep_trials=keep_trials,
        )
    )


class _OpeningStore:
    """The run's store, opened on a background thread.

    Opening costs ~0.2 s of imports (SQLAlchemy) and I/O. Started once the providers are
    ready, it overlaps the first round of calls, which do not need the store unless the
    response cache is read. The engine only calls the store from worker threads
    (asyncio.to_thread), where waiting for the open to finish is harmless.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._ready = threading.Event()
        self._started = False
        self._store: Store | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if not self._started:
            self._started = True
            threading.Thread(target=self._open, name="promptyard-store-open", daemon=True).start()

    def wait(self) -> Store:
        if not self._started:
            self._started = True
            self._open()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._store is not None
        return self._store

    def _open(self) -> None:
        from promptyard.store import Store

        try:
            self._store = Store.open(self._url)
        except BaseException as exc:  # re-raised by wait(), in the caller's thread
            self._error = exc
        finally:
            self._ready.set()

    def create_run(self, **fields: Any) -> None:
        self.wait().create_run(**fields)

    def add_trials(self, trials: Sequence[TrialResult]) -> None:
        self.wait().add_trials(trials)

    def finish_run(self, run_id: str, **fields: Any) -> None:
        self.wait().finish_run(run_id, **fields)

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self.wait().cache_get_many(keys)

    def cache_put_many(self, items: Mapping[str, dict[str, Any]]) -> None:
        self.wait().cache_put_many(items)

    def close(self) -> None:
        if self._started:
            self._ready.wait()
        if self._store is not None:
            self._store.close()
