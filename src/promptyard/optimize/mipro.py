"""`mipro`: search instruction x demo set combinations with a TPE sampler (MIPROv2-style).

Instruction candidates are the incumbent's instruction and rewrites by the proposer model;
demo sets are drawn from bootstrapped demos (the empty set included). Each trial scores one
combination on a small train minibatch; the best few combinations by their mean minibatch
score are re-scored on the whole train split and returned best first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from promptyard.optimize import instruct
from promptyard.optimize.base import (
    BudgetExhausted,
    OptimizerInfo,
    Param,
    ProposeContext,
)
from promptyard.optimize.demos import (
    Demo,
    bootstrap_demos,
    draw_sets,
    scoring_ids,
    strip_demos,
    with_demos,
)

PARAMS = (
    Param("num_instructions", "int", 3, "instruction candidates, the current one included",
          minimum=1, maximum=10),
    Param("num_demo_sets", "int", 4, "demo sets besides the empty one", minimum=1, maximum=16),
    Param("max_demos", "int", 3, "demonstrations per demo set (0: instructions only)",
          minimum=0, maximum=16),
    Param("num_trials", "int", 12, "combinations scored on a minibatch", minimum=1,
          maximum=200),
    Param("minibatch_size", "int", 8, "train cases per trial", minimum=1, maximum=1000),
    Param("top_k", "int", 3, "best combinations re-scored on all train cases and returned",
          minimum=1, maximum=10),
)  # fmt: skip


def info() -> OptimizerInfo:
    return OptimizerInfo(
        name="mipro",
        description="Searches combinations of rewritten instructions and demo sets with a "
        "TPE sampler on train minibatches, then re-scores the best on all train cases "
        "(MIPROv2-style).",
        params=PARAMS,
        factory=MiproOptimizer,
        needs_proposer=True,
    )


@dataclass(slots=True)
class _Combo:
    prompt: str
    demos: tuple[Demo, ...]
    scores: list[float] = field(default_factory=list)  # one mean per minibatch trial

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores)


class MiproOptimizer:
    name = "mipro"

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        values = {p.name: p.default for p in PARAMS} | dict(params or {})
        self.num_instructions = int(values["num_instructions"])
        self.num_demo_sets = int(values["num_demo_sets"])
        self.max_demos = int(values["max_demos"])
        self.num_trials = int(values["num_trials"])
        self.minibatch_size = int(values["minibatch_size"])
        self.top_k = int(values["top_k"])

    async def propose(self, ctx: ProposeContext) -> list[str]:
        ctx.require_chat(self.name)  # fail on configuration before spending anything
        instructions = await self._instructions(ctx)
        demo_sets: list[tuple[Demo, ...]] = [()]
        demo_sets += draw_sets(bootstrap_demos(ctx), self.max_demos, self.num_demo_sets,
                               ctx.rng)  # fmt: skip
        if len(instructions) * len(demo_sets) == 1:  # nothing to search: let the loop judge
            only = with_demos(instructions[0], demo_sets[0])
            return [] if only == ctx.incumbent else [only]
        combos: dict[tuple[int, int], _Combo] = {}
        try:
            await self._search(ctx, instructions, demo_sets, combos)
        except BudgetExhausted:
            if not combos:
                raise
        return await self._rescore(ctx, combos)

    async def _instructions(self, ctx: ProposeContext) -> list[str]:
        base = strip_demos(ctx.incumbent)  # the proposer rewrites the instruction, not the demos
        out = [base]
        for attempt in range(self.num_instructions - 1):
            rewritten = await instruct.rewrite(ctx, attempt, current=base, optimizer="mipro")
            if rewritten is not None and strip_demos(rewritten) not in out:
                out.append(strip_demos(rewritten))
        return out

    async def _search(
        self,
        ctx: ProposeContext,
        instructions: list[str],
        demo_sets: list[tuple[Demo, ...]],
        combos: dict[tuple[int, int], _Combo],
    ) -> None:
        """TPE over (instruction, demo set); each trial's minibatch mean is recorded in
        `combos` as soon as it is known, so a budget stop keeps everything scored."""
        import optuna  # ~0.5 s to import: only when mipro runs

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=ctx.rng.randrange(2**32),
            # with a dozen trials, the default 10 random start-up trials leave TPE nothing
            n_startup_trials=max(1, min(10, self.num_trials // 3)),
        )
        study = optuna.create_study(direction="maximize", sampler=sampler)
        ids = list(ctx.case_ids)
        for _ in range(self.num_trials):
            trial = study.ask()
            i = trial.suggest_categorical("instruction", list(range(len(instructions))))
            d = trial.suggest_categorical("demos", list(range(len(demo_sets))))
            assert isinstance(i, int) and isinstance(d, int)
            combo = combos.get((i, d)) or _Combo(with_demos(instructions[i], demo_sets[d]),
                                                 demo_sets[d])  # fmt: skip
            pool = scoring_ids(ids, combo.demos)
            batch = ctx.rng.sample(pool, min(self.minibatch_size, len(pool)))
            try:
                score = (await ctx.evaluate(combo.prompt, batch)).mean_score
            except BudgetExhausted:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            if math.isnan(score):  # no case was scored: nothing learnt
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            study.tell(trial, score)
            combo.scores.append(score)
            combos[(i, d)] = combo

    async def _rescore(
        self, ctx: ProposeContext, combos: dict[tuple[int, int], _Combo]
    ) -> list[str]:
        """The best `top_k` combinations (not the incumbent itself) on all train cases, best
        first. A budget stop returns those re-scored, then the rest by minibatch score."""
        ranked = sorted((c for c in combos.values() if c.prompt != ctx.incumbent),
                        key=lambda c: c.mean, reverse=True)[: self.top_k]  # fmt: skip
        ids = list(ctx.case_ids)
        full: list[tuple[float, int, str]] = []
        for n, combo in enumerate(ranked):
            try:
                score = (await ctx.evaluate(combo.prompt, scoring_ids(ids, combo.demos))).mean_score
            except BudgetExhausted:
                break
            full.append((-math.inf if math.isnan(score) else score, -n, combo.prompt))
        best = [prompt for *_, prompt in sorted(full, reverse=True)]
        return best + [c.prompt for c in ranked[len(full) :]]
