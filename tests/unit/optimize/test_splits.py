"""Split assignment: explicit splits kept, hashing stable under reordering and growth."""

from __future__ import annotations

import random

import pytest

from promptyard.core.types import TestCase
from promptyard.errors import ConfigError
from promptyard.optimize.splits import Splits, assign_splits


def _cases(n: int, start: int = 0) -> list[TestCase]:
    return [TestCase(vars={"q": f"question {i}"}) for i in range(start, start + n)]


def _by_name(cases: list[TestCase], splits: Splits) -> dict[str, str]:
    """case vars -> split name, so assignments compare across different case lists."""
    out = {}
    for name in ("train", "val", "test"):
        for index in getattr(splits, name):
            out[cases[index].vars["q"]] = name
    return out


def test_every_case_lands_in_exactly_one_split_in_order() -> None:
    cases = _cases(50)
    splits = assign_splits(cases)
    every = splits.train + splits.val + splits.test
    assert sorted(every) == list(range(50))
    for part in (splits.train, splits.val, splits.test):
        assert part == sorted(part)


def test_an_explicit_split_is_kept() -> None:
    cases = _cases(40)
    cases[0] = TestCase(vars={"q": "pinned test"}, split="test")
    cases[1] = TestCase(vars={"q": "pinned train"}, split="train")
    cases[2] = TestCase(vars={"q": "pinned val"}, split="val")
    for seed in range(5):
        splits = assign_splits(cases, seed=seed)
        assert 0 in splits.test
        assert 1 in splits.train
        assert 2 in splits.val


def test_only_explicit_splits_need_no_ratio_luck() -> None:
    names = ["train", "val", "val", "test", "test"]
    cases = [TestCase(vars={"q": str(i)}, split=name) for i, name in enumerate(names)]
    assert assign_splits(cases) == Splits(train=[0], val=[1, 2], test=[3, 4])


def test_assignment_does_not_depend_on_case_order() -> None:
    cases = _cases(200)
    shuffled = cases[:]
    random.Random(7).shuffle(shuffled)
    assert _by_name(cases, assign_splits(cases)) == _by_name(shuffled, assign_splits(shuffled))


def test_adding_cases_never_moves_an_old_one() -> None:
    old = _cases(100)
    grown = old + _cases(150, start=100)
    before = _by_name(old, assign_splits(old))
    after = _by_name(grown, assign_splits(grown))
    assert {q: after[q] for q in before} == before


def test_ratios_are_respected_on_1000_cases() -> None:
    splits = assign_splits(_cases(1000), ratios=(0.6, 0.2, 0.2))
    # Binomial(1000, p): the standard deviation is at most ~15.5; allow about 3.5 of them.
    assert abs(len(splits.train) - 600) <= 55
    assert abs(len(splits.val) - 200) <= 45
    assert abs(len(splits.test) - 200) <= 45

    other = assign_splits(_cases(1000), ratios=(0.8, 0.1, 0.1))
    assert abs(len(other.train) - 800) <= 45
    assert abs(len(other.val) - 100) <= 35


def test_the_seed_changes_the_assignment_and_is_reproducible() -> None:
    cases = _cases(100)
    assert assign_splits(cases, seed=1) == assign_splits(cases, seed=1)
    assert assign_splits(cases, seed=1) != assign_splits(cases, seed=2)


def test_too_few_cases_is_a_config_error_naming_the_numbers() -> None:
    cases = _cases(3)
    with pytest.raises(ConfigError) as info:
        assign_splits(cases)
    message = str(info.value)
    assert "3 cases" in message
    splits_text = message.split("gave ")[1]
    assert splits_text.startswith("train ")
    assert "val " in message and "test " in message
    assert "val needs at least 2" in message and "test needs at least 2" in message


def test_too_few_in_val_names_the_split_sizes() -> None:
    names = ["train", "train", "val", "test", "test"]
    cases = [TestCase(vars={"q": str(i)}, split=name) for i, name in enumerate(names)]
    with pytest.raises(ConfigError, match=r"gave train 2, val 1, test 2"):
        assign_splits(cases)


@pytest.mark.parametrize("ratios", [(0.5, 0.5), (0.6, 0.3, 0.3), (1.2, -0.1, -0.1)])
def test_bad_ratios_are_config_errors(ratios: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="ratios"):
        assign_splits(_cases(50), ratios=ratios)


def test_an_unknown_split_name_is_a_config_error() -> None:
    cases = [*_cases(20), TestCase(vars={"q": "x"}, description="odd one", split="dev")]
    with pytest.raises(ConfigError, match=r"'dev'.*odd one"):
        assign_splits(cases)
