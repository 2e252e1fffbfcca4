"""The in-process library API: `evaluate()` and its async twin. A composition root (like cli/
and server/): the one place outside those that picks the concrete store, providers and grader.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptyard.core.plan import select_tests
from promptyard.core.types import EvalSpec, TrialResult
from promptyard.engine.budget import Budget
from promptyard.engine.runner import EvalRunner, TrialSink
from promptyard.errors import ConfigError
from promptyard.judge_models import RunJudgeModels, StoreJudgeCache, build_provider
from promptyard.settings import Settings, load_settings
from promptyard.trust import TrustPolicy

if TYPE_CHECKING:
    import pandas as pd

    from promptyard.optimize.base import Evaluation
    from promptyard.optimize.loop import Notify, Outcome
    from promptyard.optimize.loop import Settings as OptimizeSettings
    from promptyard.providers.base import Provider
    from promptyard.scorers import Grader
    from promptyard.scorers.judge import Judge
    from promptyard.store import Store
    from promptyard.store.lite import LiteStore


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

    def __repr__(self) -> str:  # the dataclass's would print every trial
        s = self.summary
        return (
            f"EvalResult(run_id={self.run_id!r}, status={self.status!r}, "
            f"passed={s.get('passed', 0)}/{s.get('total', 0)}, failed={s.get('failed', 0)}, "
            f"errors={s.get('errors', 0)}, trials={len(self.trials)})"
        )

    def to_dataframe(self) -> pd.DataFrame:
        """The trials as a pandas DataFrame, one row per trial (pandas is imported here only).

        Columns, in this order: `run_id`, `trial_index` (position in the plan), `case_index`,
        `case_id`, `description`, `prompt_id`, `prompt_label`, `provider_id`,
        `provider_label`, `sample`; one `var_<name>` column per test variable (values as given,
        None where a case lacks it); `output` (text: a string as is, any other output as
        JSON), `status` ("pass", "fail" or "error"), `success`, `score`, `reason` (the
        grader's), `error`, `latency_ms`, `cost` (USD, missing when unpriced), `prompt_tokens`,
        `completion_tokens`, `total_tokens`, `cached`, `created_at`; then one
        `metric_<name>` column per named metric (an assertion's `metric:`), NaN where a trial
        has no score for it. The prefixes keep a variable or metric called, say, `score` apart
        from the built-in column.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("EvalResult.to_dataframe() needs pandas: pip install pandas") from exc
        if not self.trials and self.summary.get("total", 0):
            raise ValueError(
                "this result holds no trials (evaluate(..., keep_trials=False)); "
                "evaluate with keep_trials=True, or read the run's trials from the store"
            )
        columns, rows = trial_table(self.trials)
        return pd.DataFrame(rows, columns=columns)

    def _repr_html_(self) -> str:
        """A compact summary table for notebooks (Jupyter calls this; no pandas needed)."""
        return summary_html(self.run_id, self.status, self.summary)


# The fixed columns of `EvalResult.to_dataframe` (var_ and metric_ columns are added per run).
TRIAL_COLUMNS = [
    "run_id",
    "trial_index",
    "case_index",
    "case_id",
    "description",
    "prompt_id",
    "prompt_label",
    "provider_id",
    "provider_label",
    "sample",
    "output",
    "status",
    "success",
    "score",
    "reason",
    "error",
    "latency_ms",
    "cost",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached",
    "created_at",
]
_VARS_AT = TRIAL_COLUMNS.index("output")  # the var_ columns go before the output


def trial_table(trials: Sequence[TrialResult]) -> tuple[list[str], list[list[Any]]]:
    """Column names and one row per trial: the table behind `EvalResult.to_dataframe`."""
    from promptyard.reports.common import output_text, status

    var_names: dict[str, None] = {}  # first-seen order
    metric_names: dict[str, None] = {}
    for t in trials:
        var_names.update(dict.fromkeys(t.vars))
        if t.grading is not None:
            metric_names.update(dict.fromkeys(t.grading.named_scores))
    rows: list[list[Any]] = []
    for t in trials:
        named = t.grading.named_scores if t.grading is not None else {}
        rows.append(
            [t.run_id, t.index, t.case_index, t.case_id, t.description]
            + [t.prompt_id, t.prompt_label, t.provider_id, t.provider_label, t.sample]
            + [t.vars.get(name) for name in var_names]
            + [output_text(t.output), status(t), t.success, t.score]
            + [t.grading.reason if t.grading is not None else None, t.error]
            + [t.latency_ms, t.cost, t.usage.prompt, t.usage.completion, t.usage.total]
            + [t.cached, t.created_at or None]
            + [named.get(name, float("nan")) for name in metric_names]
        )
    columns = (
        TRIAL_COLUMNS[:_VARS_AT]
        + [f"var_{name}" for name in var_names]
        + TRIAL_COLUMNS[_VARS_AT:]
        + [f"metric_{name}" for name in metric_names]
    )
    return columns, rows


_SUMMARY_HEAD = (
    "prompt",
    "provider",
    "pass rate (95% CI)",
    "passed",
    "failed",
    "errors",
    "mean score",
    "cost (USD)",
    "p50 / p95 ms",
)


def summary_html(run_id: str, status: str, summary: Mapping[str, Any]) -> str:
    """A run's summary as a small HTML table, one row per prompt x provider; all text escaped."""
    from html import escape

    from promptyard.reports.common import format_ci, one_line

    def num(value: Any, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, (int, float)) else "–"

    total, passed = summary.get("total", 0), summary.get("passed", 0)
    rate = 100 * float(summary.get("pass_rate", 0.0))
    head = (
        f"Run <code>{escape(run_id)}</code> · {escape(status)} · {passed}/{total} passed "
        f"({rate:.1f}%), {summary.get('failed', 0)} failed, {summary.get('errors', 0)} errors"
    )
    cells = "".join(f"<th>{escape(h)}</th>" for h in _SUMMARY_HEAD)
    out = [f'<div class="promptyard-result"><p>{head}</p>']
    pairs: list[dict[str, Any]] = list(summary.get("pairs") or [])
    if not pairs:
        out.append("<p>No trials.</p></div>")
        return "".join(out)
    out.append(f"<table><thead><tr>{cells}</tr></thead><tbody>")
    right = ' style="text-align:right"'
    for p in pairs:
        prompt, provider = str(p.get("prompt_label", "")), str(p.get("provider_label", ""))
        ci = format_ci(p.get("pass_rate_ci"))
        pass_rate = f"{100 * float(p.get('pass_rate', 0.0)):.1f}%" + (f" ({ci})" if ci else "")
        cost = f"${num(p.get('cost'), '.6f')}"
        if p.get("cost_unknown") and not p.get("cost"):
            cost = "unknown"
        if p.get("judge_cost"):
            cost += f" + ${num(p.get('judge_cost'), '.6f')} judges"
        latency = p.get("latency_ms") or {}
        values = [
            pass_rate,
            str(p.get("passed", 0)),
            str(p.get("failed", 0)),
            str(p.get("errors", 0)),
            num(p.get("mean_score"), ".3f"),
            cost,
            f"{num(latency.get('p50'), '.0f')} / {num(latency.get('p95'), '.0f')}",
        ]
        out.append(
            f'<tr><td title="{escape(prompt)}">{escape(one_line(prompt, 60))}</td>'
            f'<td title="{escape(provider)}">{escape(one_line(provider, 40))}</td>'
            + "".join(f"<td{right}>{escape(v)}</td>" for v in values)
            + "</tr>"
        )
    out.append("</tbody></table></div>")
    return "".join(out)


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


def _new_grader(
    spec: EvalSpec,
    settings: Settings,
    trust: TrustPolicy,
    judge_models: RunJudgeModels,
    *,
    cache_store: Any = None,
    prestart_js: bool = True,
) -> Grader:
    from promptyard.scorers import Grader

    def make_judge() -> Judge:
        from promptyard.scorers.judge import Judge

        cache = StoreJudgeCache(cache_store) if cache_store is not None else None
        return Judge(judge_models, cache=cache, base_dir=spec.base_dir)

    return Grader(
        base_dir=spec.base_dir,
        trust=trust,
        js_timeout_ms=settings.js_timeout_ms,
        js_max_memory_bytes=settings.js_max_memory_mb * 2**20,
        judge=make_judge,
        prestart_js=prestart_js,
        providers=spec.providers,
    )


def _check_spec(spec: EvalSpec, grader: Grader, trust: TrustPolicy) -> None:
    """What a run checks before its first call, in order: every assertion (which builds each
    judge and embedding model through the policy), then the task providers' credentials."""
    from promptyard.providers import check_credentials

    _validate_tests(spec, grader)
    for provider_spec in spec.providers:
        check_credentials(provider_spec, trust=trust)
    filters = _load_filters(spec, trust)  # a bad or refused filter file stops the run here
    if filters is not None:
        filters.close()


def _load_filters(spec: EvalSpec, trust: TrustPolicy, settings: Settings | None = None) -> Any:
    """The config's nunjucksFilters (JS in the sandbox, Python where allowed), or None."""
    if not spec.raw_config.get("nunjucksFilters"):
        return None
    from promptyard.scorers.nunjucks_filters import load_nunjucks_filters

    settings = settings or load_settings()
    return load_nunjucks_filters(spec.raw_config.get("nunjucksFilters"), base_dir=spec.base_dir,
                                 trust=trust, js_timeout_ms=settings.js_timeout_ms,
                                 js_max_memory_bytes=settings.js_max_memory_mb * 2**20)  # fmt: skip


def check_tests(
    spec: EvalSpec, *, settings: Settings | None = None, trust: TrustPolicy | None = None
) -> EvalSpec:
    """Validate every test's assertions as a run does before its first call (building judge
    and embedding models through `trust`, calling none), without building the task providers
    or checking their credentials. Returns the spec."""
    settings = settings or load_settings()
    trust = trust or TrustPolicy.local(settings)
    judge_models = RunJudgeModels(settings, spec.options, spec.base_dir, trust=trust)
    grader = _new_grader(spec, settings, trust, judge_models, prestart_js=False)
    try:
        _validate_tests(spec, grader)
    finally:
        grader.close()
        _close_now([], judge_models)
    return spec


def _validate_tests(spec: EvalSpec, grader: Grader) -> None:
    """Every test's assertions; in a promptfoo config (spec.errored_tests) a test whose
    assertion is refused (an unknown type, an unsupported model kind, a missing value) is
    marked errored, with the reason, and the others run."""
    for test in spec.tests:
        if test.error is not None:
            continue
        if not spec.errored_tests:
            grader.validate_test(test)
            continue
        try:
            grader.validate_test(test)
        except ConfigError as exc:
            test.error = str(exc)


def check_config(
    config: str | Path | Mapping[str, Any] | EvalSpec,
    *,
    base_dir: str | Path | None = None,
    settings: Settings | None = None,
    trust: TrustPolicy | None = None,
    request: EvalRequest | None = None,
    proposer: Any = None,
) -> EvalSpec:
    """Everything `evaluate_async` does before its first call, and no call: load the config,
    validate every assertion (building each judge and embedding model), check the task
    providers' credentials and build each one (and the optimizer's `proposer`, when given),
    all under `trust`; then close what was built. Raises ConfigError naming the field (or
    ProviderAuthError naming the variable to set). Returns the loaded spec.

    Synchronous: it runs user code only where `trust` allows Python (importing a python:
    provider's file), so the server calls it from a worker thread."""
    settings = settings or load_settings()
    trust = trust or TrustPolicy.local(settings)
    if isinstance(config, EvalSpec):
        spec = config
    else:
        spec = load_spec(config, base_dir=base_dir, request=request, trust=trust)
    judge_models = RunJudgeModels(settings, spec.options, spec.base_dir, trust=trust)
    grader = _new_grader(spec, settings, trust, judge_models, prestart_js=False)
    providers: list[Provider] = []
    try:
        _check_spec(spec, grader, trust)
        for provider_spec in spec.providers:
            providers.append(build_provider(provider_spec, base_dir=spec.base_dir, trust=trust))
        _build_variants(spec, trust, providers)
        if proposer not in (None, ""):
            judge_models.check(proposer, "chat", "proposer_model")
    finally:
        grader.close()
        _close_now(providers, judge_models)
    return spec


def _build_variants(
    spec: EvalSpec, trust: TrustPolicy, built: list[Provider]
) -> dict[tuple[int, int], Provider]:
    """The providers per-prompt `config` asks for (core.plan.prompt_configs), built under
    `trust` like the others; each is appended to `built` too, so the caller closes it."""
    from promptyard.core.plan import prompt_configs

    variants: dict[tuple[int, int], Provider] = {}
    for key, provider_spec in prompt_configs(spec).items():
        provider = build_provider(provider_spec, base_dir=spec.base_dir, trust=trust)
        built.append(provider)
        variants[key] = provider
    return variants


def _close_now(providers: Sequence[Provider], judge_models: RunJudgeModels) -> None:
    """Close providers that never made a call, from synchronous code (a loop of their own,
    on this thread unless it already runs one)."""

    async def close() -> None:
        for provider in providers:
            await provider.aclose()
        await judge_models.aclose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(close())
        return
    worker = threading.Thread(target=asyncio.run, args=(close(),), name="promptyard-close")
    worker.start()
    worker.join()


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
