"""The summary's confidence intervals and flaky counts per prompt x provider."""

from __future__ import annotations

import pytest

from promptyard.core.types import TrialResult
from promptyard.engine.summary import SummaryBuilder


def _trial(
    i: int, *, success: bool, score: float, prompt: str = "p1", sample: int = 0
) -> TrialResult:
    return TrialResult(
        run_id="r",
        index=i,
        case_index=i,
        case_id=f"c{i}",
        prompt_id=prompt,
        prompt_label=prompt,
        provider_id="echo",
        provider_label="echo",
        sample=sample,
        description=None,
        vars={},
        prompt="",
        success=success,
        score=score,
    )


def test_pairs_carry_wilson_and_bootstrap_intervals() -> None:
    builder = SummaryBuilder(repeat=1)
    for i in range(10):
        builder.add(_trial(i, success=i < 8, score=1.0 if i < 8 else 0.25))
    pair = builder.to_dict()["pairs"][0]
    low, high = pair["pass_rate_ci"]
    assert low == pytest.approx(0.490, abs=1e-3)
    assert high == pytest.approx(0.943, abs=1e-3)
    slow, shigh = pair["mean_score_ci"]
    assert pair["mean_score"] == pytest.approx(0.85)
    assert slow < 0.85 < shigh <= 1.0
    assert builder.to_dict()["pairs"][0]["mean_score_ci"] == [slow, shigh]  # seed 0: stable
    assert pair["flaky_count"] == 0


def test_constant_scores_give_a_point_interval() -> None:
    builder = SummaryBuilder(repeat=1)
    for i in range(3):
        builder.add(_trial(i, success=True, score=1.0))
    pair = builder.to_dict()["pairs"][0]
    assert pair["mean_score_ci"] == [1.0, 1.0]
    assert pair["pass_rate_ci"][1] == 1.0


def test_flaky_count_per_pair() -> None:
    builder = SummaryBuilder(repeat=2)
    verdicts = {  # (prompt, case) -> verdicts of samples 0 and 1
        ("p1", 0): (True, False),
        ("p1", 1): (True, True),
        ("p1", 2): (False, True),
        ("p2", 0): (True, False),
        ("p2", 1): (False, False),
    }
    index = 0
    for (prompt, case), seen in verdicts.items():
        for sample, ok in enumerate(seen):
            t = _trial(case, success=ok, score=float(ok), prompt=prompt, sample=sample)
            t.index = index
            builder.add(t)
            index += 1
    summary = builder.to_dict()
    counts = {p["prompt_id"]: p["flaky_count"] for p in summary["pairs"]}
    assert counts == {"p1": 2, "p2": 1}
    assert len(summary["flaky"]) == 3
