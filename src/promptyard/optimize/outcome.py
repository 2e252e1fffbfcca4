"""What an optimization found: the winner, every iteration, the test report and the spend."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from promptyard.optimize.base import Iteration


@dataclass(slots=True)
class TestReport:
    """Seed and winner on the test split: means with intervals, and the paired difference."""

    seed: float = math.nan
    best: float = math.nan
    seed_interval: tuple[float, float] = (math.nan, math.nan)
    best_interval: tuple[float, float] = (math.nan, math.nan)
    diff_interval: tuple[float, float] = (math.nan, math.nan)
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "best": self.best, "seed_interval": list(self.seed_interval),
                "best_interval": list(self.best_interval),
                "diff": self.best - self.seed, "diff_interval": list(self.diff_interval),
                "n": self.n}  # fmt: skip


@dataclass(slots=True)
class Outcome:
    seed_prompt: str
    best_prompt: str
    iterations: list[Iteration] = field(default_factory=list)
    best_step: int = 0
    test: TestReport = field(default_factory=TestReport)
    best_val: float = math.nan
    spent_usd: float = 0.0
    calls: int = 0
    stopped: str = ""
    preflight: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    optimization_id: str = ""  # where its iterations are stored

    @property
    def seed_test(self) -> float:
        return self.test.seed

    @property
    def best_test(self) -> float:
        return self.test.best

    @property
    def diff(self) -> str:
        """The winner against the seed, as a unified diff ("" when the seed won)."""
        import difflib

        lines = difflib.unified_diff(self.seed_prompt.splitlines(keepends=True),
                                     self.best_prompt.splitlines(keepends=True),
                                     "seed", f"step {self.best_step}")  # fmt: skip
        return "".join(lines)

    @property
    def val_test_gap(self) -> float:
        """How much the winner's validation score overstates its test score."""
        return self.best_val - self.best_test

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimization_id": self.optimization_id,
            "seed_prompt": self.seed_prompt,
            "best_prompt": self.best_prompt,
            "best_step": self.best_step,
            "diff": self.diff,
            "seed_test": self.seed_test,
            "best_test": self.best_test,
            "best_val": self.best_val,
            "val_test_gap": self.val_test_gap,
            "test": self.test.to_dict(),
            "spent_usd": self.spent_usd,
            "calls": self.calls,
            "stopped": self.stopped,
            "preflight": self.preflight,
            "splits": self.splits,
            "iterations": [iteration_dict(i) for i in self.iterations],
        }


def iteration_dict(i: Iteration) -> dict[str, Any]:
    return {"step": i.step, "prompt": i.prompt, "parent": i.parent,
            "train_score": i.train_score, "val_score": i.val_score, "test_score": i.test_score,
            "accepted": i.accepted, "cost_usd": i.cost_usd,
            "decision": None if i.decision is None else i.decision.to_dict()}  # fmt: skip
