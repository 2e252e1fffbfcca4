"""What `evaluate` returns, and how a result is shown: `EvalResult`, its trial table (the
DataFrame's columns) and its notebook summary. pandas is imported only by `to_dataframe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptyard.core.types import TrialResult

if TYPE_CHECKING:
    import pandas as pd


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
