"""derivedMetrics (promptfoo): named metrics computed after the run from the summed named
scores, per prompt x provider and for the run, through the KPI evaluator (no code runs)."""

from __future__ import annotations

import pytest

from promptyard.core.types import GradingResult, TrialResult
from promptyard.engine.summary import SummaryBuilder
from promptyard.errors import ConfigError
from promptyard.scorers.derived import evaluate_derived, parse_derived_metrics

F_SCORE = [
    {"name": "precision", "value": "tp / (tp + fp)"},
    {"name": "recall", "value": "tp / (tp + fn)"},
    {"name": "f1", "value": "2 * precision * recall / (precision + recall)"},
    {"name": "squared", "value": "precision ^ 2"},
]


def trial(prompt: str, **named: float) -> TrialResult:
    t = TrialResult(run_id="r", index=0, case_index=0, case_id="c", prompt_id=prompt,
                    prompt_label=prompt, provider_id="echo", provider_label="echo", sample=0,
                    description=None, vars={}, prompt="q", success=True, score=1.0)  # fmt: skip
    t.grading = GradingResult(True, 1.0, "ok", named_scores=dict(named))
    return t


def test_evaluated_in_order_over_sums() -> None:
    metrics = parse_derived_metrics(F_SCORE)
    values, errors = evaluate_derived(metrics, {"tp": 3, "fp": 1, "fn": 3})
    assert values["precision"] == 0.75 and values["recall"] == 0.5
    assert values["f1"] == pytest.approx(0.6)
    assert values["squared"] == pytest.approx(0.5625)
    assert not errors


def test_summary_per_pair_and_run() -> None:
    builder = SummaryBuilder(repeat=1, derived_metrics=F_SCORE[:1])
    builder.add(trial("a", tp=1, fp=0))
    builder.add(trial("a", tp=0, fp=1))
    builder.add(trial("b", tp=1, fp=0))
    summary = builder.to_dict()
    by_prompt = {p["prompt_id"]: p for p in summary["pairs"]}
    assert by_prompt["a"]["derived_metrics"] == {"precision": 0.5}
    assert by_prompt["a"]["named_scores"] == {"tp": 1.0, "fp": 1.0}
    assert by_prompt["b"]["derived_metrics"] == {"precision": 1.0}
    assert summary["derived_metrics"] == {"precision": pytest.approx(2 / 3)}


def test_a_failing_metric_is_none_with_its_error() -> None:
    builder = SummaryBuilder(repeat=1, derived_metrics=F_SCORE[:1])
    builder.add(trial("a", tp=0, fp=0))
    pair = builder.to_dict()["pairs"][0]
    assert pair["derived_metrics"] == {"precision": None}
    assert "division by zero" in pair["derived_metric_errors"]["precision"]


def test_no_derived_metrics_leaves_the_summary_as_it_was() -> None:
    builder = SummaryBuilder(repeat=1)
    builder.add(trial("a", tp=1))
    summary = builder.to_dict()
    assert "derived_metrics" not in summary and "named_scores" not in summary["pairs"][0]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"name": "x"}, "list"),
        ([{"name": "x", "value": "(s) => s.a"}], "JavaScript functions are not supported"),
        ([{"name": "x", "value": "__import__('os')"}], "derivedMetrics[0]"),
        ([{"name": "x", "value": "a"}, {"name": "x", "value": "b"}], "defined twice"),
        ([{"name": "x", "value": "a", "extra": 1}], "unknown key"),
    ],
)
def test_bad_configs_are_refused(raw: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_derived_metrics(raw)
    assert fragment in str(err.value) + str(err.value.field)
