"""`promptyard compare`: two real evals against the stub, then the paired comparison."""

from __future__ import annotations

import json
import re

from tests.e2e.clitools import Project, assert_clean_error, run_id_from, word_tests

WORDS = [f"w{i:02d}" for i in range(12)]


def _two_runs(project: Project, broken: list[str]) -> tuple[str, str]:
    """Run A: every case passes. Run B: the stub answers `broken` words wrongly."""
    project.config(word_tests(*WORDS))
    first = project.eval()
    assert first.returncode == 0, str(first)
    for word in broken:
        project.stub.add_rule(f"Repeat: {word}", "something else")
    second = project.eval("--no-cache")
    assert second.returncode == (100 if broken else 0), str(second)
    return run_id_from(first), run_id_from(second)


def _row_counts(stdout: str) -> list[str]:
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and cells[0].startswith("Repeat:"):
            return cells
    raise AssertionError(f"no comparison row in\n{stdout}")


def test_significant_regression_is_reported_and_fails_the_gate(project: Project) -> None:
    broken = WORDS[:8]
    run_a, run_b = _two_runs(project, broken)

    result = project.cli("compare", run_a[:8], run_b[:8])
    assert result.returncode == 0, str(result)
    out = " ".join(result.stdout.split())
    # prompt, provider, paired, improved, regressed, unchanged, only A, only B, McNemar
    assert _row_counts(result.stdout)[2:9] == ["12", "0", "8", "4", "0", "0", "p = 0.0078"]
    assert (
        "B regresses 8 cases and improves 0; the difference is significant (McNemar p = 0.0078)."
        in out
    )
    assert "Regressed (8 of 8)" in out
    for word in broken:
        assert f"case-{word}" in out
    assert "case-w08" not in out

    gate = project.cli("compare", run_a, run_b, "--fail-on-regression")
    assert gate.returncode == 1, str(gate)
    assert "Traceback" not in gate.stderr

    # A stricter alpha makes the same regression not significant: the gate passes.
    strict = project.cli("compare", run_a, run_b, "--fail-on-regression", "--alpha", "0.005")
    assert strict.returncode == 0, str(strict)
    assert "not significant" in " ".join(strict.stdout.split())

    as_json = project.cli("compare", run_a, run_b, "--json")
    assert as_json.returncode == 0, str(as_json)
    doc = json.loads(as_json.stdout)
    assert doc["run_a"] == run_a and doc["run_b"] == run_b
    assert doc["total"]["regressed"] == 8 and doc["total"]["both_pass"] == 4
    assert doc["total"]["mcnemar"]["method"] == "exact"
    assert sorted(r["description"] for r in doc["regressions"]) == [f"case-{w}" for w in broken]
    assert doc["total"]["score_diff"]["mean_diff"] < 0


def test_a_small_regression_is_not_significant_and_passes_the_gate(project: Project) -> None:
    run_a, run_b = _two_runs(project, WORDS[:2])
    result = project.cli("compare", run_a, run_b, "--fail-on-regression")
    assert result.returncode == 0, str(result)
    out = " ".join(result.stdout.split())
    assert "B regresses 2 cases and improves 0; the difference is not significant" in out
    assert "(McNemar p = 0.5)" in out


def test_unpaired_cases_are_named(project: Project) -> None:
    project.config(word_tests("alpha", "beta"))
    first = project.eval()
    project.config(word_tests("alpha", "gamma"))
    second = project.eval()
    result = project.cli("compare", run_id_from(first), run_id_from(second))
    assert result.returncode == 0, str(result)
    out = " ".join(result.stdout.split())
    assert "1 case only in A; 1 case only in B." in out
    assert "Only in A: case-beta" in out and "Only in B: case-gamma" in out


def test_unknown_run_is_a_clean_error(project: Project) -> None:
    project.config(word_tests("alpha"))
    run_a = run_id_from(project.eval())
    result = project.cli("compare", run_a, "deadbeef")
    assert_clean_error(result, "no run matches 'deadbeef'")
    bad_alpha = project.cli("compare", run_a, run_a, "--alpha", "2")
    assert_clean_error(bad_alpha, "--alpha must be between 0 and 1")
