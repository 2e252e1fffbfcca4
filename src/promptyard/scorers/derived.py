"""promptfoo's `derivedMetrics`: named metrics computed after the run from the others.

`derivedMetrics: [{name, value}]`: `value` is a math expression over the named metrics
(`true_positives / (true_positives + false_positives)`), evaluated per prompt x provider on
the SUM of each named score over its tests, as promptfoo does (its prompt-level namedScores are
sums), in order: a later one may read an earlier one. The expressions are checked and evaluated
by the KPI evaluator (scorers/kpi.py, kpi_eval.py): no code runs. mathjs's `^` means power.
promptfoo's other form, a JavaScript function, is refused with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from promptyard.errors import ConfigError
from promptyard.scorers.kpi import CompiledKpi, Kpi, compile_kpis

KEY = "derivedMetrics"
_JS_HINTS = re.compile(r"=>|\bfunction\b|\breturn\b|^file://")


def parse_derived_metrics(raw: Any, *, where: str = "<config>") -> list[CompiledKpi]:
    """The config's derivedMetrics, checked; ConfigError names `derivedMetrics[i]`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError("expected a list of {name, value}", file=where, field=KEY)
    kpis: list[Kpi] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        field = f"{KEY}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError("a derived metric is a mapping {name, value}", file=where,
                              field=field)  # fmt: skip
        unknown = set(item) - {"name", "value"}
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                              file=where, field=field)  # fmt: skip
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("a derived metric needs a `name`", file=where, field=f"{field}.name")
        if name in seen:
            raise ConfigError(f"derived metric {name!r} is defined twice", file=where,
                              field=f"{field}.name")  # fmt: skip
        seen.add(name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError("`value` must be an expression (text)", file=where,
                              field=f"{field}.value")  # fmt: skip
        if _JS_HINTS.search(value.strip()):
            raise ConfigError(
                f"derived metric {name!r}: JavaScript functions are not supported here; write "
                "a math expression over the named metrics (e.g. tp / (tp + fp))",
                file=where,
                field=f"{field}.value",
            )
        kpis.append(Kpi(name, _mathjs(value.strip())))
    return compile_kpis(kpis, where=where, key=KEY)


def _mathjs(expression: str) -> str:
    """mathjs spellings the KPI evaluator reads otherwise: `^` is power."""
    return expression.replace("^", "**")


def evaluate_derived(
    metrics: list[CompiledKpi], named_sums: Mapping[str, float]
) -> tuple[dict[str, float | None], dict[str, str]]:
    """(values, errors): each derived metric over the summed named scores, in order; one that
    fails (a division by zero, a missing metric) is None with its error."""
    from promptyard.scorers.kpi_eval import build_variables, evaluate_kpis

    scores = dict(named_sums)
    values: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for metric in metrics:
        variables = build_variables(cost=0.0, named_scores=scores)
        result = evaluate_kpis([metric], variables)
        value = result.values.get(metric.name)
        values[metric.name] = value
        if value is None:
            error = result.errors.get(metric.name, "no value")
            errors[metric.name] = error.replace('KPI "', 'derived metric "', 1)
        else:
            scores[metric.name] = value
    return values, errors
