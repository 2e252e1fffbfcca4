"""The loop's own rules on a synthetic task (the engine is replaced by `evaluate`, the
injection point the library fills; end-to-end runs over HTTP are in tests/integration).

The synthetic task: a case passes when the prompt holds the word "good", except for a few
hard cases; every call costs $0.01 and reserves from the budget the loop passes in, as the
engine's BudgetedPolicy does."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import pytest

from promptyard.core.plan import case_id
from promptyard.core.types import TestCase
from promptyard.engine.budget import Budget
from promptyard.errors import ConfigError
from promptyard.optimize.base import BudgetExhausted, CaseResult, Evaluation, ProposeContext
from promptyard.optimize.loop import Settings, optimize

CALL_USD = 0.01


def cases(n: int = 40) -> list[TestCase]:
    return [TestCase(vars={"q": f"question {i}"}) for i in range(n)]


class Task:
    """Counts calls; `flip` makes some cases answer at random per sample (flaky)."""

    def __init__(self, flip: frozenset[int] = frozenset(), cost: float = CALL_USD) -> None:
        self.calls = 0
        self.flip = flip
        self.cost = cost
        self.prompts: list[str] = []

    async def __call__(
        self, prompt: str, which: Sequence[int], *, repeat: int = 1, budget: Budget | None = None
    ) -> Evaluation:
        self.prompts.append(prompt)
        out: list[CaseResult] = []
        spent = 0.0
        for i in which:
            scores: list[float] = []
            for sample in range(repeat):
                if budget is not None:
                    held = budget.try_reserve(self.cost)
                    if held is None:
                        raise BudgetExhausted(f"budget: {budget.exhausted_reason}")
                    budget.settle(held, self.cost)
                self.calls += 1
                spent += self.cost
                if i in self.flip:
                    ok = random.Random(f"{prompt}:{i}:{sample}").random() < 0.5
                else:
                    ok = "good" in prompt and i % 10 != 0
                scores.append(1.0 if ok else 0.0)
            out.append(CaseResult(case_id(CASES[i]), tuple(scores),
                                  tuple(s == 1.0 for s in scores),
                                  "" if all(scores) else "wrong"))  # fmt: skip
        return Evaluation(out, spent)


CASES = cases()


class Scripted:
    """Proposes the given prompts in order, one per cycle."""

    name = "scripted"

    def __init__(self, *prompts: str) -> None:
        self.queue = list(prompts)
        self.seen: list[ProposeContext] = []

    async def propose(self, ctx: ProposeContext) -> list[str]:
        self.seen.append(ctx)
        return [self.queue.pop(0)] if self.queue else []


def run(task: Task, opt: Scripted, **settings: Any) -> Any:
    return asyncio.run(optimize("Answer {{q}}", CASES, opt, task, Settings(**settings)))


def test_a_real_gain_is_accepted_and_reported_on_test() -> None:
    task = Task()
    out = run(task, Scripted("A good answer to {{q}}"), max_cycles=1)
    assert out.best_prompt == "A good answer to {{q}}" and out.best_step == 1
    assert out.iterations[1].accepted and out.iterations[1].parent == 0
    assert out.test.seed == 0.0 and out.test.best > 0.7
    assert out.test.diff_interval[0] > 0  # the paired gain's interval excludes 0
    assert out.iterations[0].test_score == 0.0 and out.iterations[1].test_score == out.test.best
    assert out.stopped == "1 cycles done"
    assert "-Answer {{q}}" in out.diff and "+A good answer to {{q}}" in out.diff
    assert out.to_dict()["diff"] == out.diff


def test_the_optimizer_sees_train_only() -> None:
    opt = Scripted("A good answer to {{q}}")
    run(Task(), opt, max_cycles=1)
    ctx = opt.seen[0]
    train_ids = set(ctx.case_ids)
    assert {c.case_id for c in ctx.train.cases} == train_ids
    assert len(train_ids) == len(ctx.cases) and 0 < len(train_ids) < len(CASES)
    with pytest.raises(ValueError, match="not train cases"):
        asyncio.run(ctx.evaluate("x", ["not-a-train-id"]))


def test_the_budget_is_never_overspent_and_the_test_report_is_paid_for() -> None:
    task = Task()
    # 24 train, 8 val, 8 test cases: the seed (32 calls, $0.32) fits the search's $0.39
    # (the cap minus $0.16 for the test report), a candidate does not.
    out = asyncio.run(optimize(
        "Answer {{q}}", CASES, Scripted("A good answer to {{q}}", "good {{q}}"), task,
        Settings(max_cost_usd=0.55, max_cycles=3),
        estimate=lambda prompt, calls: calls * CALL_USD,
    ))  # fmt: skip
    assert task.calls * CALL_USD <= 0.55 + 1e-9
    assert out.spent_usd == pytest.approx(task.calls * CALL_USD)
    assert "budget" in out.stopped
    assert out.test.n > 0  # the reserve paid for the test scoring
    assert out.preflight["calls_per_candidate"] == 32
    assert out.preflight["candidates_affordable"] == 0  # (0.55 - 0.16) / 0.32 -> 1, minus the seed


def test_max_calls_counts_every_call() -> None:
    task = Task()
    out = run(task, Scripted("A good answer to {{q}}", "good {{q}}"), max_calls=50)
    assert task.calls <= 50 and "max_calls" in out.stopped


def test_cancel_keeps_the_best_and_pays_for_nothing_more() -> None:
    task = Task()
    cancel = asyncio.Event()

    class CancelAfterFirst(Scripted):
        async def propose(self, ctx: ProposeContext) -> list[str]:
            if len(self.seen) == 1:
                cancel.set()  # the user cancels during the second cycle
            return await super().propose(ctx)

    opt = CancelAfterFirst("A good answer to {{q}}", "A good, short answer to {{q}}")
    out = asyncio.run(optimize("Answer {{q}}", CASES, opt, task, Settings(max_cycles=5),
                               cancel=cancel))  # fmt: skip
    assert out.stopped == "cancelled"
    assert out.best_prompt == "A good answer to {{q}}"
    assert "A good, short answer to {{q}}" not in task.prompts  # never evaluated
    assert out.test.n == 0  # no test scoring after a cancel


def test_flaky_cases_are_measured_and_left_out() -> None:
    flip = frozenset(range(0, 40, 3))
    task = Task(flip=flip)
    out = run(task, Scripted("A good answer to {{q}}"), max_cycles=1, stability_samples=4,
              flakiness_threshold=0.2)  # fmt: skip
    decision = out.iterations[1].decision
    assert decision.excluded > 0
    kept = run(Task(flip=flip), Scripted("A good answer to {{q}}"), max_cycles=1,
               stability_samples=4, exclude_flaky=False)  # fmt: skip
    assert kept.iterations[1].decision.excluded == 0


def test_patience_and_no_proposals_stop() -> None:
    out = run(Task(), Scripted("Answer well: {{q}}", "Answer now: {{q}}"), max_cycles=5,
              patience=2)  # fmt: skip
    assert out.stopped == "no accepted candidate in 2 cycles" and out.best_step == 0
    assert run(Task(), Scripted(), max_cycles=3).stopped == "scripted has nothing more to propose"


def test_same_seed_same_outcome() -> None:
    a = run(Task(), Scripted("A good answer to {{q}}"), max_cycles=1, seed=7).to_dict()
    b = run(Task(), Scripted("A good answer to {{q}}"), max_cycles=1, seed=7).to_dict()
    assert a == b


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match="stability_samples"):
        Settings(stability_samples=0)
    with pytest.raises(ConfigError, match="alpha"):
        Settings(alpha=1.5)
