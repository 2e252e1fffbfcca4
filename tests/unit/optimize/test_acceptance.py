"""Acceptance: a candidate replaces the incumbent only on a gain beyond noise."""

from __future__ import annotations

import random

import pytest

from promptyard.core.stats import mcnemar
from promptyard.optimize.acceptance import decide, flaky


def _scores(values: list[float]) -> dict[str, list[float]]:
    return {f"case-{i}": [v] for i, v in enumerate(values)}


def _noisy(n: int, base: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [min(1.0, max(0.0, base + rng.uniform(-0.2, 0.2))) for _ in range(n)]


def test_a_clear_gain_is_accepted_with_the_interval_above_min_improvement() -> None:
    incumbent = _noisy(40, 0.5, seed=1)
    rng = random.Random(2)
    candidate = [min(1.0, v + 0.2 + rng.uniform(-0.05, 0.05)) for v in incumbent]
    decision = decide(_scores(incumbent), _scores(candidate), min_improvement=0.1)
    assert decision.accepted
    assert decision.interval[0] > 0.1
    assert decision.interval[0] <= decision.mean_diff <= decision.interval[1]
    assert decision.n_paired == 40
    assert decision.improved == 40 and decision.regressed == 0 and decision.unchanged == 0
    assert decision.p_value is None
    assert decision.reason.startswith("accepted: +0.")
    assert "95% CI" in decision.reason and "on 40 paired cases" in decision.reason


def test_the_same_gain_is_rejected_when_min_improvement_is_above_it() -> None:
    incumbent = _noisy(40, 0.5, seed=1)
    candidate = [min(1.0, v + 0.05) for v in incumbent]
    decision = decide(_scores(incumbent), _scores(candidate), min_improvement=0.1)
    assert not decision.accepted
    assert "is not above 0.1" in decision.reason


def test_a_tiny_gain_on_few_cases_is_noise() -> None:
    incumbent = [0.5, 0.6, 0.4, 0.7, 0.5, 0.6]
    candidate = [0.7, 0.4, 0.6, 0.5, 0.5, 0.7]  # +0.1/6 on average, swinging both ways
    decision = decide(_scores(incumbent), _scores(candidate))
    assert not decision.accepted
    assert decision.mean_diff > 0
    assert decision.interval[0] < 0 < decision.interval[1]
    assert decision.reason.startswith("rejected: +0.017")
    assert "on 6 paired cases" in decision.reason


def test_a_regression_is_rejected() -> None:
    incumbent = _noisy(30, 0.7, seed=3)
    candidate = [v - 0.2 for v in incumbent]
    decision = decide(_scores(incumbent), _scores(candidate))
    assert not decision.accepted
    assert decision.mean_diff == pytest.approx(-0.2)
    assert decision.regressed == 30
    assert decision.reason.startswith("rejected: -0.200")


def test_identical_scores_are_rejected() -> None:
    scores = _scores(_noisy(30, 0.6, seed=4))
    decision = decide(scores, scores)
    assert not decision.accepted
    assert decision.mean_diff == 0.0
    assert decision.interval == (0.0, 0.0)
    assert decision.unchanged == 30


def test_samples_are_averaged_per_case() -> None:
    incumbent = {f"c{i}": [0.0, 0.5, 1.0] for i in range(10)}
    candidate = {f"c{i}": [1.0, 1.0, 0.5] for i in range(10)}
    decision = decide(incumbent, candidate)
    assert decision.mean_diff == pytest.approx(2.5 / 3 - 0.5)
    assert decision.accepted  # the same gain on every case: no spread at all


def test_one_paired_case_is_never_enough() -> None:
    decision = decide({"a": [0.1]}, {"a": [0.9]})
    assert not decision.accepted
    assert "at least 2 paired cases" in decision.reason


def test_mcnemar_exact_with_known_counts() -> None:
    assert mcnemar(10, 2).p_value == pytest.approx(0.0386, abs=1e-4)
    # 10 cases improve (fail -> pass), 2 regress, 28 stay as they were.
    incumbent: dict[str, list[float]] = {}
    candidate: dict[str, list[float]] = {}
    for i in range(40):
        before, after = (0, 1) if i < 10 else (1, 0) if i < 12 else (i % 2, i % 2)
        incumbent[f"c{i}"] = [before]
        candidate[f"c{i}"] = [after]
    decision = decide(incumbent, candidate, metric="pass")
    assert (decision.improved, decision.regressed, decision.unchanged) == (10, 2, 28)
    assert decision.p_value == pytest.approx(0.0386, abs=1e-4)
    assert decision.mean_diff == pytest.approx(8 / 40)
    assert decision.accepted
    assert "McNemar p=0.0386" in decision.reason and "10 improved, 2 regressed" in decision.reason

    stricter = decide(incumbent, candidate, metric="pass", alpha=0.01)
    assert not stricter.accepted
    assert "99% CI" in stricter.reason and "is not below 0.01" in stricter.reason

    too_small = decide(incumbent, candidate, metric="pass", min_improvement=0.25)
    assert not too_small.accepted
    assert "is not above 0.25" in too_small.reason


def test_mcnemar_uses_majority_verdicts_and_rejects_more_regressions() -> None:
    incumbent = {f"c{i}": [1, 1, 0] for i in range(12)}  # majority pass
    candidate = {f"c{i}": [0, 1, 0] for i in range(12)}  # majority fail
    decision = decide(incumbent, candidate, metric="pass")
    assert (decision.improved, decision.regressed) == (0, 12)
    assert not decision.accepted
    assert "0 improved, not more than 12 regressed" in decision.reason


def test_a_tie_among_samples_is_a_fail() -> None:
    incumbent = {f"c{i}": [1, 0] for i in range(5)}
    candidate = {f"c{i}": [1, 1] for i in range(5)}
    decision = decide(incumbent, candidate, metric="pass")
    assert decision.improved == 5


def test_pass_values_must_be_verdicts() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        decide({"a": [0.5], "b": [1]}, {"a": [1], "b": [1]}, metric="pass")


def test_unpaired_ids_are_ignored_and_counted() -> None:
    incumbent = _scores([0.2] * 10)
    candidate = _scores([0.2] * 10)
    incumbent["only-old"] = [1.0]
    candidate["only-new-1"] = [0.0]
    candidate["only-new-2"] = [0.0]
    decision = decide(incumbent, candidate)
    assert decision.n_paired == 10
    assert decision.unpaired == 3
    assert decision.mean_diff == 0.0
    assert "(3 unpaired)" in decision.reason


def test_excluded_flaky_ids_are_left_out() -> None:
    incumbent = _scores([0.5] * 10)
    candidate = _scores([0.6] * 10)
    incumbent["wobbly"] = [1.0]
    candidate["wobbly"] = [0.0]  # would pull the mean down and spread the interval
    decision = decide(incumbent, candidate, exclude={"wobbly", "not-there"})
    assert decision.n_paired == 10
    assert decision.excluded == 1
    assert decision.unpaired == 0
    assert decision.mean_diff == pytest.approx(0.1)
    assert decision.accepted
    assert "(1 flaky excluded)" in decision.reason

    kept = decide(incumbent, candidate)
    assert kept.n_paired == 11 and not kept.accepted


def test_flaky_on_hand_made_samples() -> None:
    samples: dict[str, list[float]] = {
        "steady-pass": [1, 1, 1, 1],
        "steady-fail": [0, 0, 0, 0],
        "one-in-four": [1, 1, 1, 0],  # minority share 0.25
        "coin": [1, 0, 1, 0],  # 0.5
        "single": [1],
        "bools": [True, False, True, True, True],  # 0.2
    }
    assert flaky(samples, threshold=0.2) == {"one-in-four", "coin"}
    assert flaky(samples, threshold=0.0) == {"one-in-four", "coin", "bools"}
    assert flaky(samples, threshold=0.3) == {"coin"}
    assert flaky(samples, threshold=0.5) == set()


@pytest.mark.parametrize("threshold", [-0.1, 0.6])
def test_flaky_threshold_is_a_minority_share(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        flaky({"a": [1, 0]}, threshold=threshold)


def test_the_decision_is_deterministic_for_a_seed() -> None:
    incumbent = _scores(_noisy(25, 0.5, seed=5))
    candidate = _scores(_noisy(25, 0.55, seed=6))
    first = decide(incumbent, candidate, seed=11)
    assert decide(incumbent, candidate, seed=11) == first
    reordered = dict(reversed(list(candidate.items())))
    assert decide(incumbent, reordered, seed=11) == first
    assert decide(incumbent, candidate, seed=12).interval != first.interval


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"metric": "mean"}, "metric"), ({"alpha": 0.0}, "alpha"), ({"alpha": 1.5}, "alpha")],
)
def test_bad_arguments_are_value_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decide(_scores([0.1, 0.2]), _scores([0.3, 0.4]), **kwargs)  # type: ignore[arg-type]


def test_to_dict_carries_every_number() -> None:
    decision = decide(_scores([0.1, 0.2, 0.3]), _scores([0.4, 0.5, 0.7]))
    data = decision.to_dict()
    assert data["n_paired"] == 3 and data["reason"] == decision.reason
    assert data["interval"] == list(decision.interval)
