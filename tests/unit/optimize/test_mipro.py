"""`mipro`: TPE over instruction x demo set on train minibatches, the best re-scored on train."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from tests.unit.optimize.test_demos import FakeContext, ScriptedChat, make_context

from promptyard.core.types import CompletionRequest, TestCase
from promptyard.errors import ConfigError
from promptyard.optimize import mipro
from promptyard.optimize.base import BudgetExhausted
from promptyard.optimize.demos import Demo, strip_demos, with_demos

PROMPT = "Classify {{ q }}"
SIGNAL = "Think step by step."
GOLD = {0, 5, 9}


def _cases(n: int = 12) -> list[TestCase]:
    """Labelled cases (the seed passes none, so every demo comes from a label)."""
    return [TestCase(vars={"q": f"q{i}", "kind": "gold" if i in GOLD else "plain"},
                     metadata={"expected": f"label-{i}"}) for i in range(n)]  # fmt: skip


def _score(prompt: str) -> float:
    """Half for the right instruction, half for a gold demo: only the pair scores 1."""
    return 0.5 * (SIGNAL in prompt) + 0.5 * ("kind: gold" in prompt)


def _task(prompt: str, case: TestCase) -> tuple[float, str]:
    return _score(prompt), "out"


def _optimizer(**params: int) -> mipro.MiproOptimizer:
    opt = mipro.info().build(params)
    assert isinstance(opt, mipro.MiproOptimizer)
    return opt


def _context(prompt: str = PROMPT, *, replies: tuple[str, ...] = (), **kw: Any) -> FakeContext:
    chat = ScriptedChat(replies or ("{current}\nBe brief.", "{current}\n" + SIGNAL))
    return make_context(prompt, _cases(), _task, chat=chat, **kw)


def _requests(ctx: FakeContext) -> list[CompletionRequest]:
    assert isinstance(ctx.chat, ScriptedChat)
    return ctx.chat.requests


SEARCH = {"num_instructions": 3, "num_demo_sets": 4, "max_demos": 2, "num_trials": 30,
          "minibatch_size": 4, "top_k": 3}  # fmt: skip


async def test_the_signal_combination_is_found_and_returned_first() -> None:
    ctx = _context(seed=2)
    out = await _optimizer(**SEARCH).propose(ctx)
    assert SIGNAL in out[0] and "kind: gold" in out[0]
    assert _score(out[0]) == 1.0
    assert len(out) == 3 and len(set(out)) == 3
    scores = [_score(p) for p in out]
    assert scores == sorted(scores, reverse=True) and scores[-1] < 1.0
    assert len(_requests(ctx)) == 2


async def test_trials_respect_the_minibatch_and_the_best_are_rescored_on_all_train() -> None:
    ctx = _context(seed=2)
    out = await _optimizer(**SEARCH).propose(ctx)
    trials, rescored = ctx.calls[:30], ctx.calls[30:]
    assert all(len(ids) == 4 for _, ids in trials)
    assert len({tuple(ids) for _, ids in trials}) > 1  # a fresh minibatch per trial
    assert [p for p, _ in rescored] and sorted(p for p, _ in rescored) == sorted(out)
    for prompt, ids in rescored:
        demos = prompt.count("Answer:")
        assert len(ids) == len(ctx.case_ids) - demos  # all train but the demos' own cases


async def test_the_same_seed_gives_the_same_search() -> None:
    first, second = _context(seed=7), _context(seed=7)
    assert await _optimizer(**SEARCH).propose(first) == await _optimizer(**SEARCH).propose(second)
    assert first.calls == second.calls
    other = _context(seed=8)
    await _optimizer(**SEARCH).propose(other)
    assert other.calls != first.calls


async def test_the_proposer_rewrites_the_instruction_without_the_demos() -> None:
    seeded = with_demos(PROMPT, [Demo("x", {"q": "old-question"}, "old")])
    ctx = _context(seeded, seed=1)
    out = await _optimizer(**SEARCH).propose(ctx)
    assert len(_requests(ctx)) == 2
    for request in _requests(ctx):
        assert "<current>\nClassify {{ q }}\n</current>" in request.messages[-1]["content"]
    assert all("old-question" not in p for p, _ in ctx.calls)
    assert all(p.count("Examples:") <= 1 for p in out)


async def test_unusable_and_duplicate_rewrites_are_dropped() -> None:
    # the 1st reply repeats the instruction, the 2nd drops {{ q }}, the 3rd is new
    replies = ("{current}", "Classify it.", "{current}\n" + SIGNAL)
    ctx = _context(replies=replies, seed=3)
    await _optimizer(**{**SEARCH, "num_instructions": 4}).propose(ctx)
    assert len(_requests(ctx)) == 3
    instructions = {strip_demos(p) for p, _ in ctx.calls}
    assert instructions == {PROMPT, PROMPT + "\n" + SIGNAL}


async def test_a_budget_stop_returns_the_best_found_so_far() -> None:
    ctx = _context(seed=2, budget=6)
    out = await _optimizer(**SEARCH).propose(ctx)
    assert len(ctx.calls) == 6
    assert out and set(out) <= {p for p, _ in ctx.calls} - {PROMPT}
    means: dict[str, list[float]] = {}
    for prompt, _ in ctx.calls:
        means.setdefault(prompt, []).append(_score(prompt))
    best = max(means[p][0] for p in out)
    assert _score(out[0]) == best


async def test_a_budget_stop_before_any_trial_propagates() -> None:
    ctx = _context(budget=0)
    with pytest.raises(BudgetExhausted):
        await _optimizer(**SEARCH).propose(ctx)


async def test_without_a_proposer_mipro_is_a_config_error_before_any_spend() -> None:
    ctx = make_context(PROMPT, _cases(), _task)
    with pytest.raises(ConfigError) as caught:
        await _optimizer().propose(ctx)
    assert caught.value.field == "proposer_model"
    assert "mipro" in str(caught.value)
    assert ctx.calls == []


async def test_a_space_of_one_combination_is_not_searched() -> None:
    ctx = _context()
    assert await _optimizer(num_instructions=1, max_demos=0).propose(ctx) == []
    seeded = with_demos(PROMPT, [Demo("x", {"q": "old-question"}, "old")])
    ctx = _context(seeded)
    assert await _optimizer(num_instructions=1, max_demos=0).propose(ctx) == [PROMPT]
    assert ctx.calls == []


async def test_optuna_logging_is_silenced() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO)
    await _optimizer(**{**SEARCH, "num_trials": 2}).propose(_context())
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING


def test_importing_mipro_does_not_import_optuna() -> None:
    code = "import sys, promptyard.optimize.mipro; print('optuna' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == "False"


def test_info_lists_the_hyperparameters() -> None:
    info = mipro.info()
    assert info.name == "mipro" and info.needs_proposer
    assert {p.name: p.default for p in info.params} == {
        "num_instructions": 3, "num_demo_sets": 4, "max_demos": 3, "num_trials": 12,
        "minibatch_size": 8, "top_k": 3,
    }  # fmt: skip
    opt = _optimizer(num_trials=50, top_k=1)
    assert (opt.num_trials, opt.top_k, opt.minibatch_size) == (50, 1, 8)


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"num_trials": 0}, "hyperparameters.num_trials", ">= 1"),
        ({"num_instructions": 11}, "hyperparameters.num_instructions", "<= 10"),
        ({"top_k": 2.5}, "hyperparameters.top_k", "must be int"),
        ({"minibatch_size": None}, "hyperparameters.minibatch_size", "must be int"),
        ({"max_demos": -1}, "hyperparameters.max_demos", ">= 0"),
        ({"trials": 3}, "hyperparameters", "num_trials"),
    ],
)
def test_bad_hyperparameters_name_the_parameter(
    params: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        mipro.info().build(params)
    assert caught.value.field == field
    assert words in str(caught.value)
