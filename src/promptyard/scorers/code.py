"""User code in assertions and transforms: JavaScript (sandboxed V8) and Python (in-process).

Semantics follow promptfoo's javascript/python assertions and transforms; see
docs/scorers for the user-facing description. One CodeRunner per Grader, reused for every
trial: each distinct snippet or file is compiled once.
"""

from __future__ import annotations

import json
import math
from typing import Any

from promptyard.core.types import Assertion, GradingContext, GradingResult, TestCase
from promptyard.errors import ConfigError, SandboxLimitError, ScorerError
from promptyard.scorers.js_sandbox import JsCallResult, JsError, JsSandbox
from promptyard.scorers.js_source import JS_EXTS as _JS_EXTS
from promptyard.scorers.js_source import TS_EXTS as _TS_EXTS
from promptyard.scorers.js_source import build_function_body, esm_to_commonjs, parse_file_ref
from promptyard.scorers.py_exec import (
    PythonRunner,
    PythonScriptError,
    call_user,
    grading_result_from_mapping,
    is_grading_result,
    normalize_python_result,
)
from promptyard.trust import TrustPolicy
from promptyard.trust.files import resolve_one

__all__ = ["CodeRunner", "build_function_body", "parse_file_ref"]

PYTHON_DISABLED = "python assertions are disabled on this server"
_BAD_JS_RESULT = (
    "Custom function must return a boolean, a finite number, or a GradingResult object "
    "with finite scores and weights. Got type {}."
)
_TEST_CACHE_SIZE = 512


# --------------------------------------------------------------------------------------------
# The context user code sees (promptfoo's AssertionValueFunctionContext)


def _test_dict(test: TestCase) -> dict[str, Any]:
    out: dict[str, Any] = {"vars": test.vars}
    if test.assertions:
        out["assert"] = [a.to_dict() for a in test.assertions]
    if test.description is not None:
        out["description"] = test.description
    if test.threshold is not None:
        out["threshold"] = test.threshold
    if test.options:
        out["options"] = test.options
    if test.metadata:
        out["metadata"] = test.metadata
    return out


# NaN/Infinity are not JSON and V8's JSON.parse rejects them: fail clearly here instead.
_ENCODE = json.JSONEncoder(default=str, separators=(",", ":"), allow_nan=False).encode
# ASCII escapes keep lone surrogates and U+2028 safe on the way into V8.
_ENCODE_STR: Any = getattr(json.encoder, "c_encode_basestring_ascii", None) or (
    json.encoder.encode_basestring_ascii
)


def _dumps(value: Any) -> str:
    """Compact JSON; values JSON cannot hold become strings. Hot path: one call per value."""
    if type(value) is str:
        result: str = _ENCODE_STR(value)
        return result
    return _ENCODE(value)


class _TestJsonCache:
    """JSON of each TestCase, made once: the same case is graded for every provider and
    sample. Keyed by id(); the case itself is kept so the id cannot be reused."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[TestCase, str]] = {}

    def get(self, test: TestCase) -> str:
        hit = self._items.get(id(test))
        if hit is not None and hit[0] is test:
            return hit[1]
        if len(self._items) >= _TEST_CACHE_SIZE:
            self._items.pop(next(iter(self._items)))
        text = _dumps(_test_dict(test))
        self._items[id(test)] = (test, text)
        return text


# --------------------------------------------------------------------------------------------


class CodeRunner:
    """Runs javascript/python assertions and transforms for one Grader.

    JavaScript runs in a V8 isolate in a child process with `js_timeout_ms` and
    `js_max_memory_bytes` limits (see js_sandbox). Python runs in this process, only when
    `trust` allows it. Script files are found by the one resolver (trust/files.py), which a
    confining policy keeps inside `base_dir` (the server's).
    """

    def __init__(
        self,
        *,
        base_dir: str,
        trust: TrustPolicy,
        js_timeout_ms: int,
        js_max_memory_bytes: int,
    ) -> None:
        self.base_dir = base_dir
        self.trust = trust
        self._js = JsSandbox(timeout_ms=js_timeout_ms, max_memory_bytes=js_max_memory_bytes)
        self._py = PythonRunner(base_dir)
        self._sources: dict[str, str] = {}
        self._resolved: dict[str, str] = {}
        self._tests = _TestJsonCache()

    def start_js(self) -> None:
        """Start the JavaScript sandbox's process now, without waiting for it."""
        self._js.start()

    @property
    def js_pid(self) -> int | None:
        """The JavaScript sandbox's process id, if it is running."""
        return self._js.pid

    def close(self) -> None:
        self._js.close()

    # ---- assertions

    async def check_javascript(
        self, assertion: Assertion, output: Any, ctx: GradingContext
    ) -> GradingResult:
        inverse = assertion.type.startswith("not-")
        code = assertion.value
        if not isinstance(code, str):
            return _error_result(assertion, "javascript assertion must have a string value")
        try:
            ref = parse_file_ref(code)
            if ref is not None and ref[0].lower().endswith(".py"):
                value = self._run_python_ref(ref, "get_assert", output, ctx, assertion)
                result = _python_value_as_js(value)
            else:
                fn_id = self._js_function(code, ref, _assertion_body)
                result = await self._js.call(fn_id, self._js_args(output, ctx, assertion))
            return _js_verdict(assertion, result, inverse, code.rstrip())
        except JsError as exc:
            return _error_result(assertion, str(exc), plain=exc.kind != "error")
        except _UserCodeError as exc:
            return _error_result(assertion, str(exc))
        except Exception as exc:  # e.g. an output JSON cannot carry; never raise to the grader
            return _error_result(assertion, _unexpected(exc), plain=True)

    async def check_python(
        self, assertion: Assertion, output: Any, ctx: GradingContext
    ) -> GradingResult:
        inverse = assertion.type.startswith("not-")
        code = assertion.value
        if not isinstance(code, str):
            return _error_result(assertion, "python assertion must have a string value")
        ref = parse_file_ref(code)
        is_js_file = ref is not None and ref[0].lower().endswith(_JS_EXTS + _TS_EXTS)
        if not self.trust.allow_python and not is_js_file:
            return _error_result(assertion, PYTHON_DISABLED, plain=True)
        try:
            if ref is not None and is_js_file:
                fn_id = self._js_function(code, ref, _assertion_body)
                value = _js_value_as_python(
                    await self._js.call(fn_id, self._js_args(output, ctx, assertion))
                )
            elif ref is not None:
                value = self._run_python_ref(ref, "get_assert", output, ctx, assertion)
            else:
                fn = self._py.inline(code)
                value = call_user(fn, *self._py_args(output, ctx, assertion))
            return normalize_python_result(assertion, value, inverse)
        except JsError as exc:
            return _error_result(assertion, str(exc), plain=exc.kind != "error")
        except (_UserCodeError, PythonScriptError) as exc:
            return _error_result(assertion, str(exc), prefix="Python code execution failed: ")
        except Exception as exc:
            return _error_result(assertion, _unexpected(exc), plain=True)

    # ---- transforms

    async def transform(self, code: str, output: Any, ctx: GradingContext) -> Any:
        """Apply a transform (inline JS, file://x.js[:fn] or file://x.py[:fn]) to `output`.
        Raises ScorerError (SandboxLimitError for the time/memory limits) naming it."""
        label = _transform_label(code)
        ref = parse_file_ref(code)
        context = {"vars": ctx.vars, "prompt": {"raw": ctx.prompt, "label": ctx.prompt}}
        try:
            if ref is not None and ref[0].lower().endswith(".py"):
                if not self.trust.allow_python:
                    raise _UserCodeError("python transforms are disabled on this server")
                value = self._run_python_ref(ref, "get_transform", output, ctx, None, context)
            else:
                fn_id = self._js_function(code, ref, _transform_body)
                args = f"[{_dumps(output)},{_dumps(context)}]"
                value = _transform_value(await self._js.call(fn_id, args))
        except JsError as exc:
            cls = SandboxLimitError if exc.kind in ("timeout", "memory") else ScorerError
            raise cls(f"Transform failed ({label}): {exc}") from None
        except (_UserCodeError, PythonScriptError) as exc:
            raise ScorerError(f"Transform failed ({label}): {exc}") from None
        except Exception as exc:
            raise ScorerError(f"Transform failed ({label}): {_unexpected(exc)}") from exc
        if value is None:
            raise ScorerError(f"Transform function did not return a value ({label})")
        return value

    # ---- test scoring functions

    async def score_test(self, ref_text: str, named_scores: dict[str, float], context: Any) -> Any:
        """promptfoo's assertScoringFunction: `file://x.js[:fn]` (in the V8 sandbox) or
        `file://x.py:fn` (where the policy allows Python) called with (namedScores, context);
        returns what it returned. Raises ScorerError naming the file."""
        ref = parse_file_ref(ref_text)
        if ref is None:
            raise ScorerError(
                f"assertScoringFunction must be a file:// reference, got {ref_text!r}"
            )
        try:
            if ref[0].lower().endswith(".py"):
                if not self.trust.allow_python:
                    raise _UserCodeError(PYTHON_DISABLED)
                if not ref[1]:
                    raise _UserCodeError("name the Python function: file://path.py:function")
                full = self._resolve(ref[0])
                fn = self._py.from_file(full, ref[1])
                scores, ctx = json.loads(_dumps([named_scores, context]))
                return call_user(fn, scores, ctx, filename=full)
            fn_id = self._js_function(ref_text, ref, _assertion_body)
            result = await self._js.call(fn_id, _dumps([named_scores, context]))
            return _js_value_as_python(result)
        except JsError as exc:
            cls = SandboxLimitError if exc.kind in ("timeout", "memory") else ScorerError
            raise cls(f"{ref[0]}: {exc}") from None
        except (_UserCodeError, PythonScriptError) as exc:
            raise ScorerError(f"{ref[0]}: {exc}") from None

    # ---- internals

    def _js_function(self, code: str, ref: tuple[str, str | None] | None, inline_body: Any) -> int:
        if ref is None:
            return self._js.compile_body(inline_body(code), label="inline")
        path, name = ref
        if path.lower().endswith(_TS_EXTS):
            raise _UserCodeError(
                f"{path}: TypeScript/JSX files are not supported; compile it to .js"
            )
        if not path.lower().endswith(_JS_EXTS):
            raise _UserCodeError(f"{path}: not a .js, .cjs, .mjs or .py file")
        source = esm_to_commonjs(self._read(path))
        return self._js.compile_module(source, name, label=path)

    def _read(self, path: str) -> str:
        cached = self._sources.get(path)
        if cached is not None:
            return cached
        full = self._resolve(path)
        try:
            with open(full, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise _UserCodeError(f"cannot read {path}: {exc.strerror or exc}") from None
        self._sources[path] = text
        return text

    def _resolve(self, path: str) -> str:
        """The real path of a script file, checked by the policy (once per path)."""
        full = self._resolved.get(path)
        if full is None:
            try:
                full = resolve_one(self.trust, path, self.base_dir, what="script file")
            except ConfigError as exc:
                raise _UserCodeError(str(exc)) from None
            self._resolved[path] = full
        return full

    def _context_json(self, ctx: GradingContext, assertion: Assertion | None) -> str:
        comp = ctx.completion
        parts = [
            '{"prompt":',
            _dumps(ctx.prompt),
            ',"vars":',
            _dumps(ctx.vars),
            ',"test":',
            self._tests.get(ctx.test),
            ',"provider":',
            _dumps({"id": ctx.provider_id}),
        ]
        if comp is not None and comp.logprobs is not None:
            parts += [',"logProbs":', _dumps(comp.logprobs)]
        if assertion is not None and assertion.config:
            parts += [',"config":', _dumps(assertion.config)]
        response: dict[str, Any] = {"output": ctx.output}
        if comp is not None:
            response = {
                "output": comp.output,
                "tokenUsage": comp.usage.to_dict(),
                "cached": comp.cached,
            }
            if comp.cost is not None:
                response["cost"] = comp.cost
            if comp.logprobs is not None:
                response["logProbs"] = comp.logprobs
            if comp.finish_reason is not None:
                response["finishReason"] = comp.finish_reason
        parts += [',"providerResponse":', _dumps(response), "}"]
        return "".join(parts)

    def _js_args(self, output: Any, ctx: GradingContext, assertion: Assertion) -> str:
        return f"[{_dumps(output)},{self._context_json(ctx, assertion)}]"

    def _py_args(
        self, output: Any, ctx: GradingContext, assertion: Assertion | None
    ) -> tuple[Any, Any]:
        # promptfoo hands Python JSON copies; so do we, so user code cannot alter ours.
        out = output if isinstance(output, str) else json.loads(_dumps(output))
        return out, json.loads(self._context_json(ctx, assertion))

    def _run_python_ref(
        self,
        ref: tuple[str, str | None],
        default_fn: str,
        output: Any,
        ctx: GradingContext,
        assertion: Assertion | None,
        context: Any = None,
    ) -> Any:
        if not self.trust.allow_python:
            raise _UserCodeError(PYTHON_DISABLED)
        path, name = ref
        full = self._resolve(path)
        fn = self._py.from_file(full, name or default_fn)
        if context is None:
            out, context = self._py_args(output, ctx, assertion)
        else:
            out = output if isinstance(output, str) else json.loads(_dumps(output))
            context = json.loads(_dumps(context))
        return call_user(fn, out, context, filename=full)


class _UserCodeError(Exception):
    """A user's code reference or result we cannot use; becomes an error result."""


def _unexpected(exc: Exception) -> str:
    if isinstance(exc, ValueError | TypeError | RecursionError) and "JSON" in str(exc):
        return f"the output or context cannot be passed as JSON: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _assertion_body(code: str) -> str:
    code = code.rstrip()  # YAML block scalars end with a newline
    return code if "\n" in code else build_function_body(code)


def _transform_body(code: str) -> str:
    # promptfoo does not trim here, so a one-line YAML block (`transform: |`) silently returns
    # undefined there; we trim it, which only turns that error into the evident intent.
    code = code.rstrip()
    return code if "\n" in code else f"return {code}"


def _transform_label(code: str) -> str:
    if code.startswith("file://"):
        return f"file transform {code}"
    one_line = " ".join(code.split())
    return f"inline transform: {one_line[:79] + '…' if len(one_line) > 80 else one_line}"


def _where(assertion: Assertion) -> str:
    return assertion.where or f"{assertion.type} assertion"


def _error_result(
    assertion: Assertion,
    message: str,
    *,
    plain: bool = False,
    prefix: str = "Custom function threw error: ",
) -> GradingResult:
    """A failed verdict for a scorer that could not judge: reason names the assertion."""
    if plain:
        prefix = ""
    reason = f"{_where(assertion)}: {prefix}{message}"
    return GradingResult(passed=False, score=0.0, reason=reason, assertion=assertion, error=message)


def _js_verdict(
    assertion: Assertion, result: JsCallResult, inverse: bool, code: str
) -> GradingResult:
    """promptfoo's javascript normalisation: boolean, finite number (score; passes above 0, or
    at the threshold when set), or a {pass, score, reason} GradingResult object."""
    kind, value = result.type, result.value
    if kind == "boolean":
        ok = bool(value) != inverse
        return GradingResult(
            passed=ok,
            score=1.0 if ok else 0.0,
            reason="Assertion passed" if ok else _returned(bool(value), code),
            assertion=assertion,
        )
    if kind == "number" and isinstance(value, int | float) and math.isfinite(value):
        threshold = assertion.threshold
        raw = value > 0 if threshold is None else value >= threshold
        ok = raw != inverse
        return GradingResult(
            passed=ok,
            score=float(value),
            reason="Assertion passed" if ok else _returned(raw, code),
            assertion=assertion,
        )
    if kind == "object" and isinstance(value, dict) and is_grading_result(value):
        graded = grading_result_from_mapping(value, assertion)
        graded.passed = bool(value["pass"]) != inverse
        return graded
    raise _UserCodeError(_BAD_JS_RESULT.format(kind))


def _returned(value: bool, code: str) -> str:
    text = f"Custom function returned {'true' if value else 'false'}"
    return f"{text}\n{code}" if code else text


def _python_value_as_js(value: Any) -> JsCallResult:
    """A Python file's result in JS terms, for a javascript assertion naming a .py file."""
    if isinstance(value, bool):
        return JsCallResult("boolean", value)
    if isinstance(value, int | float):
        return JsCallResult("number", value)
    if isinstance(value, str):
        return JsCallResult("string", value)
    return JsCallResult("object", value)


def _js_value_as_python(result: JsCallResult) -> Any:
    if result.type in ("undefined", "function", "symbol"):
        return None
    if result.type == "number" and isinstance(result.value, str):
        return float(result.value.replace("Infinity", "inf"))
    return result.value


def _transform_value(result: JsCallResult) -> Any:
    if result.type in ("function", "symbol"):
        raise _UserCodeError(f"the transform returned a {result.type}, not a value")
    return _js_value_as_python(result)
