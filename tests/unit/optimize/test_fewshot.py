"""`fewshot`: random search over bootstrapped demo sets, scored on train, best first."""

from __future__ import annotations

import pytest
from tests.unit.optimize.test_demos import make_context

from promptyard.core.types import TestCase
from promptyard.errors import ConfigError
from promptyard.optimize import fewshot
from promptyard.optimize.base import BudgetExhausted
from promptyard.optimize.demos import Demo, strip_demos, with_demos

PROMPT = "Classify {{ q }}"


def _cases(n: int, gold: set[int]) -> list[TestCase]:
    return [TestCase(vars={"q": f"q{i}", "kind": "gold" if i in gold else "plain"})
            for i in range(n)]  # fmt: skip


def _gold_helps(prompt: str, case: TestCase) -> tuple[float, str]:
    """Every case passes without demos (0.5); each gold demo in the prompt adds 0.25."""
    return _score(prompt), f"a-{case.vars['q']}"


def _optimizer(**params: int) -> fewshot.FewShotOptimizer:
    opt = fewshot.info().build(params)
    assert isinstance(opt, fewshot.FewShotOptimizer)
    return opt


def _score(prompt: str) -> float:
    return min(1.0, 0.5 + 0.25 * prompt.count("kind: gold"))


async def test_the_only_helpful_demo_comes_first() -> None:
    ctx = make_context(PROMPT, _cases(3, gold={1}), _gold_helps)
    out = await _optimizer(max_demos=1, num_candidates=3).propose(ctx)
    assert len(out) == 3  # all three singletons are drawn
    assert "kind: gold" in out[0]
    assert all("kind: gold" not in p for p in out[1:])
    assert all(strip_demos(p) == PROMPT for p in out)


async def test_candidates_are_returned_best_first_by_their_train_score() -> None:
    ctx = make_context(PROMPT, _cases(10, gold={2, 7}), _gold_helps, seed=3)
    out = await _optimizer(max_demos=2, num_candidates=8).propose(ctx)
    assert len(out) == 8 and len(set(out)) == 8
    evaluated = {prompt: _score(prompt) for prompt, _ in ctx.calls}
    assert set(evaluated) == set(out)
    scores = [evaluated[p] for p in out]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == max(evaluated.values()) > min(evaluated.values())
    assert all(p.count("Answer:") == 2 for p in out)


async def test_the_same_seed_gives_the_same_candidates() -> None:
    async def run(seed: int) -> tuple[list[str], list[tuple[str, list[str]]]]:
        ctx = make_context(PROMPT, _cases(10, gold={2, 7}), _gold_helps, seed=seed)
        out = await _optimizer(max_demos=2, num_candidates=4, minibatch=5).propose(ctx)
        return out, ctx.calls

    assert await run(5) == await run(5)
    assert (await run(5))[1] != (await run(6))[1]


async def test_the_incumbents_demos_are_replaced_not_stacked() -> None:
    old = Demo("old", {"q": "old-question"}, "old-answer")
    ctx = make_context(with_demos(PROMPT, [old]), _cases(6, gold={0}), _gold_helps)
    out = await _optimizer(max_demos=2, num_candidates=3).propose(ctx)
    assert out
    for prompt in out:
        assert prompt.count("Examples:") == 1
        assert "old-question" not in prompt
        assert prompt.startswith(PROMPT + "\n\n")


async def test_each_candidate_is_scored_on_the_train_cases_minus_its_own_demos() -> None:
    ctx = make_context(PROMPT, _cases(10, gold={2}), _gold_helps)
    await _optimizer(max_demos=2, num_candidates=4).propose(ctx)
    assert len(ctx.calls) == 4
    for prompt, ids in ctx.calls:
        own = [cid for cid, case in zip(ctx.case_ids, ctx.cases, strict=True)
               if f"q: {case.vars['q']}\n" in prompt]  # fmt: skip
        assert len(own) == 2
        assert sorted(ids) == sorted(set(ctx.case_ids) - set(own))


async def test_a_minibatch_is_drawn_once_and_shared_by_the_candidates() -> None:
    ctx = make_context(PROMPT, _cases(12, gold={2}), _gold_helps, seed=1)
    await _optimizer(max_demos=2, num_candidates=5, minibatch=3).propose(ctx)
    assert len(ctx.calls) == 5
    assert all(len(ids) <= 3 for _, ids in ctx.calls)
    assert len({cid for _, ids in ctx.calls for cid in ids}) <= 3


async def test_no_usable_demos_means_no_candidates_and_no_spend() -> None:
    ctx = make_context(PROMPT, _cases(5, gold=set()), lambda p, c: (0.0, "wrong"))
    assert await _optimizer().propose(ctx) == []
    assert ctx.calls == []


async def test_a_budget_stop_keeps_the_candidates_already_scored() -> None:
    ctx = make_context(PROMPT, _cases(8, gold={1}), _gold_helps, budget=2)
    out = await _optimizer(max_demos=1, num_candidates=5).propose(ctx)
    assert len(out) == 2
    assert out == [p for p, _ in sorted(ctx.calls, key=lambda c: -_score(c[0]))]


async def test_a_budget_stop_before_any_score_propagates() -> None:
    ctx = make_context(PROMPT, _cases(8, gold={1}), _gold_helps, budget=0)
    with pytest.raises(BudgetExhausted):
        await _optimizer().propose(ctx)


def test_info_describes_a_proposer_free_optimizer() -> None:
    info = fewshot.info()
    assert info.name == "fewshot" and not info.needs_proposer
    assert [p.name for p in info.params] == ["max_demos", "num_candidates", "minibatch"]
    opt = _optimizer(max_demos=7, minibatch=2)
    assert (opt.max_demos, opt.num_candidates, opt.minibatch) == (7, 4, 2)


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"max_demos": 0}, "hyperparameters.max_demos", ">= 1"),
        ({"max_demos": 17}, "hyperparameters.max_demos", "<= 16"),
        ({"num_candidates": "4"}, "hyperparameters.num_candidates", "must be int"),
        ({"minibatch": True}, "hyperparameters.minibatch", "must be int"),
        ({"minibatch": -1}, "hyperparameters.minibatch", ">= 0"),
    ],
)
def test_bad_hyperparameters_name_the_parameter(
    params: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        fewshot.info().build(params)
    assert caught.value.field == field
    assert words in str(caught.value)
