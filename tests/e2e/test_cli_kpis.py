"""`promptyard eval` with weighted KPIs and a judge: the KPI line, the spend line, the gate."""

from __future__ import annotations

import json

from tests.e2e.clitools import KEY_ENV, Project, word_tests

KPIS = """kpis:
  - {name: passes, expression: "passed", weight: 1}
  - {name: brief, expression: "1 if output_length < 14 else 0", weight: 1}
"""


def test_kpi_gate_decides_the_exit_code(project: Project) -> None:
    # "Repeat: alpha" is 13 characters, "Repeat: gamma!" 14: one case passes both KPIs, the other
    # fails its assertion and is too long, so the run's KPI score is (1 + 0) / 2 = 0.5.
    project.config(word_tests("alpha", "gamma!", expect={"gamma!": "nope"}), extra=KPIS)
    failing = project.eval("--kpi-threshold", "0.6")
    assert failing.returncode == 100, str(failing)
    assert "KPI score 0.500" in failing.stdout and "not met" in failing.stdout
    passing = project.eval("--kpi-threshold", "0.5")
    # A failing test no longer fails the run: the KPI score is the gate.
    assert passing.returncode == 0, str(passing)
    assert "threshold 0.5 met" in passing.stdout


def test_kpi_threshold_without_kpis_is_bad_input(project: Project) -> None:
    project.config(word_tests("alpha"))
    result = project.eval("--kpi-threshold", "0.5")
    assert result.returncode == 1
    assert "--kpi-threshold needs `kpis`" in result.stdout + result.stderr


def test_judge_spend_is_printed_apart(project: Project) -> None:
    judge = {"id": "openai:chat:gpt-4o-mini",
             "config": {"apiBaseUrl": project.stub.base_url, "apiKeyEnvar": KEY_ENV}}  # fmt: skip
    project.stub.add_rule("<Rubric>", '{"pass": true, "score": 1, "reason": "fine"}')
    tests = (
        "  - vars: {word: alpha}\n"
        "    assert:\n"
        "      - {type: llm-rubric, value: repeats the word}\n"
    )
    project.config(tests, extra=f"defaultTest:\n  options:\n    provider: {json.dumps(judge)}\n")
    result = project.eval()
    assert result.returncode == 0, str(result)
    assert "+ judges 0.0000" in result.stdout and "judge tokens" in result.stdout
