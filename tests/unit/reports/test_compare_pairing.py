"""Which trials pair: a dimension with one value on each side leaves the key, and a larger
run's prompt or provider can be chosen (by label or id)."""

from __future__ import annotations

import pytest
from tests.unit.reports.test_reports_compare import _t

from promptyard.reports.compare import compare_runs


def test_one_prompt_each_pairs_by_case_per_provider() -> None:
    a = [_t(i, True, prompt="old", provider=p) for i in range(3) for p in ("x", "y")]
    b = [_t(i, i != 1, prompt="new", provider=p) for i in range(3) for p in ("x", "y")]
    c = compare_runs(a, b)
    assert c.key == ("case_id", "provider_label", "sample")
    assert c.total.paired == 6 and c.total.regressed == 2
    assert [(g.prompt_label, g.provider_label) for g in c.groups] == [
        ("old → new", "x"),
        ("old → new", "y"),
    ]
    assert c.regressions[0].prompt_label == "old → new" and c.hint == ""


def test_choosing_prompts_of_one_run() -> None:
    run = [_t(i, True, prompt="v1") for i in range(4)] + [
        _t(i, i < 2, prompt="v2") for i in range(4)
    ]
    unchosen = compare_runs(run, run)
    assert unchosen.total.paired == 8 and unchosen.total.regressed == 0
    chosen = compare_runs(run, run, prompt_a="v1", prompt_b="id-v2")  # a label, an id
    assert chosen.key == ("case_id", "sample")
    assert chosen.total.paired == 4 and chosen.total.regressed == 2


def test_nothing_paired_says_what_to_choose() -> None:
    a = [_t(i, True, prompt=p) for i in range(2) for p in ("v1", "v2")]
    b = [_t(i, True, prompt="v3") for i in range(2)]
    c = compare_runs(a, b)
    assert c.total.paired == 0 and "--prompt-a" in c.hint and c.hint in c.sentence
    assert compare_runs(a, b, prompt_a="v2").total.paired == 2


def test_an_unknown_choice_is_an_error_naming_what_there_is() -> None:
    a = [_t(0, True)]
    with pytest.raises(ValueError, match=r"run B has no prompt 'v9'.*'v1'"):
        compare_runs(a, a, prompt_b="v9")
    with pytest.raises(ValueError, match="run A has no provider 'nope'"):
        compare_runs(a, a, provider_a="nope")
