"""The optimization loop: propose from train, accept on validation, report on test.

An optimizer (a `Proposer`) only proposes candidate prompt texts from what it has seen; how a
prompt is evaluated on a set of cases (engine, cache, budget, store) is the caller's
`Evaluate` function. The loop keeps the data discipline: proposals see train results only, a
candidate replaces the incumbent only when `acceptance.decide` says the gain on validation is
beyond noise, and the seed and the winner are scored once on the untouched test split.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptyard.core.types import TestCase
from promptyard.optimize.acceptance import Decision, Metric, decide
from promptyard.optimize.splits import Splits, assign_splits


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case's samples for one prompt: scores 0..1, pass verdicts, and a failure reason."""

    case_id: str
    scores: tuple[float, ...]
    passed: tuple[bool, ...]
    reason: str = ""  # why it failed (for proposers), "" when every sample passed


@dataclass(slots=True)
class Evaluation:
    """A prompt on a set of cases: per-case results and what the calls cost."""

    cases: list[CaseResult]
    cost_usd: float = 0.0

    @property
    def mean_score(self) -> float:
        values = [s for c in self.cases for s in c.scores]
        return sum(values) / len(values) if values else math.nan

    def samples(self, metric: str) -> dict[str, list[float]]:
        if metric == "pass":
            return {c.case_id: [1.0 if p else 0.0 for p in c.passed] for c in self.cases}
        return {c.case_id: list(c.scores) for c in self.cases}


# (prompt text, case indexes) -> the evaluation; the caller runs the engine.
Evaluate = Callable[[str, Sequence[int]], Awaitable[Evaluation]]


@dataclass(frozen=True, slots=True)
class Iteration:
    """One candidate: where it came from, its scores, and the decision about it."""

    step: int
    prompt: str
    parent: int | None  # the iteration it was proposed from (0: the seed)
    train_score: float
    val_score: float
    decision: Decision | None  # None for the seed
    accepted: bool


class Proposer(Protocol):
    """An optimizer: new prompt texts from the incumbent and its train results. `spent_usd`
    is what its own model calls cost so far (counted in the run's spend)."""

    name: str
    spent_usd: float

    async def propose(
        self, incumbent: str, train: Evaluation, history: Sequence[Iteration]
    ) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Settings:
    max_cycles: int = 5
    candidates_per_cycle: int = 1
    patience: int = 2  # cycles without an accepted candidate before stopping
    target_score: float | None = None  # stop once the incumbent's validation score reaches it
    metric: Metric = "score"  # "score" (paired bootstrap) or "pass" (McNemar)
    alpha: float = 0.05
    min_improvement: float = 0.0
    max_cost_usd: float | None = None  # checked between evaluations; the engine's budget
    seed: int = 0  # checks each call
    ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)


@dataclass(slots=True)
class Outcome:
    seed_prompt: str
    best_prompt: str
    iterations: list[Iteration] = field(default_factory=list)
    seed_test: float = math.nan
    best_test: float = math.nan
    best_val: float = math.nan
    spent_usd: float = 0.0
    stopped: str = ""

    @property
    def val_test_gap(self) -> float:
        """How much the winner's validation score overstates its test score."""
        return self.best_val - self.best_test

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed_prompt": self.seed_prompt,
            "best_prompt": self.best_prompt,
            "seed_test": self.seed_test,
            "best_test": self.best_test,
            "best_val": self.best_val,
            "val_test_gap": self.val_test_gap,
            "spent_usd": self.spent_usd,
            "stopped": self.stopped,
            "iterations": [
                {"step": i.step, "prompt": i.prompt, "parent": i.parent,
                 "train_score": i.train_score, "val_score": i.val_score,
                 "accepted": i.accepted,
                 "decision": None if i.decision is None else i.decision.to_dict()}
                for i in self.iterations
            ],
        }  # fmt: skip


Notify = Callable[[str, dict[str, Any]], Awaitable[None]]


async def _quiet(_: str, __: dict[str, Any]) -> None:
    return None


async def optimize(
    seed_prompt: str,
    cases: Sequence[TestCase],
    proposer: Proposer,
    evaluate: Evaluate,
    settings: Settings | None = None,
    *,
    notify: Notify = _quiet,
) -> Outcome:
    """Improve `seed_prompt` on `cases`. `notify(type, payload)` reports each step
    ("step", "proposal") as it happens, for a job's event stream."""
    cfg = settings or Settings()
    splits: Splits = assign_splits(cases, ratios=cfg.ratios, seed=cfg.seed)
    out = Outcome(seed_prompt, seed_prompt)

    evaluated = 0.0

    async def run(prompt: str, which: Sequence[int]) -> Evaluation:
        nonlocal evaluated
        result = await evaluate(prompt, which)
        evaluated += result.cost_usd
        out.spent_usd = evaluated + proposer.spent_usd
        return result

    incumbent = seed_prompt
    train = await run(incumbent, splits.train)
    val = await run(incumbent, splits.val)
    seed_iter = Iteration(0, incumbent, None, train.mean_score, val.mean_score, None, True)
    out.iterations.append(seed_iter)
    out.best_val = val.mean_score
    current = 0
    await notify("step", {"step": 0, "phase": "seed", "train": train.mean_score,
                          "val": val.mean_score, "spent_usd": out.spent_usd})  # fmt: skip
    idle = 0
    for cycle in range(1, cfg.max_cycles + 1):
        if cfg.target_score is not None and out.best_val >= cfg.target_score:
            out.stopped = f"target score {cfg.target_score:g} reached"
            break
        if idle >= cfg.patience:
            out.stopped = f"no accepted candidate in {cfg.patience} cycles"
            break
        if cfg.max_cost_usd is not None and out.spent_usd >= cfg.max_cost_usd:
            out.stopped = f"budget of ${cfg.max_cost_usd:g} spent"
            break
        proposals = await proposer.propose(incumbent, train, out.iterations)
        out.spent_usd = evaluated + proposer.spent_usd
        accepted_any = False
        for prompt in proposals[: cfg.candidates_per_cycle]:
            cand_train = await run(prompt, splits.train)
            cand_val = await run(prompt, splits.val)
            decision = decide(
                val.samples(cfg.metric), cand_val.samples(cfg.metric), metric=cfg.metric,
                alpha=cfg.alpha, min_improvement=cfg.min_improvement, seed=cfg.seed,
            )  # fmt: skip
            step = len(out.iterations)
            it = Iteration(step, prompt, current, cand_train.mean_score, cand_val.mean_score,
                           decision, decision.accepted)  # fmt: skip
            out.iterations.append(it)
            await notify("proposal", {"step": step, "parent": current, "prompt": prompt,
                                      "train": it.train_score, "val": it.val_score,
                                      "decision": decision.to_dict(),
                                      "spent_usd": out.spent_usd})  # fmt: skip
            if decision.accepted:
                incumbent, train, val, current = prompt, cand_train, cand_val, step
                out.best_prompt, out.best_val = prompt, cand_val.mean_score
                accepted_any = True
        idle = 0 if accepted_any else idle + 1
        await notify("step", {"step": cycle, "phase": "cycle", "accepted": accepted_any,
                              "best_val": out.best_val, "spent_usd": out.spent_usd})
    else:
        out.stopped = f"{cfg.max_cycles} cycles done"
    out.seed_test = (await run(seed_prompt, splits.test)).mean_score
    out.best_test = (
        out.seed_test if out.best_prompt == seed_prompt
        else (await run(out.best_prompt, splits.test)).mean_score
    )  # fmt: skip
    await notify("step", {"phase": "test", "seed_test": out.seed_test,
                          "best_test": out.best_test, "spent_usd": out.spent_usd})  # fmt: skip
    return out
