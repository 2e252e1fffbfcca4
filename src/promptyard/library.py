"""The in-process library API: `evaluate()` and its async twin. A composition root (like cli/
and server/): the one place outside those that picks the concrete store, providers and grader.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptyard.core.plan import select_tests
from promptyard.core.types import EvalSpec, TrialResult
from promptyard.engine.budget import Budget
from promptyard.engine.runner import EvalRunner, TrialSink
from promptyard.errors import ConfigError
from promptyard.judge_models import RunJudgeModels, StoreJudgeCache, build_provider
from promptyard.preflight import _build_variants, _check_spec, _load_filters, _new_grader
from promptyard.preflight import check_config as check_config  # re-exported
from promptyard.preflight import check_tests as check_tests
from promptyard.results import TRIAL_COLUMNS as TRIAL_COLUMNS  # re-exported
from promptyard.results import EvalResult as EvalResult
from promptyard.results import summary_html as summary_html
from promptyard.results import trial_table as trial_table
from promptyard.settings import Settings, load_settings
from promptyard.trust import TrustPolicy

if TYPE_CHECKING:
    from promptyard.optimize.base import Evaluation
    from promptyard.optimize.loop import Notify, Outcome
    from promptyard.optimize.loop import Settings as OptimizeSettings
    from promptyard.providers.base import Provider
    from promptyard.store import Store
    from promptyard.store.lite import LiteStore


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
    kpi_threshold: float | None = None
    no_assertions: bool = False  # generate outputs only (the server's POST /api/run)
    # Record a test's own problems (unknown assertion type, missing variable, ...) as errored
    # trials instead of refusing the config; None: for promptfoo configs (promptfooconfig.*).
    errored_tests: bool | None = None


def load_spec(
    config: str | Path | Mapping[str, Any],
    *,
    base_dir: str | Path | None = None,
    request: EvalRequest | None = None,
    trust: TrustPolicy | None = None,
) -> EvalSpec:
    """Load and validate a config (a path, a project directory, or a dict). `trust` decides
    what it may read (default: the local user's policy)."""
    from promptyard.project import find_config, load_config, load_config_dict

    trust = trust or TrustPolicy.local()
    req = request or EvalRequest()
    if isinstance(config, Mapping):
        spec = load_config_dict(dict(config), base_dir=str(base_dir or Path.cwd()), trust=trust,
                                errored_tests=bool(req.errored_tests))  # fmt: skip
    else:
        path = Path(config)
        if path.is_dir():
            path = find_config(path)
        if not path.exists():
            raise ConfigError("config file not found", file=str(path))
        if path.suffix.lower() in JS_CONFIG_SUFFIXES:
            spec = load_config_dict(_js_config_data(path), base_dir=str(path.resolve().parent),
                                    source=path.name, trust=trust,
                                    errored_tests=req.errored_tests is not False)  # fmt: skip
            spec.config_path = str(path.resolve())
        else:
            spec = load_config(path, trust=trust, errored_tests=req.errored_tests)
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
    all_tests = spec.tests
    spec.tests = select_tests(spec.tests, pattern=req.filter_pattern, first_n=req.filter_first_n)
    if req.no_assertions:
        for test in spec.tests:
            test.assertions = []
        spec.raw_config = {k: v for k, v in spec.raw_config.items() if k not in _SCORING_KEYS}
    _load_kpis(spec, req, all_tests)
    return spec


_SCORING_KEYS = ("metrics", "kpis", "additional_kpis", "kpi_threshold")

JS_CONFIG_SUFFIXES = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts")
# Runs in the V8 sandbox (no require, files, network or timers): the module's exports (a
# default export, or a function returning the config, awaited) must be plain data.
_JS_CONFIG_BODY = """
const module = {exports: {}};
const require = (name) => {
  throw new Error('require(' + JSON.stringify(String(name)) + ') is not available: a ' +
    'JavaScript config runs in a sandbox without modules, files or network');
};
(function (module, exports, require) {
%s
})(module, module.exports, require);
let cfg = module.exports;
if (cfg && cfg.__esModule && 'default' in cfg) cfg = cfg.default;
if (typeof cfg === 'function') cfg = cfg();
const check = (v, at) => {
  if (typeof v === 'function') {
    throw new Error('the config holds a JavaScript function at ' + (at || 'the top level') +
      '; only plain data (strings, numbers, lists, objects) can be run outside promptfoo');
  }
  if (v && typeof v === 'object') {
    for (const k of Object.keys(v)) check(v[k], Array.isArray(v) ? at + '[' + k + ']' :
      (at ? at + '.' : '') + k);
  }
};
return Promise.resolve(cfg).then((c) => { check(c, ''); return c; });
"""


def _js_source(text: str, typescript: bool) -> str:
    """A JS/TS config as the body of a CommonJS module: `export default x` becomes
    `module.exports = x`; TypeScript's type-only imports and annotations on the config's
    declaration are dropped (anything else TypeScript-only fails to compile, named)."""
    import re

    text = re.sub(r"^[ \t]*export\s+default\s+", "module.exports = ", text, flags=re.M)
    if typescript:
        text = re.sub(r"^[ \t]*import[ \t]+type\b[^;\n]*;?[ \t]*$", "", text, flags=re.M)
        text = re.sub(
            r"^([ \t]*(?:const|let|var)[ \t]+[A-Za-z_$][\w$]*)[ \t]*:[ \t]*[\w$.<>\[\]| ]+?[ \t]*=",
            r"\1 =",
            text,
            flags=re.M,
        )
        text = re.sub(r"[ \t]+satisfies[ \t]+[\w$.<>\[\]|]+", "", text)
    if re.search(r"^[ \t]*(import|export)\b", text, flags=re.M):
        raise ConfigError(
            "ES module imports and exports other than `export default` are not"
            " supported in a JavaScript config (it runs without modules)"
        )
    return text


def _user_line(message: str, offset: int, count: int) -> str:
    """A sandbox message's `(line N)` as a line of the user's file (the wrapper's lines
    before it are `offset`); dropped when it points into the wrapper."""
    import re

    def fix(m: re.Match[str]) -> str:
        line = int(m.group(1)) - offset
        return f" (line {line})" if 0 < line <= count else ""

    return re.sub(r" \(line (\d+)\)", fix, message)


def _js_config_data(path: Path) -> dict[str, Any]:
    """Evaluate a promptfooconfig.js/.ts in the V8 sandbox (time and memory limits, no
    require, files or network) and return its exported plain data."""
    from promptyard.scorers.js_sandbox import JsError, JsSandbox

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", file=path.name) from None
    typescript = path.suffix.lower() in (".ts", ".cts", ".mts")
    try:
        body = _JS_CONFIG_BODY % _js_source(text, typescript)
    except ConfigError as exc:
        raise ConfigError(str(exc), file=path.name) from None
    settings = load_settings()
    sandbox = JsSandbox(
        timeout_ms=settings.js_timeout_ms, max_memory_bytes=settings.js_max_memory_mb * 2**20
    )

    async def run() -> Any:
        return (
            await sandbox.call(sandbox.compile_body(body, label=path.name), "[null,null]")
        ).value

    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            value = asyncio.run(run())
        else:  # called from async code: evaluate on a thread of its own
            box: list[Any] = []

            def in_thread() -> None:
                try:
                    box.append(asyncio.run(run()))
                except BaseException as exc:  # re-raised on the caller's thread
                    box.append(exc)

            worker = threading.Thread(target=in_thread, name="promptyard-js-config")
            worker.start()
            worker.join()
            value = box[0] if box else None
            if isinstance(value, BaseException):
                raise value
    except JsError as exc:
        hint = " (TypeScript beyond type annotations is not supported)" if typescript else ""
        offset = _JS_CONFIG_BODY.split("%s")[0].count("\n")
        message = _user_line(str(exc), offset, text.count("\n") + 1)
        raise ConfigError(f"the JavaScript config failed: {message}{hint}",
                          file=path.name) from None  # fmt: skip
    finally:
        sandbox.close()
    if not isinstance(value, dict):
        raise ConfigError("a JavaScript config must export an object (module.exports = {...})",
                          file=path.name)  # fmt: skip
    return value


def _load_kpis(spec: EvalSpec, req: EvalRequest, all_tests: Sequence[Any] = ()) -> None:
    """The config's weighted KPIs (scorers/kpi.py), checked before any call: when every named
    metric is known from the config (no code assertion that may return its own), an unknown
    name in an expression (`0.7 * scroe`) is a load error. promptfoo's derivedMetrics
    (scorers/derived.py) are checked here too."""
    if "derivedMetrics" in spec.raw_config:
        from promptyard.scorers.derived import parse_derived_metrics

        where = Path(spec.config_path).name if spec.config_path else "<config>"
        parse_derived_metrics(spec.raw_config["derivedMetrics"], where=where)
    if any(key in spec.raw_config for key in ("kpis", "additional_kpis", "kpi_threshold")):
        from promptyard.scorers.kpi import parse_kpi_config

        where = Path(spec.config_path).name if spec.config_path else "<config>"
        known = _known_metrics(all_tests or spec.tests)
        spec.kpis, spec.kpi_threshold = parse_kpi_config(
            spec.raw_config, where=where, known_metrics=known
        )
    if req.kpi_threshold is not None:
        if not any(k.weight > 0 for k in spec.kpis):
            raise ConfigError("--kpi-threshold needs `kpis` with a weight above 0 in the config")
        spec.kpi_threshold = req.kpi_threshold


_CODE_ASSERTIONS = ("javascript", "python")  # may return namedScores of their own


def _known_metrics(tests: Sequence[Any]) -> set[str] | None:
    """Every named metric the tests' assertions (assert-sets included) can give, or None when
    a code assertion may add names of its own."""
    names: set[str] = set()
    stack = [a for test in tests for a in test.assertions]
    while stack:
        assertion = stack.pop()
        kind = str(assertion.type).lower().removeprefix("not-")
        if kind in _CODE_ASSERTIONS:
            return None
        if assertion.metric:
            names.add(str(assertion.metric))
        stack.extend(assertion.assertions)
    return names


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
    run_id: str | None = None,
    project: str | None = None,
    resume: bool = False,
    budget: Budget | None = None,
    trust: TrustPolicy | None = None,
) -> EvalResult:
    """Evaluate a config and keep the run in the store. See `evaluate` for the arguments;
    `budget` caps spend (checked before every task call; judge calls are counted in it);
    `trust` is what the config may reach (default: the local user's policy)."""
    from promptyard.store import default_database_url

    settings = settings or load_settings()
    trust = trust or TrustPolicy.local(settings)
    if spec is None:
        if config is None:
            raise ValueError("give a config or a spec")
        spec = load_spec(config, base_dir=base_dir, request=request, trust=trust)
    if not settings.cache and (request is None or request.cache is None):
        spec.options.cache = False  # PROMPTYARD_CACHE=false, unless the caller says otherwise
    url = database_url or settings.database_url or default_database_url(spec.base_dir)
    store = _OpeningStore(url)
    judge_models = RunJudgeModels(settings, spec.options, spec.base_dir, trust=trust,
                                  budget=budget)  # fmt: skip
    grader = _new_grader(spec, settings, trust, judge_models,
                         cache_store=store if spec.options.cache else None)  # fmt: skip
    providers: list[Provider] = []
    try:
        # The same checks as check_config (a server's submit), again: a resumed job runs under
        # today's policy, not the one it was accepted under.
        _check_spec(spec, grader, trust)
        if not url.startswith("sqlite"):
            store.wait()  # a network database: fail before any call if it is unreachable
        # A bad second provider must not leak the first one's connections.
        for provider_spec in spec.providers:
            providers.append(build_provider(provider_spec, base_dir=spec.base_dir, trust=trust))
        variants = _build_variants(spec, trust, providers)
        runner = EvalRunner(
            spec,
            providers=providers[: len(spec.providers)],  # the variants follow them
            grader=grader,
            store=store,
            on_trial=on_trial,
            cancel=cancel,
            keep_trials=keep_trials,
            run_id=run_id,
            project=project,
            resume=resume,
            budget=budget,
            limits=trust.limits,
            variants=variants,
        )
        store.start()  # SQLite opens while the first calls are in flight
        from promptyard.core.templates import using_filters

        filters = _load_filters(spec, trust, settings)
        try:
            with using_filters(filters.templates if filters is not None else None):
                outcome = await runner.run()
        finally:
            if filters is not None:
                filters.close()
    finally:
        for provider in providers:
            await provider.aclose()
        await judge_models.aclose()
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

    A SQLite file at the newest schema opens as the lean store (store/lite.py, ~1 ms);
    anything else as the full Store, which costs ~0.2-0.5 s of imports (SQLAlchemy) and I/O.
    Started once the providers are ready, it overlaps the first round of calls, which do not
    need the store unless the response cache is read. The engine only calls the store from
    worker threads (asyncio.to_thread), where waiting for the open to finish is harmless.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._ready = threading.Event()
        self._started = False
        self._store: Store | LiteStore | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if not self._started:
            self._started = True
            threading.Thread(target=self._open, name="promptyard-store-open", daemon=True).start()

    def wait(self) -> Store | LiteStore:
        if not self._started:
            self._started = True
            self._open()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._store is not None
        return self._store

    def _open(self) -> None:
        from promptyard.store.lite import LiteStore

        try:
            self._store = LiteStore.open(self._url) or _full_store(self._url)
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

    def finished_indexes(self, run_id: str) -> set[int]:
        return self.wait().finished_indexes(run_id)

    def iter_trials(self, run_id: str) -> Iterator[TrialResult]:
        return self.wait().iter_trials(run_id)

    def reopen_run(self, run_id: str) -> None:
        self.wait().reopen_run(run_id)

    def close(self) -> None:
        if self._started:
            self._ready.wait()
        if self._store is not None:
            self._store.close()


def _full_store(url: str) -> Store:
    from promptyard.store import Store

    return Store.open(url)


async def optimize_async(
    config: str | Path | Mapping[str, Any],
    *,
    optimizer: str = "instruct",
    hyperparameters: Mapping[str, Any] | None = None,
    proposer: Any = None,
    options: OptimizeSettings | None = None,
    base_dir: str | Path | None = None,
    database_url: str | None = None,
    settings: Settings | None = None,
    notify: Notify | None = None,
    cancel: asyncio.Event | None = None,
    optimization_id: str | None = None,
    trust: TrustPolicy | None = None,
) -> Outcome:
    """Improve the config's one prompt with `optimizer` (see `optimizers()`): `proposer` (a
    provider id or {id, config}) is the model that writes candidates; a candidate is kept
    only when it is better on validation beyond noise; the seed and the winner are scored on
    test. Every evaluation is a run in the store, every iteration a row under
    `optimization_id` (a fresh id unless given), and every call is cached, so a re-run with
    the same seed repeats no paid call. `options` holds the loop's settings and budgets."""
    import uuid

    from promptyard.core.hashing import content_hash
    from promptyard.core.types import PromptTemplate
    from promptyard.engine.budget import completion_tokens, estimate_call_cost, prompt_tokens
    from promptyard.judge_models import CachedChat
    from promptyard.optimize.base import BudgetExhausted
    from promptyard.optimize.loop import iteration_dict, optimize
    from promptyard.optimize.registry import get_optimizer
    from promptyard.store import Store, default_database_url

    settings = settings or load_settings()
    trust = trust or TrustPolicy.local(settings)
    spec = load_spec(config, base_dir=base_dir, trust=trust)
    if len(spec.prompts) != 1 or spec.prompts[0].messages is not None:
        raise ConfigError("the optimizer improves one text prompt: give exactly one",
                          field="prompts")  # fmt: skip
    info = get_optimizer(optimizer)
    search = info.build(hyperparameters)
    if info.needs_proposer and proposer in (None, ""):
        raise ConfigError(f"the {optimizer} optimizer needs a proposer model (a provider id)",
                          field="proposer_model")  # fmt: skip
    models = RunJudgeModels(settings, spec.options, spec.base_dir, trust=trust)
    if proposer not in (None, ""):
        models.check(proposer, "chat", "proposer_model")  # built now, through the policy
    url = database_url or settings.database_url or default_database_url(spec.base_dir)
    opt_id = optimization_id or str(uuid.uuid4())
    task = build_provider(spec.providers[0], base_dir=spec.base_dir, trust=trust)
    store = await asyncio.to_thread(Store.open, url)
    out_tokens = completion_tokens(spec.providers[0].config)

    def estimate(prompt: str, calls: int) -> float:
        per_call = estimate_call_cost(task, prompt_tokens(prompt), out_tokens)
        return per_call * calls * len(spec.providers)

    async def evaluate(
        prompt: str, which: Sequence[int], *, repeat: int = 1, budget: Budget | None = None
    ) -> Evaluation:
        candidate = PromptTemplate(id=content_hash(prompt, size=16), label="candidate",
                                   text=prompt)  # fmt: skip
        options = dataclasses.replace(spec.options, repeat=repeat)
        sub = dataclasses.replace(spec, prompts=[candidate], options=options,
                                  tests=[spec.tests[i] for i in which])  # fmt: skip
        result = await evaluate_async(spec=sub, database_url=url, settings=settings,
                                      budget=budget, cancel=cancel, trust=trust)  # fmt: skip
        stopped = str(result.summary.get("stopped_by") or "")
        if stopped.startswith("budget"):
            raise BudgetExhausted(stopped)
        return _evaluation(result)

    async def on_iteration(it: Any) -> None:
        await asyncio.to_thread(store.iterations.put, opt_id, iteration_dict(it))

    chat = None
    if proposer not in (None, ""):
        chat = CachedChat(models.chat(proposer), StoreJudgeCache(store))
    try:
        outcome = await optimize(
            spec.prompts[0].text, spec.tests, search, evaluate, options, chat=chat,
            estimate=estimate, on_iteration=on_iteration, cancel=cancel,
            **({"notify": notify} if notify else {}),
        )  # fmt: skip
    finally:
        await models.aclose()
        await task.aclose()
        await asyncio.to_thread(store.close)
    outcome.optimization_id = opt_id
    return outcome


def _objective(trial: TrialResult) -> float:
    """What the optimizer maximizes: the config's weighted KPI score when it has KPIs, else
    the assertions' weighted score (judge metrics included)."""
    kpi = (trial.kpis or {}).get("score")
    return float(kpi) if kpi is not None else trial.score


def _evaluation(result: EvalResult) -> Evaluation:
    """An engine result as the optimizer sees it: per case, its samples' scores and verdicts,
    why it failed, and its first output."""
    from promptyard.optimize.base import CaseResult, Evaluation

    by_case: dict[str, list[TrialResult]] = {}
    for trial in result.trials:
        by_case.setdefault(trial.case_id, []).append(trial)
    cases = [
        CaseResult(
            cid,
            tuple(_objective(t) for t in ts),
            tuple(t.success for t in ts),
            "; ".join(t.error or (t.grading.reason if t.grading else "")
                      for t in ts if not t.success),
            "" if ts[0].output is None else str(ts[0].output),
        )
        for cid, ts in by_case.items()
    ]  # fmt: skip
    return Evaluation(cases, float(result.summary.get("total_cost") or 0.0), result.run_id)
