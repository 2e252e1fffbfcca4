"""`promptyard compare` pairs two runs that differ only by their prompt ("did my change
help?"), lets a larger run's prompt and provider be chosen, and compares two prompts of one
run."""

from __future__ import annotations

import json

from tests.e2e.clitools import Project, assert_clean_error, run_id_from, word_tests

WORDS = ("alpha", "beta", "gamma")


def _run(project: Project, prompts: str) -> str:
    project.config(word_tests(*WORDS), prompts=prompts)
    result = project.eval()
    assert result.returncode in (0, 100), str(result)
    return run_id_from(result)


def _compare(project: Project, *args: str) -> dict[str, object]:
    result = project.cli("compare", *args, "--json")
    assert result.returncode == 0, str(result)
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_two_runs_that_differ_by_their_prompt_pair_by_case(project: Project) -> None:
    run_a = _run(project, '  - "Repeat: {{ word }}"\n')
    run_b = _run(project, '  - "Repeat: {{ word | upper }}"\n')  # fails every `contains`
    result = project.cli("compare", run_a[:8], run_b[:8])
    assert result.returncode == 0, str(result)
    out = " ".join(result.stdout.split())
    assert "B regresses 3 cases and improves 0" in out, out
    assert "share no case" not in out and "Paired by case" in out
    data = _compare(project, run_a, run_b)
    assert data["key"] == ["case_id", "sample"]
    total = data["total"]
    assert isinstance(total, dict) and total["paired"] == 3 and total["regressed"] == 3
    groups = data["groups"]
    assert isinstance(groups, list) and len(groups) == 1
    assert groups[0]["prompt_label"] == "Repeat: {{ word }} → Repeat: {{ word | upper }}"


PROMPTS = (
    '  - {raw: "Repeat: {{ word }}", label: v1}\n'
    '  - {raw: "Repeat: {{ word | upper }}", label: v2}\n'
)


def test_two_prompts_of_one_run(project: Project) -> None:
    run = _run(project, PROMPTS)
    data = _compare(project, run, run, "--prompt-a", "v1", "--prompt-b", "v2")
    total = data["total"]
    assert isinstance(total, dict) and total["paired"] == 3 and total["regressed"] == 3
    assert data["selected"] == {"prompt_a": "v1", "prompt_b": "v2",
                                "provider_a": None, "provider_b": None}  # fmt: skip
    text = project.cli("compare", run, run, "--prompt-a", "v1", "--prompt-b", "v2")
    assert "(prompt v1)" in text.stdout and "(prompt v2)" in text.stdout


def test_choosing_a_prompt_of_a_larger_run(project: Project) -> None:
    big = _run(project, PROMPTS)
    small = _run(project, '  - {raw: "Say {{ word }}", label: v3}\n')
    unchosen = _compare(project, big, small)
    total = unchosen["total"]
    assert isinstance(total, dict) and total["paired"] == 0
    assert "--prompt-a" in str(unchosen["sentence"])  # says what to choose
    chosen = _compare(project, big, small, "--prompt-a", "v1")
    total = chosen["total"]
    assert isinstance(total, dict) and total["paired"] == 3 and total["both_pass"] == 3
    # --prompt applies to both runs: v1 is only in A.
    assert_clean_error(project.cli("compare", big, small, "--prompt", "v1"),
                       "run B has no prompt 'v1'", "'v3'")  # fmt: skip
    assert_clean_error(project.cli("compare", big, small, "--provider-b", "nope"),
                       "run B has no provider 'nope'")  # fmt: skip


def test_same_labels_still_pair_by_label(project: Project) -> None:
    run_a = _run(project, PROMPTS)
    run_b = _run(project, PROMPTS)
    data = _compare(project, run_a, run_b)
    assert data["key"] == ["case_id", "prompt_label", "sample"]  # one provider each
    total = data["total"]
    assert isinstance(total, dict) and total["paired"] == 6 and total["improved"] == 0
