"""`fewshot`: random search over sets of demonstrations bootstrapped from the train cases
(BootstrapFewShotWithRandomSearch-style). No proposer model: the instruction stays as is."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from promptyard.optimize.base import BudgetExhausted, OptimizerInfo, Param, ProposeContext
from promptyard.optimize.demos import (
    bootstrap_demos,
    draw_sets,
    scoring_ids,
    strip_demos,
    with_demos,
)

PARAMS = (
    Param("max_demos", "int", 4, "demonstrations per candidate", minimum=1, maximum=16),
    Param("num_candidates", "int", 4, "demo sets drawn and scored per cycle", minimum=1,
          maximum=32),
    Param("minibatch", "int", 0, "train cases to score each candidate on (0: all)", minimum=0),
)  # fmt: skip


def info() -> OptimizerInfo:
    return OptimizerInfo(
        name="fewshot",
        description="Adds worked examples from train cases the prompt already gets right (or "
        "labelled with `expected`), keeping the random demo sets that score best on train.",
        params=PARAMS,
        factory=FewShotOptimizer,
        needs_proposer=False,
    )


class FewShotOptimizer:
    name = "fewshot"

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        values = {p.name: p.default for p in PARAMS} | dict(params or {})
        self.max_demos = int(values["max_demos"])
        self.num_candidates = int(values["num_candidates"])
        self.minibatch = int(values["minibatch"])

    async def propose(self, ctx: ProposeContext) -> list[str]:
        demos = bootstrap_demos(ctx)
        base = strip_demos(ctx.incumbent)  # replace the incumbent's demos, never stack them
        ids = list(ctx.case_ids)
        if self.minibatch and self.minibatch < len(ids):
            ids = ctx.rng.sample(ids, self.minibatch)  # one batch for all: a fair comparison
        scored: list[tuple[float, int, str]] = []
        seen = {ctx.incumbent}
        for demo_set in draw_sets(demos, self.max_demos, self.num_candidates, ctx.rng):
            prompt = with_demos(base, demo_set)
            if prompt in seen:
                continue
            seen.add(prompt)
            try:
                result = await ctx.evaluate(prompt, scoring_ids(ids, demo_set))
            except BudgetExhausted:
                if not scored:
                    raise
                break  # keep what was scored: the loop stops on the budget anyway
            score = result.mean_score
            scored.append((-math.inf if math.isnan(score) else score, -len(scored), prompt))
        return [prompt for *_, prompt in sorted(scored, reverse=True)]
