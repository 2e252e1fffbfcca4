"""The engine's entry point: validate assertions at load time, grade a whole test per trial.

Per trial the grader applies the test's transform, resolves each assertion's value (templates
with the test vars, file:// references), runs its check, and aggregates with promptfoo's rules.
Work that depends only on the assertion (type lookup, whether the value is a template) is done
once per distinct (type, value) and cached, since grade() runs thousands of times; shared
defaultTest assertions and identical assertions of different cases share one entry.
JavaScript runs in a child process that the grader starts as soon as validate() sees it needed,
so its start overlaps the rest of start-up; its calls are awaited without blocking the loop.
The trust policy decides what user code may run: validate() refuses Python where it is off
(python assertions, .py values and transforms) and script files outside the project under a
confining policy, and builds every judge model it names through the policy, before any call.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from promptyard.core.types import (
    Assertion,
    GradingContext,
    GradingResult,
    ProviderSpec,
    TestCase,
    TokenUsage,
    TrialResult,
)
from promptyard.errors import ConfigError
from promptyard.scorers.aggregate import Aggregate
from promptyard.scorers.base import AssertionType, CheckInput
from promptyard.scorers.registry import (
    ASSERT_SET,
    COMPARE_TYPES,
    MAX_SCORE,
    SELECT_BEST,
    resolve_type,
)
from promptyard.scorers.validation import check_script_ref, check_value
from promptyard.scorers.values import (
    coerce_string,
    is_script_file,
    is_template,
    load_file_value,
    render,
)
from promptyard.trust import TrustPolicy

if TYPE_CHECKING:
    from promptyard.scorers.code import CodeRunner  # type: ignore[import-not-found, unused-ignore]
    from promptyard.scorers.judge import Judge

_NO_ASSERTIONS = "No assertions"

# How an assertion's value is resolved per trial.
_STATIC, _TEMPLATE, _LIST, _FILE, _SCRIPT = range(5)
_PREPARED_MAX = 4096  # distinct (type, value) pairs kept; the oldest go first
_JS_EXTS = (".js", ".cjs", ".mjs")
_LOCAL = TrustPolicy()  # the local user's: what a Grader built without a policy may run


@dataclass(slots=True)
class _Prepared:
    entry: AssertionType
    inverse: bool
    value_mode: int


class Grader:
    """Grades test cases. One per run; not shared between event loops.

    `trust` is what user code may do (default: the local user's policy, which allows
    Python); `prestart_js=False` keeps validate() from starting the JavaScript sandbox (a
    check that runs nothing)."""

    def __init__(
        self,
        *,
        base_dir: str = ".",
        trust: TrustPolicy = _LOCAL,
        js_timeout_ms: int = 2000,
        js_max_memory_bytes: int = 64 * 2**20,
        judge: Callable[[], Judge] | None = None,
        prestart_js: bool = True,
        providers: list[ProviderSpec] | None = None,
    ) -> None:
        self._base_dir = base_dir
        # Tool definitions per provider id, for the tool-call assertions (loaded on first use).
        self._tool_specs: dict[str, list[dict[str, Any]]] = {}
        for spec in providers or ():
            if spec.config.get("functions") or spec.config.get("tools"):
                self._tool_specs.setdefault(spec.id, []).append(spec.config)
        self._tools: dict[str, tuple[dict[str, Any] | None, bool]] = {}
        # Built by the first model-graded assertion validate() sees: runs without one never
        # import the judge.
        self._judge_factory = judge
        self._judge: Judge | None = None
        self._trust = trust
        self._prestart_js = prestart_js
        self._js_timeout_ms = js_timeout_ms
        self._js_max_memory_bytes = js_max_memory_bytes
        self._code: CodeRunner | None = None
        self._prepared: dict[tuple[str, str | int], _Prepared] = {}
        self._validated: dict[tuple[int, str], Assertion] = {}

    # ------------------------------------------------------------ load time

    def validate(self, assertion: Assertion, options: dict[str, Any] | None = None) -> None:
        """Raise UnknownAssertionError or ConfigError (naming assertion.where) if the assertion
        cannot run; called once per assertion when the config is loaded. `options` are the
        test's (they name the judge model of model-graded types)."""
        where = assertion.where or None
        entry, inverse = resolve_type(assertion.type, assertion.where)
        if inverse and not entry.negatable:
            raise ConfigError(
                f"{assertion.type!r}: the not- form is not supported for {entry.name!r}",
                field=where,
            )
        check_value(assertion, entry, inverse, trust=self._trust, base_dir=self._base_dir)
        if entry.needs_model and self._judge_factory is not None:
            if self._judge is None:
                self._judge = self._judge_factory()
            try:
                self._judge.validate(assertion, entry.name, options or {})
            except ConfigError as exc:
                if exc.field is None and exc.file is None and where:
                    raise ConfigError(str(exc), field=where) from None
                raise
        if self._prestart_js and self._code is None and _wants_js(assertion, entry.name):
            self.start_sandbox()
        if entry.name == MAX_SCORE and not _dynamic(assertion.value):
            from promptyard.scorers.max_score import options as max_score_options

            try:
                max_score_options(assertion.value)
            except ConfigError as exc:
                raise ConfigError(str(exc), field=where) from None
        if entry.name == ASSERT_SET:
            for child in assertion.assertions:
                if child.type in COMPARE_TYPES:
                    raise ConfigError(
                        f"{child.type} compares a case's outputs and cannot be in an assert-set",
                        field=child.where or where,
                    )
                self.validate(child, options)

    def validate_test(self, test: TestCase) -> None:
        """validate() each of the test's assertions with its options, and check the test's
        own transform against the policy. defaultTest's assertions are one object shared by
        every test: each is validated once per distinct judge its tests name."""
        options = test.options
        judge = ""
        if options:
            for name in ("transform", "postprocess", "assertScoringFunction"):
                check_script_ref(options.get(name), trust=self._trust, base_dir=self._base_dir,
                                 what=f"options.{name}", field=test.where or None)  # fmt: skip
            judge = repr((options.get("provider"), options.get("rubricPrompt")))
        for assertion in test.assertions:
            key = (id(assertion), judge)
            if key not in self._validated:
                self._validated[key] = assertion  # kept: its id() may not be reused meanwhile
                self.validate(assertion, options)

    # ------------------------------------------------------------ per trial

    async def grade(self, ctx: GradingContext) -> GradingResult:
        """Grade ctx.output against every assertion of ctx.test (promptfoo's runAssertions)."""
        test = ctx.test
        if not test.assertions:
            return GradingResult(passed=True, score=1.0, reason=_NO_ASSERTIONS)
        transform = test.options.get("transform") or test.options.get("postprocess")
        if transform:
            try:
                output = await self._code_runner().transform(str(transform), ctx.output, ctx)
            except Exception as exc:
                msg = f"Test transform failed: {exc}"
                return GradingResult(passed=False, score=0.0, reason=msg, error=msg)
            ctx = replace(ctx, output=output)

        main = Aggregate(test.threshold)
        sets: list[tuple[int, Assertion]] = []
        for index, assertion in enumerate(test.assertions):
            if assertion.type == ASSERT_SET:
                sets.append((index, assertion))
                continue
            if assertion.type in COMPARE_TYPES:
                continue  # graded across the case's outputs, by compare()
            result = await self._run(assertion, ctx)
            main.add(index, result, metric=self._metric(assertion, ctx), weight=assertion.weight)
        # As in promptfoo, sets are added after the plain assertions (it matters only for which
        # failure reason is reported last), each at its own position among the components.
        for index, group in sets:
            sub = Aggregate(group.threshold)
            for child_index, child in enumerate(group.assertions):
                result = await self._run(child, ctx)
                sub.add(child_index, result, metric=self._metric(child, ctx), weight=child.weight)
            main.add(index, sub.result(group), metric=self._metric(group, ctx), weight=group.weight,
                     named_weights=sub.named_weights)  # fmt: skip
        result = main.result()
        scoring = test.options.get("assertScoringFunction")
        if scoring:
            result = await self._custom_score(str(scoring), result, test)
        return result

    async def _custom_score(self, ref: str, result: GradingResult, test: TestCase) -> GradingResult:
        """promptfoo's assertScoringFunction: the function gets the named scores and
        {threshold, componentResults, tokensUsed} and its {pass, score, reason} replace the
        test's; an error fails the test with the reason."""
        context: dict[str, Any] = {
            "threshold": test.threshold,
            "componentResults": [c.to_dict() for c in result.component_results],
            "tokensUsed": (result.tokens_used or TokenUsage()).to_dict(),
        }
        try:
            out = await self._code_runner().score_test(ref, dict(result.named_scores), context)
            if isinstance(out, bool):
                out = {"pass": out, "score": 1.0 if out else 0.0}
            elif isinstance(out, (int, float)):
                out = {"pass": out >= (test.threshold if test.threshold is not None else 1e-9),
                       "score": float(out)}  # fmt: skip
            if not isinstance(out, dict) or ("pass" not in out and "score" not in out):
                raise ConfigError(f"{ref} must return {{pass, score, reason}}, got {out!r}")
            score = float(out.get("score", 1.0 if out.get("pass") else 0.0))
            passed = bool(out["pass"]) if "pass" in out else score > 0
            reason = str(out.get("reason") or result.reason)
            return replace(result, passed=passed, score=score, reason=reason)
        except Exception as exc:
            msg = f"Scoring function error: {exc}"
            return replace(result, passed=False, score=0.0, reason=msg, error=msg)

    async def _run(self, assertion: Assertion, ctx: GradingContext) -> GradingResult:
        """One assertion; whatever goes wrong is recorded on its result, never raised."""
        result: GradingResult
        try:
            prep = self._prepare(assertion)
            output = ctx.output
            if assertion.transform:
                output = await self._code_runner().transform(assertion.transform, output, ctx)
            entry = prep.entry
            if entry.needs_model and self._judge is not None:
                value = await self._value(prep, assertion.value, output, ctx)
                result = await self._judge.grade(
                    entry.name, prep.inverse, assertion, value, output, ctx
                )
            elif entry.needs_code:
                # The runner reads the not- prefix itself (promptfoo's script result rules).
                runner = self._code_runner()
                if entry.name == "python":
                    result = await runner.check_python(assertion, output, ctx)
                else:
                    result = await runner.check_javascript(assertion, output, ctx)
            elif entry.check is None:
                raise ConfigError(
                    f"{entry.name!r} needs a grading model, and no model grader is wired into"
                    " this grader"
                )
            else:
                value = await self._value(prep, assertion.value, output, ctx)
                inp = CheckInput(assertion, value, output, coerce_string(output), prep.inverse, ctx)
                if entry.uses_tools:
                    inp.tools = self._tool_defs(ctx)
                outcome = entry.check(inp)
                result = await outcome if inspect.isawaitable(outcome) else outcome
            if result.assertion is None:
                result.assertion = assertion
        except Exception as exc:
            result = _failure(assertion, exc)
        if assertion.weight == 0 and not result.passed:
            # promptfoo: a weight-0 assertion only reports its score; it can never fail a test.
            result = replace(result, passed=True)
        return result

    async def compare(self, test: TestCase, trials: list[TrialResult]) -> None:
        """Grade the test's select-best and max-score assertions across its trials (one case,
        one sample, every prompt x provider) and fold each verdict into its trial, as promptfoo
        does: the trial passes only if it was selected; if not, the comparison's reason and
        score are its own. Trials whose call failed take no part."""
        answered = [t for t in trials if t.error is None and t.grading is not None]
        if not answered:
            return
        assertion = next((a for a in test.assertions if a.type == SELECT_BEST), None)
        if assertion is not None:
            if self._judge is None:
                raise ConfigError(
                    "select-best needs a grading model", field=assertion.where or None
                )
            criteria = assertion.value
            if isinstance(criteria, str):
                criteria = render(criteria, test.vars)
            ctx = GradingContext(None, answered[0].prompt, test.vars, test, answered[0].provider_id)
            verdicts = await self._judge.select_best(
                assertion, criteria, [t.output for t in answered], ctx
            )
            _fold(answered, verdicts)
        top = next((a for a in test.assertions if a.type == MAX_SCORE), None)
        if top is not None:
            from promptyard.scorers.max_score import select

            components = []
            for trial in answered:
                assert trial.grading is not None
                components.append(trial.grading.component_results)
            try:
                verdicts = select(top, components)
            except ConfigError as exc:
                verdicts = [_failure(top, exc) for _ in answered]
            _fold(answered, verdicts)

    def _prepare(self, assertion: Assertion) -> _Prepared:
        value = assertion.value
        # A string value decides the mode itself; other values only by being a list of
        # strings (checked per call: such lists are short).
        key: tuple[str, str | int]
        if type(value) is str:
            key = (assertion.type, value)
        elif isinstance(value, list) and any(isinstance(v, str) for v in value):
            key = (assertion.type, _LIST)
        else:
            key = (assertion.type, _STATIC)
        prep = self._prepared.get(key)
        if prep is not None:
            return prep
        entry, inverse = resolve_type(assertion.type, assertion.where)
        mode = _STATIC
        if isinstance(value, str):
            if value.startswith("file://") and not entry.needs_code:
                mode = _SCRIPT if is_script_file(value) else _FILE
            elif is_template(value) and not entry.needs_code:
                mode = _TEMPLATE
        elif key[1] == _LIST:
            mode = _LIST
        prep = _Prepared(entry, inverse, mode)
        if len(self._prepared) >= _PREPARED_MAX:
            del self._prepared[next(iter(self._prepared))]
        self._prepared[key] = prep
        return prep

    def _tool_defs(self, ctx: GradingContext) -> dict[str, Any] | None:
        """The provider's `functions` and `tools`, `file://` references loaded through the
        trust policy, templates in them rendered with the test vars (promptfoo's
        renderVarsInObject). Providers that share an id (different labels) pool theirs."""
        pid = ctx.provider_id
        hit = self._tools.get(pid)
        if hit is None:
            configs = self._tool_specs.get(pid)
            found: dict[str, Any] | None = None
            if configs:
                found = {"functions": [], "tools": []}
                for config in configs:
                    for key in ("functions", "tools"):
                        defs = config.get(key)
                        if isinstance(defs, str) and defs.startswith("file://"):
                            defs = load_file_value(defs, self._base(ctx), trust=self._trust)
                        if isinstance(defs, list):
                            found[key].extend(defs)
            hit = self._tools[pid] = (found, found is not None and _has_template(found))
        found, templated = hit
        return _render_all(found, ctx.vars) if templated else found

    def _base(self, ctx: GradingContext) -> str:
        return ctx.base_dir if ctx.base_dir not in ("", ".") else self._base_dir

    async def _value(self, prep: _Prepared, value: Any, output: Any, ctx: GradingContext) -> Any:
        mode = prep.value_mode
        if mode == _STATIC:
            return value
        if mode == _TEMPLATE:
            return render(value, ctx.vars)
        if mode == _FILE:
            return load_file_value(value, self._base(ctx))
        if mode == _SCRIPT:
            return await self._script_value(value, output, ctx)
        base = self._base(ctx)
        return [
            (load_file_value(v, base) if v.startswith("file://") else render(v, ctx.vars))
            if isinstance(v, str)
            else v
            for v in value
        ]

    async def _script_value(self, ref: str, output: Any, ctx: GradingContext) -> Any:
        """file://x.py[:fn] / file://x.js[:fn] as a value: call it with (output, context) and
        compare against what it returns (promptfoo's valueFromScript; get_assert by default)."""
        path, _, fn = ref[len("file://") :].partition(":")
        if path.endswith(".py") and not fn:
            fn = "get_assert"
        full = os.path.abspath(os.path.join(self._base(ctx), path))
        code = f"file://{full}" + (f":{fn}" if fn else "")
        value = await self._code_runner().transform(code, output, ctx)
        if isinstance(value, bool) or callable(value):
            raise ConfigError(
                f"script {ref} returned a {type(value).__name__}; only javascript and python"
                " assertions may return that; return the expected value instead"
            )
        if isinstance(value, dict) and "pass" in value:
            raise ConfigError(
                f"script {ref} returned a GradingResult; return the expected value instead"
            )
        return value

    def _metric(self, assertion: Assertion, ctx: GradingContext) -> str | None:
        metric = assertion.metric
        if not metric or not is_template(metric):
            return metric
        try:
            return render(metric, ctx.vars)
        except Exception:
            return metric  # promptfoo keeps the raw name when the template fails

    def _code_runner(self) -> CodeRunner:
        if self._code is None:
            # lazy: starts V8 / Python on demand
            from promptyard.scorers.code import (  # type: ignore[import-not-found, unused-ignore]
                CodeRunner,
            )

            self._code = CodeRunner(
                base_dir=self._base_dir,
                trust=self._trust,
                js_timeout_ms=self._js_timeout_ms,
                js_max_memory_bytes=self._js_max_memory_bytes,
            )
        return self._code

    def start_sandbox(self) -> None:
        """Start the JavaScript sandbox process now, in the background (it takes ~0.1 s to
        come up; no event loop needed). validate() calls it for the first assertion that
        runs JavaScript; call it for test-level JS transforms, which validate() does not see."""
        self._code_runner().start_js()

    @property
    def sandbox_pid(self) -> int | None:
        """The JavaScript sandbox's process id while it runs (for measurements)."""
        return self._code.js_pid if self._code is not None else None

    def close(self) -> None:
        if self._code is not None:
            self._code.close()
            self._code = None
        self._prepared.clear()
        self._validated.clear()


def _runs_js(code: object) -> bool:
    """Inline JavaScript, or a file:// reference to a .js/.cjs/.mjs file."""
    if not isinstance(code, str):
        return False
    if not code.startswith("file://"):
        return True
    return _is_js_file(code)


def _is_js_file(ref: str) -> bool:
    path = ref[len("file://") :].lower()
    head, colon, _ = path.rpartition(":")
    if colon and head.endswith(_JS_EXTS):
        path = head
    return path.endswith(_JS_EXTS)


def _wants_js(assertion: Assertion, name: str) -> bool:
    """Whether grading this assertion may run JavaScript (to start the sandbox early)."""
    if assertion.transform and _runs_js(assertion.transform):
        return True
    value = assertion.value
    if name == "javascript":
        return _runs_js(value)
    return isinstance(value, str) and value.startswith("file://") and _is_js_file(value)


def _fold(trials: list[TrialResult], verdicts: list[GradingResult]) -> None:
    """Fold a comparison's verdicts into their trials (promptfoo's merge)."""
    for trial, verdict in zip(trials, verdicts, strict=True):
        grading = trial.grading
        assert grading is not None
        grading.component_results.append(verdict)
        if verdict.tokens_used is not None:
            grading.tokens_used = grading.tokens_used or TokenUsage()
            grading.tokens_used.add(verdict.tokens_used)
        if verdict.cost is not None:
            grading.cost = (grading.cost or 0.0) + verdict.cost
        grading.passed = grading.passed and verdict.passed
        if not verdict.passed:
            grading.reason = verdict.reason
            grading.score = verdict.score
        trial.success = grading.passed
        trial.score = grading.score


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False


def _render_all(value: Any, vars: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, vars) if is_template(value) else value
    if isinstance(value, dict):
        return {k: _render_all(v, vars) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_all(v, vars) for v in value]
    return value


def _dynamic(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or value.startswith("file://"))


def _failure(assertion: Assertion, exc: BaseException) -> GradingResult:
    message = str(exc) or type(exc).__name__
    where = f"{assertion.where}: " if assertion.where else ""
    return GradingResult(
        passed=False,
        score=0.0,
        reason=f"{where}{assertion.type} assertion error: {message}",
        assertion=assertion,
        error=f"{type(exc).__name__}: {message}",
    )
