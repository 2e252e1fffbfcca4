"""`EvalResult.to_dataframe()` and `_repr_html_()` on real `evaluate()` runs: the python
provider (a file in the temp dir) and a real SQLite store beside it."""

from __future__ import annotations

import math
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import promptyard
from promptyard import EvalResult
from promptyard.library import TRIAL_COLUMNS

MODEL = """\
import json


def answer(prompt, options, context):
    word = context["vars"]["word"]
    if word == "boom":
        return {"error": "model overloaded (HTTP 529)"}
    if "JSON" in prompt:
        return {
            "output": json.dumps({"word": word}),
            "tokenUsage": {"prompt": 4, "completion": 3, "total": 7},
            "cost": 0.0025,
        }
    return f"the word is {word}"
"""

HOSTILE_LABEL = "<script>alert('label')</script> & co"


def _config() -> dict[str, Any]:
    return {
        "description": "frames",
        "prompts": [
            {"id": "plain", "label": "plain", "raw": "Say {{ word }}"},
            {"id": "json", "label": HOSTILE_LABEL, "raw": "Say {{ word }} as JSON"},
        ],
        "providers": [{"id": "python:model.py:answer", "label": "model.py"}],
        "defaultTest": {
            "assert": [
                {"type": "is-json", "metric": "format"},
                {"type": "icontains", "value": "{{ word }}", "metric": "mentions"},
            ]
        },
        "tests": [
            {"description": "first", "vars": {"word": "alpha", "score": 3}},
            {"vars": {"word": "beta", "topic": {"lang": "en"}}},
            {"description": "errors", "vars": {"word": "boom"}},
        ],
    }


def _evaluate(tmp_path: Path, **kw: Any) -> EvalResult:
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    return promptyard.evaluate(
        _config(), base_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'runs.db'}", **kw
    )


@pytest.fixture
def result(tmp_path: Path) -> EvalResult:
    return _evaluate(tmp_path)


def test_to_dataframe_has_one_row_per_trial_and_the_documented_columns(
    result: EvalResult,
) -> None:
    frame = result.to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == len(result.trials) == result.summary["total"] == 6
    at = TRIAL_COLUMNS.index("output")
    assert (
        list(frame.columns)
        == [
            *TRIAL_COLUMNS[:at],
            "var_word",
            "var_score",  # a var called `score` does not clash with the score column
            "var_topic",
            *TRIAL_COLUMNS[at:],
            "metric_format",
            "metric_mentions",
        ]
    )
    assert frame["trial_index"].tolist() == [t.index for t in result.trials]
    assert set(frame["run_id"]) == {result.run_id}
    assert frame["var_word"].tolist() == ["alpha", "alpha", "beta", "beta", "boom", "boom"]
    assert frame["var_topic"].tolist()[2] == {"lang": "en"}  # values kept as given
    assert frame["var_score"].tolist()[0] == 3 and frame["var_score"].isna().tolist()[2]
    assert frame["success"].dtype == bool and frame["cached"].dtype == bool
    assert frame["score"].dtype == float and frame["latency_ms"].dtype == float


def test_to_dataframe_rows_carry_outputs_verdicts_metrics_and_spend(result: EvalResult) -> None:
    frame = result.to_dataframe().set_index(["case_index", "prompt_id"])
    plain = frame.loc[(0, "plain")]
    assert plain["output"] == "the word is alpha"
    assert (plain["status"], plain["success"]) == ("fail", False) and pd.isna(plain["error"])
    assert "JSON" in plain["reason"]  # the grader's reason says why
    assert (plain["metric_format"], plain["metric_mentions"]) == (0.0, 1.0)
    assert plain["description"] == "first" and plain["provider_label"] == "model.py"

    json_row = frame.loc[(1, "json")]
    assert json_row["output"] == '{"word": "beta"}'  # text, as in the other exports
    assert (json_row["status"], json_row["success"], json_row["score"]) == ("pass", True, 1.0)
    assert (json_row["metric_format"], json_row["metric_mentions"]) == (1.0, 1.0)
    assert json_row["cost"] == pytest.approx(0.0025)
    tokens = (json_row["prompt_tokens"], json_row["completion_tokens"], json_row["total_tokens"])
    assert tokens == (4, 3, 7)
    assert json_row["prompt_label"] == HOSTILE_LABEL
    assert isinstance(json_row["created_at"], str) and json_row["created_at"]

    boom = frame.loc[(2, "plain")]
    assert boom["status"] == "error" and "model overloaded (HTTP 529)" in boom["error"]
    assert math.isnan(boom["metric_format"])  # not graded: no metric
    assert boom["description"] == "errors"


def test_to_dataframe_agrees_with_the_summary(result: EvalResult) -> None:
    frame = result.to_dataframe()
    by_pair = frame.groupby(["prompt_label", "provider_label"], sort=False)
    for pair in result.summary["pairs"]:
        rows = by_pair.get_group((pair["prompt_label"], pair["provider_label"]))
        assert (rows["status"] == "pass").sum() == pair["passed"]
        assert (rows["status"] == "fail").sum() == pair["failed"]
        assert (rows["status"] == "error").sum() == pair["errors"]
        assert rows["score"].mean() == pytest.approx(pair["mean_score"])
        assert rows["total_tokens"].sum() == pair["tokens"]["total"]
    assert frame["success"].mean() == pytest.approx(result.pass_rate)


def test_to_dataframe_without_pandas_says_how_to_install_it(
    result: EvalResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    with pytest.raises(ImportError, match=r"pip install pandas"):
        result.to_dataframe()
    assert "<table>" in result._repr_html_()  # the notebook view does not need pandas


def test_to_dataframe_of_a_run_that_kept_no_trials_says_so(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, keep_trials=False)
    assert result.trials == [] and result.summary["total"] == 6
    with pytest.raises(ValueError, match="keep_trials"):
        result.to_dataframe()


class _Table(HTMLParser):
    """The text of each cell, row by row, and every tag seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_repr_html_is_a_compact_escaped_summary_per_prompt_and_provider(
    result: EvalResult,
) -> None:
    text = result._repr_html_()
    table = _Table()
    table.feed(text)
    table.close()
    assert "script" not in table.tags  # the hostile label is text
    assert "&lt;script&gt;alert(&#x27;label&#x27;)&lt;/script&gt; &amp; co" in text
    head, *rows = table.rows
    assert head == [
        "prompt",
        "provider",
        "pass rate (95% CI)",
        "passed",
        "failed",
        "errors",
        "mean score",
        "cost (USD)",
        "p50 / p95 ms",
    ]
    assert [r[:2] for r in rows] == [["plain", "model.py"], [HOSTILE_LABEL, "model.py"]]
    plain, json_row = rows
    assert plain[2].startswith("0.0% (0.0–") and plain[3:6] == ["0", "2", "1"]
    assert json_row[2].startswith("66.7% (") and json_row[3:6] == ["2", "0", "1"]
    assert json_row[6] == f"{result.summary['pairs'][1]['mean_score']:.3f}"
    assert json_row[7] == "$0.005000"
    assert all(" / " in r[8] for r in rows)
    assert f"Run <code>{result.run_id}</code> · succeeded · 2/6 passed (33.3%)" in text


def test_repr_is_short_whatever_the_number_of_trials(result: EvalResult) -> None:
    assert repr(result) == (
        f"EvalResult(run_id={result.run_id!r}, status='succeeded', passed=2/6, failed=2, "
        "errors=2, trials=6)"
    )
