"""Pairing two runs' trials, counting flips, and the sentence a person reads."""

from __future__ import annotations

import pytest

from promptyard.core.types import TrialResult
from promptyard.reports.compare import compare_runs


def _t(
    case: int,
    ok: bool,
    *,
    score: float | None = None,
    prompt: str = "v1",
    provider: str = "echo",
    sample: int = 0,
    error: str | None = None,
) -> TrialResult:
    return TrialResult(
        run_id="r",
        index=case,
        case_index=case,
        case_id=f"case-{case}",
        prompt_id=f"id-{prompt}",
        prompt_label=prompt,
        provider_id=provider,
        provider_label=provider,
        sample=sample,
        description=f"case {case} desc",
        vars={},
        prompt="",
        success=ok,
        score=float(ok) if score is None else score,
        error=error,
    )


def test_counts_flips_and_names_regressions() -> None:
    # 20 cases pass in A; B breaks 12 of them and fixes 3 of 5 that A failed.
    a = [_t(i, True) for i in range(20)] + [_t(20 + i, False) for i in range(5)]
    b = [_t(i, i >= 12) for i in range(20)] + [_t(20 + i, i < 3) for i in range(5)]
    c = compare_runs(a, b, run_a="A1", run_b="B1")
    t = c.total
    assert (t.regressed, t.improved, t.both_pass, t.both_fail) == (12, 3, 8, 2)
    assert t.paired == 25 and t.unchanged == 10
    assert t.mcnemar.method == "exact"
    # 2 * P(X <= 3 | n=15, 1/2) = 2 * 576 / 32768
    assert t.mcnemar.p_value == pytest.approx(2 * 576 / 32768)
    assert c.significant and c.regresses
    assert c.sentence == (
        "B regresses 12 cases and improves 3; the difference is significant (McNemar p = 0.035)."
    )
    assert [r.case_index for r in c.regressions] == list(range(12))
    assert c.regressions[0].name == "case 0 desc"
    assert [r.case_index for r in c.improvements] == [20, 21, 22]
    assert c.total.score is not None
    assert c.total.score.mean_diff == pytest.approx((3 - 12) / 25)
    assert c.total.score.high < 0


def test_not_significant_sentence() -> None:
    a = [_t(i, i % 2 == 0) for i in range(10)]
    b = [_t(i, i in (1, 2, 4, 6, 8)) for i in range(10)]  # breaks 0, fixes 1
    c = compare_runs(a, b)
    assert (c.total.regressed, c.total.improved) == (1, 1)
    assert not c.significant
    assert c.sentence == (
        "B regresses 1 case and improves 1; the difference is not significant (McNemar p = 1)."
    )


def test_unpaired_cases_are_counted_and_named() -> None:
    a = [_t(0, True), _t(1, True), _t(2, True)]
    b = [_t(0, True), _t(1, True), _t(3, False), _t(4, False)]
    c = compare_runs(a, b)
    assert c.total.only_a == 1 and c.total.only_b == 2
    assert [r.name for r in c.only_in_a] == ["case 2 desc"]
    assert [r.case_index for r in c.only_in_b] == [3, 4]
    assert c.sentence == (
        "B and A agree on all 2 paired cases: no pass/fail flips; "
        "1 case only in A; 2 cases only in B."
    )
    d = c.to_dict()
    assert d["total"]["only_a"] == 1 and d["only_in_b"][1]["case_index"] == 4


def test_key_separates_prompts_providers_and_samples() -> None:
    a = [
        _t(0, True, prompt="v1"),
        _t(0, True, prompt="v2"),
        _t(0, True, provider="other"),
        _t(0, True, sample=1),
    ]
    b = [
        _t(0, False, prompt="v1"),  # regressed
        _t(0, True, prompt="v2"),
        _t(0, True, provider="other"),
        _t(0, False, sample=1),  # regressed, a different sample of the same case
    ]
    c = compare_runs(a, b)
    assert c.total.paired == 4 and c.total.regressed == 2
    by_group = {(g.prompt_label, g.provider_label): g for g in c.groups}
    assert set(by_group) == {("v1", "echo"), ("v2", "echo"), ("v1", "other")}
    assert by_group[("v1", "echo")].regressed == 2
    assert by_group[("v2", "echo")].both_pass == 1
    assert [r.sample for r in c.regressions] == [0, 1]


def test_an_error_counts_as_a_fail_and_scores_are_paired() -> None:
    a = [_t(0, True, score=0.9), _t(1, True, score=0.5)]
    b = [_t(0, True, score=0.7, error="timeout"), _t(1, True, score=0.8)]
    c = compare_runs(a, b)
    assert c.total.regressed == 1 and c.total.both_pass == 1
    assert c.total.score is not None
    assert c.total.score.mean_diff == pytest.approx((-0.2 + 0.3) / 2)


def test_improvement_sentence_and_bad_alpha() -> None:
    a = [_t(i, False) for i in range(30)]
    b = [_t(i, True) for i in range(30)]
    c = compare_runs(a, b)
    assert c.total.mcnemar.method == "chi2"
    assert not c.regresses and c.significant
    assert c.sentence == (
        "B improves 30 cases and regresses 0; the difference is significant (McNemar p < 0.001)."
    )
    assert compare_runs([], []).sentence == "A and B share no case to compare."
    with pytest.raises(ValueError, match="alpha"):
        compare_runs(a, b, alpha=1.0)
