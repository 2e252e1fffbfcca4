"""KPIs per trial: the variables a trial offers (cost, tokens, scores, named metrics...) and
the evaluation of the compiled expressions of scorers/kpi.py with simpleeval. Hot path: runs
once per trial, from trees parsed once at load time."""

from __future__ import annotations

import ast
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simpleeval import SimpleEval

from promptyard.core.types import TrialResult
from promptyard.scorers.kpi import (
    METRICS_KEY,
    CompiledKpi,
    KpiResult,
    metric_variable_name,
)

# -- per-trial variables -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ambiguous:
    """Two metric names normalise to the same bare name; reading it is an error."""

    metrics: tuple[str, ...]


def build_variables(
    *,
    cost: float | None,
    judge_cost: float | None = 0.0,
    latency_ms: float = 0.0,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    total_tokens: int | None = None,
    output: Any = None,
    passed: bool = False,
    score: float = 0.0,
    cached: bool = False,
    error: bool = False,
    named_scores: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The variables one trial offers to KPI expressions, from plain values.

    None means unknown (no price): an expression that reads it fails for that trial. `judge_cost`
    defaults to 0 (no judge calls); pass None when a judge ran without a known price.
    """
    total_cost = None if cost is None or judge_cost is None else cost + judge_cost
    if total_tokens is None or (total_tokens == 0 and prompt_tokens + completion_tokens):
        total_tokens = prompt_tokens + completion_tokens
    out: dict[str, Any] = {
        "cost": cost,
        "judge_cost": judge_cost,
        "total_cost": total_cost,
        "latency_ms": latency_ms,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total_tokens,
        "output_length": _output_length(output),
        "passed": 1 if passed else 0,
        "score": score,
        "cached": 1 if cached else 0,
        "error": 1 if error else 0,
    }
    if named_scores:
        _add_metrics(out, named_scores)
    return out


def trial_variables(trial: TrialResult, judge_cost: float | None = 0.0) -> dict[str, Any]:
    """build_variables for a finished trial; `error` is 1 when the call itself failed."""
    usage = trial.usage
    grading = trial.grading
    return build_variables(
        cost=trial.cost,
        judge_cost=judge_cost,
        latency_ms=trial.latency_ms,
        prompt_tokens=usage.prompt,
        completion_tokens=usage.completion,
        total_tokens=usage.total,
        output=trial.output,
        passed=trial.success,
        score=trial.score,
        cached=trial.cached,
        error=trial.error is not None,
        named_scores=grading.named_scores if grading is not None else None,
    )


def _output_length(output: Any) -> int:
    """Characters of the output as text; other outputs (tool calls, JSON) as their JSON text."""
    if output is None:
        return 0
    if isinstance(output, str):
        return len(output)
    try:
        return len(json.dumps(output, ensure_ascii=False, separators=(",", ":"), default=str))
    except (TypeError, ValueError):
        return len(str(output))


def _add_metrics(out: dict[str, Any], named_scores: Mapping[str, float]) -> None:
    out[METRICS_KEY] = dict(named_scores)
    normalised: dict[str, list[str]] = {}
    for metric, value in named_scores.items():
        alias = metric_variable_name(metric)
        if alias is None:
            continue
        if alias == metric:
            out[alias] = value  # an exact identifier wins over a normalised one
        else:
            normalised.setdefault(alias, []).append(metric)
    for alias, metrics in normalised.items():
        if alias in named_scores:
            continue
        out[alias] = named_scores[metrics[0]] if len(metrics) == 1 else _Ambiguous(tuple(metrics))


# -- evaluation --------------------------------------------------------------------------------


class _Unknown(Exception):
    """A value the trial does not have; `default(x, fallback)` catches exactly this."""


class _Bad(Exception):
    """A value or argument an expression cannot use."""


def _pow(base: float, exponent: float) -> float:
    # floats only: `10 ** 1000000` overflows at once instead of building a million-digit int
    return math.pow(base, exponent)


def _min(*values: float) -> float:
    return min(values)


def _max(*values: float) -> float:
    return max(values)


def _clamp(value: float, low: float, high: float) -> float:
    if low > high:
        raise _Bad(f"clamp() needs low <= high, got {low} > {high}")
    return min(max(value, low), high)


def _round(value: float, digits: float = 0) -> float:
    if isinstance(digits, float):
        if not digits.is_integer():
            raise _Bad("round() takes a whole number of digits")
        digits = int(digits)
    return round(value, max(-400, min(400, digits)))


def _log(value: float, base: float = math.e) -> float:
    return math.log(value, base)


def _if_else(condition: float, then: float, otherwise: float) -> float:
    return then if condition else otherwise


_OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: _pow, ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": _min, "max": _max, "abs": abs, "round": _round, "clamp": _clamp, "log": _log,
    "exp": math.exp, "sqrt": math.sqrt, "if_else": _if_else,
}  # fmt: skip
_NUMBER_TYPES = (int, float)  # bool is an int


class _Evaluator(SimpleEval):  # type: ignore[misc]  # simpleeval ships no type hints
    """simpleeval restricted to the checked node types; names and calls are ours.

    SimpleEval.__init__ is skipped on purpose: it builds a table of every node type and vets
    the default functions (~5 µs, once per trial). The handlers kept here read only
    `operators`, `nodes` and `expr`; tests/unit/scorers/test_kpi.py pins the behaviour.
    """

    nodes: dict[type[ast.AST], Callable[..., Any]]
    names: Mapping[str, Any]

    def __init__(self, names: Mapping[str, Any]) -> None:
        self.operators = _OPERATORS
        self.functions = _FUNCTIONS
        self.names = names
        self.allowed_attrs = None
        self.expr = ""
        self.nodes = {
            ast.UnaryOp: self._eval_unaryop,
            ast.BinOp: self._eval_binop,
            ast.BoolOp: self._eval_boolop,
            ast.Compare: self._eval_compare,
            ast.IfExp: self._eval_ifexp,
            ast.Constant: self._eval_constant,
            ast.Name: self._read_name,
            ast.Call: self._call,
        }

    def _read_name(self, node: ast.Name) -> Any:
        try:
            value = self.names[node.id]
        except KeyError:
            raise _Unknown(
                f'"{node.id}" is not a variable or a named metric of this trial'
            ) from None
        return _number(f'"{node.id}"', value)

    def _call(self, node: ast.Call) -> Any:
        name = node.func.id  # type: ignore[attr-defined]  # checked at load: a Name
        args = node.args
        if name == "default":
            try:
                return self._eval(args[0])
            except _Unknown:
                return self._eval(args[1])
        if name == "metric":
            metric = args[0].value  # type: ignore[attr-defined]  # checked: a str Constant
            metrics = self.names.get(METRICS_KEY)
            if metrics is None:  # a hand-built mapping: metrics sit under their bare names
                metrics = self.names
            if metric in metrics and metrics[metric] is not None:
                return _number(f'metric "{metric}"', metrics[metric])
            if len(args) == 2:
                return self._eval(args[1])
            raise _Unknown(f'this trial has no metric "{metric}"')
        return self.functions[name](*[self._eval(arg) for arg in args])


def _number(label: str, value: Any) -> Any:
    """A variable's value as an expression may use it: a number, or an error naming it."""
    kind = type(value)
    if kind is int or kind is bool or (kind is float and math.isfinite(value)):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        # NaN is how many tools write "missing": unknown, so `default(x, 0)` can handle it
        raise _Unknown(f"{label} is unknown for this trial (e.g. no price for the model)")
    if isinstance(value, _Ambiguous):
        names = " and ".join(f'"{m}"' for m in value.metrics)
        raise _Bad(f'{label} could mean the metrics {names}: use metric("...")')
    if not isinstance(value, _NUMBER_TYPES):
        raise _Bad(f"{label} is {type(value).__name__}, not a number")
    number = float(value)  # a subclass such as numpy.float64
    if not math.isfinite(number):
        raise _Bad(f"{label} is {number}, not a finite number")
    return number


def evaluate_kpis(kpis: Sequence[CompiledKpi], variables: Mapping[str, Any]) -> KpiResult:
    """Evaluate every KPI on one trial; a failing KPI is recorded and counts as 0 in the score.

    The weighted score is sum(weight * value) / sum(weight) over all KPIs (errors as 0), or
    None when there are no KPIs or every weight is 0. Never raises for a bad expression.
    """
    if not kpis:
        return KpiResult({}, {}, None)
    evaluator = _Evaluator(variables)
    values: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    total = 0.0
    weights = 0.0
    for kpi in kpis:
        name = kpi.kpi.name
        weights += kpi.kpi.weight
        try:
            value = _finite(evaluator.eval(kpi.kpi.expression, previously_parsed=kpi.node))
        except Exception as exc:  # a user's expression: every failure is that KPI's error
            values[name] = None
            errors[name] = f'KPI "{name}": {_describe(exc)}'
            continue
        values[name] = value
        total += kpi.kpi.weight * value
    score = total / weights if weights > 0 else None
    return KpiResult(values, errors, score)


def _finite(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, (int, float)):
        raise _Bad(f"the result is {type(value).__name__}, not a number")
    result = float(value)
    if not math.isfinite(result):
        raise _Bad(f"the result is not a finite number ({result})")
    return result


def _describe(exc: Exception) -> str:
    if isinstance(exc, (_Unknown, _Bad)):
        return str(exc)
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "the result is too large"
    if isinstance(exc, ValueError) and "math domain" in str(exc):
        return "math domain error (e.g. log or sqrt of a number out of range)"
    if isinstance(exc, RecursionError):
        return "the expression is too deep to evaluate"
    return f"{type(exc).__name__}: {exc}"


# -- a run -------------------------------------------------------------------------------------


def kpi_gate(run_score: float | None, threshold: float | None) -> bool:
    """Whether a run passes `kpi_threshold`: no threshold passes; no score fails a threshold."""
    if threshold is None:
        return True
    return run_score is not None and run_score >= threshold
