"""The KPI typo check docs/config.md promises: a name no scorer gives is a load error when the
config's metrics are all known; otherwise each trial's KPI error is shown."""

from __future__ import annotations

from tests.e2e.clitools import Project, assert_clean_error, word_tests

TYPO = """kpis:
  - {name: quality, expression: "0.7 * scroe", weight: 1}
"""


def test_a_typo_in_a_kpi_fails_the_load(project: Project) -> None:
    project.config(word_tests("alpha"), extra=TYPO)
    result = project.eval()
    assert_clean_error(
        result, 'KPI "quality"', 'unknown variable "scroe" (did you mean "score"?)', "kpis[0]"
    )
    assert project.stub.request_count == 0


def test_a_named_metric_is_known(project: Project) -> None:
    tests = (
        "  - vars: {word: alpha}\n"
        "    assert:\n"
        "      - {type: contains, value: alpha, metric: Tone-Check}\n"
    )
    kpis = 'kpis:\n  - {name: tone, expression: "Tone_Check + metric(\\"Tone-Check\\")"}\n'
    project.config(tests, extra=kpis)
    result = project.eval()
    assert result.returncode == 0, str(result)
    assert "KPI score 2.000" in result.stdout
    # A metric only a later test gives is known even when -n leaves that test out.
    project.config(word_tests("beta") + tests, extra=kpis)
    assert project.eval("-n", "1").returncode == 0


def test_with_a_code_assertion_each_trial_shows_its_kpi_error(project: Project) -> None:
    tests = (
        "  - description: case-alpha\n"
        "    vars: {word: alpha}\n"
        "    assert:\n"
        "      - {type: javascript, value: \"output.includes('alpha')\"}\n"
    )
    project.config(tests, extra=TYPO)
    result = project.eval()
    assert result.returncode == 0, str(result)
    out = " ".join(result.stdout.split())
    assert "KPI errors on 1 trial(s)" in out
    assert "case-alpha" in out and 'KPI "quality"' in out and "scroe" in out
    verbose = " ".join(project.eval("--verbose").stdout.split())
    assert "KPI error:" in verbose and "scroe" in verbose
