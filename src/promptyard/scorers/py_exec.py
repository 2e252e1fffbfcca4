"""User Python in assertions and transforms: compiled once, run in-process.

Only for operators who allow it (the code runs with the server's rights). Semantics follow
promptfoo's python assertion: inline code is an expression, or a multi-line body that
`return`s, inside `def main(output, context)` with `json` imported; a file defines
`get_assert(output, context)` (or the function named in `file://x.py:name`).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from promptyard.core.types import Assertion, GradingResult

__all__ = [
    "PythonRunner",
    "PythonScriptError",
    "normalize_python_result",
]

_INLINE_FILE = "<python assertion>"
_INLINE_HEADER_LINES = 2  # "import json", "def main(output, context):"
_FIRST_INDENT = re.compile(r"^(?!\s*$)\s+", re.M)
_LEADING_FLOAT = re.compile(r"\s*([+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))")
_SNAKE_KEYS = (
    ("pass_", "pass"),
    ("named_scores", "namedScores"),
    ("named_score_weights", "namedScoreWeights"),
    ("component_results", "componentResults"),
    ("tokens_used", "tokensUsed"),
)

UserFunction = Callable[[Any, Any], Any]


class PythonScriptError(Exception):
    """User Python failed to compile, load or run; the message says where and why."""


def build_inline_script(code: str) -> str:
    """promptfoo's wrapper: one line is returned; several lines are the body of main()."""
    if "\n" not in code:
        return f"import json\ndef main(output, context):\n    return {code}\n"
    match = _FIRST_INDENT.search(code)
    indent = match.group(0) if match else "    "
    # The regex may match a run of blank lines plus indentation; keep the last line's part.
    indent = indent.rsplit("\n", 1)[-1] or "    "
    body = "\n".join(indent + line for line in code.split("\n"))
    return f"import json\ndef main(output, context):\n{body}\n"


class PythonRunner:
    """Caches compiled inline snippets and loaded files (each once per runner)."""

    def __init__(self, base_dir: str) -> None:
        self.base_dir = base_dir
        self._inline: dict[str, UserFunction | PythonScriptError] = {}
        self._modules: dict[str, dict[str, Any] | PythonScriptError] = {}
        self._lock = threading.Lock()

    def inline(self, code: str) -> UserFunction:
        found = self._inline.get(code)
        if found is None:
            found = self._compile_inline(code)
            self._inline[code] = found
        if isinstance(found, PythonScriptError):
            raise found
        return found

    def _compile_inline(self, code: str) -> UserFunction | PythonScriptError:
        script = build_inline_script(code)
        try:
            compiled = compile(script, _INLINE_FILE, "exec")
        except SyntaxError as exc:
            line = (exc.lineno or 0) - _INLINE_HEADER_LINES
            where = f" (line {line})" if line > 0 else ""
            return PythonScriptError(f"SyntaxError: {exc.msg}{where}")
        namespace: dict[str, Any] = {"__name__": "promptyard_inline", "__builtins__": builtins}
        exec(compiled, namespace)
        fn: UserFunction = namespace["main"]
        return fn

    def from_file(self, path: str, function: str) -> UserFunction:
        """`function` from the file at `path` (relative to base_dir), loaded once."""
        full = os.path.abspath(os.path.join(self.base_dir, path))
        with self._lock:
            module = self._modules.get(full)
            if module is None:
                module = _load_module(full, path)
                self._modules[full] = module
        if isinstance(module, PythonScriptError):
            raise module
        fn = module.get(function)
        if not callable(fn):
            raise PythonScriptError(f"{path} does not define a function {function}()")
        result: UserFunction = fn
        return result


def _load_module(full: str, shown: str) -> dict[str, Any] | PythonScriptError:
    if not os.path.isfile(full):
        return PythonScriptError(f"cannot read {shown}: no such file")
    name = f"promptyard_user_{abs(hash(full)):x}"
    spec = importlib.util.spec_from_file_location(name, full)
    if spec is None or spec.loader is None:
        return PythonScriptError(f"cannot load {shown} as Python")
    module = importlib.util.module_from_spec(spec)
    # Like promptfoo's runner: the script's folder is importable while it loads.
    folder = os.path.dirname(full)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        return PythonScriptError(f"error loading {shown}: {describe_exception(exc, full)}")
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)
    return vars(module)


def describe_exception(exc: BaseException, filename: str | None = None) -> str:
    """`TypeError: message (line N)`, with the line in the user's code when we find it."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):
        text = f"SyntaxError: {exc.msg}"
        if exc.lineno:
            return f"{text} (line {exc.lineno})"
        return text
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == _INLINE_FILE:
            line = (frame.lineno or 0) - _INLINE_HEADER_LINES
        elif filename is not None and frame.filename == filename:
            line = frame.lineno
    return f"{text} (line {line})" if line and line > 0 else text


def call_user(fn: UserFunction, output: Any, context: Any, filename: str | None = None) -> Any:
    """Call user code; its exceptions become PythonScriptError naming the line."""
    try:
        return fn(output, context)
    except (Exception, SystemExit) as exc:  # sys.exit() in a scorer must not stop the server
        raise PythonScriptError(describe_exception(exc, filename)) from exc


# --------------------------------------------------------------------------------------------
# Results (promptfoo's python.ts)


def _as_mapping(result: Any) -> dict[str, Any] | None:
    if isinstance(result, dict):
        return result
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_grading_result(data: dict[str, Any]) -> bool:
    """promptfoo's isGradingResult: pass, a finite score and a reason, optional extras."""
    return (
        isinstance(data.get("pass"), bool)
        and _is_number(data.get("score"))
        and math.isfinite(data["score"])
        and isinstance(data.get("reason"), str)
        and isinstance(data.get("namedScores", {}), dict)
        and isinstance(data.get("componentResults", []), list)
        and isinstance(data.get("comment", ""), str)
    )


def _named_scores(raw: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    if not isinstance(raw, dict):
        return out
    for key, value in raw.items():
        if isinstance(value, bool):
            out[str(key)] = 1.0 if value else 0.0
        elif value is None:
            out[str(key)] = 0.0
        elif _is_number(value):
            out[str(key)] = float(value)
        elif isinstance(value, str):
            try:
                out[str(key)] = float(value)
            except ValueError:
                continue
    return out


def grading_result_from_mapping(
    data: dict[str, Any], assertion: Assertion | None, *, reason: str | None = None
) -> GradingResult:
    """A GradingResult from a {pass, score, reason, ...} object a user's code returned."""
    components = []
    for item in data.get("componentResults") or []:
        if isinstance(item, dict) and isinstance(item.get("pass"), bool):
            score = item.get("score")
            components.append(
                GradingResult(
                    passed=item["pass"],
                    score=float(score) if isinstance(score, int | float) else float(item["pass"]),
                    reason=str(item.get("reason") or ""),
                    named_scores=_named_scores(item.get("namedScores")),
                )
            )
    return GradingResult(
        passed=bool(data["pass"]),
        score=float(data["score"]),
        reason=data["reason"] if reason is None else reason,
        assertion=assertion,
        component_results=components,
        named_scores=_named_scores(data.get("namedScores")),
    )


def _camel(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for snake, camel in _SNAKE_KEYS:
        if snake in out and camel not in out:
            out[camel] = out[snake]
    comps = out.get("componentResults")
    if isinstance(comps, list):
        out["componentResults"] = [_camel(c) if isinstance(c, dict) else c for c in comps]
    return out


def _verdict(assertion: Assertion, passed: bool, inverse: bool, score: float) -> GradingResult:
    ok = passed != inverse
    reason = "Assertion passed"
    if not ok:
        reason = f"Python code returned {'true' if passed else 'false'}"
        if isinstance(assertion.value, str) and assertion.value:
            reason = f"{reason}\n{assertion.value}"
    return GradingResult(passed=ok, score=score, reason=reason, assertion=assertion)


def normalize_python_result(assertion: Assertion, result: Any, inverse: bool) -> GradingResult:
    """bool, number, "true"/"false", a JSON object string, or a {pass, score, reason} dict
    (snake_case keys too). Raises PythonScriptError for anything else."""
    lowered = result.lower() if isinstance(result, str) else None
    if result is True or lowered == "true":
        return _verdict(assertion, True, inverse, 0.0 if inverse else 1.0)
    if result is False or lowered == "false":
        return _verdict(assertion, False, inverse, 1.0 if inverse else 0.0)
    mapping = _as_mapping(result)
    if isinstance(result, str) and result.startswith("{"):
        try:
            mapping = json.loads(result)
        except ValueError as exc:
            raise PythonScriptError(f"Invalid JSON: {exc} when parsing result: {result}") from None
        if not isinstance(mapping, dict):
            raise PythonScriptError(_bad_shape(result))
    if mapping is not None:
        return _python_object_result(assertion, mapping, inverse)
    score = _parse_float(result)
    if score is None:
        raise PythonScriptError(_bad_shape(result))
    threshold = assertion.threshold
    raw_pass = score > 0 if threshold is None else score >= threshold
    out = _verdict(assertion, raw_pass, inverse, score)
    out.score = score
    return out


def _python_object_result(
    assertion: Assertion, mapping: dict[str, Any], inverse: bool
) -> GradingResult:
    data = _camel(mapping)
    if not is_grading_result(data):
        shown = json.dumps(data, indent=2, default=str)
        raise PythonScriptError(
            "Python assertion must return a boolean, number, or {pass, score, reason} "
            f"object. Got instead:\n{shown}"
        )
    result = grading_result_from_mapping(data, assertion)
    threshold = assertion.threshold
    if threshold is not None and result.score < threshold:
        result.passed = False
        msg = f"Python score {data['score']} is less than threshold {threshold}"
        result.reason = f"{msg}: {result.reason}" if result.reason else msg
    raw_pass = result.passed
    result.passed = raw_pass != inverse
    if result.passed != raw_pass:
        result.reason = (
            "Assertion passed"
            if result.passed
            else f"Python code returned {'true' if raw_pass else 'false'}"
        )
    return result


def _parse_float(result: Any) -> float | None:
    """JavaScript's parseFloat(String(result)), as promptfoo applies it; None for NaN."""
    if _is_number(result):
        value = float(result)
    else:
        text = _js_string(result)
        match = _LEADING_FLOAT.match(text)
        if match is None:
            return None
        value = float(match.group(1).replace("Infinity", "inf"))
    return value if math.isfinite(value) else None


def _js_string(value: Any) -> str:
    if value is None:
        return "null"
    return str(value)


def _bad_shape(result: Any) -> str:
    return (
        "Python assertion must return a boolean, number, or {pass, score, reason} object. "
        f"Instead got:\n{result!r}"
    )
