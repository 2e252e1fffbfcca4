"""What an optimizer sees and what it must provide (the contract in docs/optimize.md).

An optimizer only proposes candidate prompt texts. It gets a `ProposeContext`: the incumbent,
its results on the train split, the history of candidates, the train cases, a seeded random
generator, the proposer model, and an `evaluate` that runs a prompt on train cases (through
the engine: cache, budget and store apply). It never sees validation or test results.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from promptyard.core.types import Completion, CompletionRequest, TestCase
from promptyard.errors import ConfigError, PromptyardError


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case's samples for one prompt: scores 0..1, pass verdicts, why it failed, and the
    first sample's output (for demonstrations and reflection)."""

    case_id: str
    scores: tuple[float, ...]
    passed: tuple[bool, ...]
    reason: str = ""  # why it failed (for proposers), "" when every sample passed
    output: str = ""

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else math.nan


@dataclass(slots=True)
class Evaluation:
    """A prompt on a set of cases: per-case results and what the calls cost."""

    cases: list[CaseResult]
    cost_usd: float = 0.0
    run_id: str = ""

    @property
    def mean_score(self) -> float:
        values = [s for c in self.cases for s in c.scores]
        return sum(values) / len(values) if values else math.nan

    def samples(self, metric: str) -> dict[str, list[float]]:
        if metric == "pass":
            return {c.case_id: [1.0 if p else 0.0 for p in c.passed] for c in self.cases}
        return {c.case_id: list(c.scores) for c in self.cases}

    def by_id(self) -> dict[str, CaseResult]:
        return {c.case_id: c for c in self.cases}


@dataclass(frozen=True, slots=True)
class Iteration:
    """One candidate: where it came from, its scores, and the decision about it."""

    step: int
    prompt: str
    parent: int | None  # the iteration it was proposed from (None: the seed)
    train_score: float
    val_score: float
    decision: Any  # acceptance.Decision, or None for the seed
    accepted: bool
    cost_usd: float = 0.0  # what proposing and evaluating this candidate cost
    test_score: float | None = None  # only the seed and the winner are scored on test


class ChatModel(Protocol):
    """The proposer model (any provider). Its calls count in the optimization's spend."""

    id: str

    async def complete(self, request: CompletionRequest) -> Completion: ...


class BudgetExhausted(PromptyardError):
    """The optimization's budget refused a call: stop proposing, keep the best so far."""


class ProposeContext(Protocol):
    """What an optimizer may see and use when it proposes."""

    incumbent: str
    train: Evaluation  # the incumbent on every train case
    history: Sequence[Iteration]
    cases: Sequence[TestCase]  # the train cases (vars, assert, metadata): never val or test
    case_ids: Sequence[str]  # their ids, in the same order (core.plan.case_id; CaseResult ids)
    rng: random.Random  # seeded from the run's seed and the cycle: same seed, same proposals
    chat: ChatModel | None  # the proposer model; None when the run names none

    async def evaluate(self, prompt: str, case_ids: Sequence[str] | None = None) -> Evaluation:
        """Run `prompt` on train cases (all, or these ids). Cached, budgeted and stored like
        any evaluation; raises BudgetExhausted when the budget refuses a call."""
        ...

    def require_chat(self, optimizer: str) -> ChatModel:
        """The proposer model, or a ConfigError naming `proposer_model` when there is none."""
        ...


class Optimizer(Protocol):
    """An optimizer: candidate prompt texts, best first. Returning none ends the search."""

    name: str

    async def propose(self, ctx: ProposeContext) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Param:
    """One hyperparameter of an optimizer, as the catalog lists it (a UI builds its form
    from these)."""

    name: str
    type: str  # "int" | "float" | "str" | "bool"
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default,
                               "description": self.description}  # fmt: skip
        if self.minimum is not None or self.maximum is not None:
            out["range"] = [self.minimum, self.maximum]
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out

    def coerce(self, value: Any, where: str) -> Any:
        """The value as this parameter's type, in range, else a ConfigError naming `where`."""
        kinds: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float),
                                              "str": (str,), "bool": (bool,)}  # fmt: skip
        wrong_bool = isinstance(value, bool) and self.type != "bool"
        if wrong_bool or not isinstance(value, kinds[self.type]):
            raise ConfigError(f"must be {self.type}, got {value!r}", field=where)
        if self.type == "float":
            value = float(value)  # type: ignore[arg-type]  # an int or float, checked above
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"must be >= {self.minimum:g}, got {value!r}", field=where)
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"must be <= {self.maximum:g}, got {value!r}", field=where)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"must be one of {', '.join(self.choices)}, got {value!r}",
                              field=where)  # fmt: skip
        return value


@dataclass(frozen=True, slots=True)
class OptimizerInfo:
    """A registered optimizer: its name, what it does, its parameters, and how to build it
    from (coerced) hyperparameters."""

    name: str
    description: str
    params: tuple[Param, ...]
    factory: Callable[[Mapping[str, Any]], Optimizer]
    needs_proposer: bool = True  # False: works without a proposer model (fewshot)

    def build(self, hyperparameters: Mapping[str, Any] | None) -> Optimizer:
        given = dict(hyperparameters or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown hyperparameter(s) for {self.name}: {', '.join(unknown)}; known: "
                f"{', '.join(known) or 'none'}",
                field="hyperparameters",
            )
        values = {name: p.default for name, p in known.items()}
        for name, value in given.items():
            values[name] = known[name].coerce(value, f"hyperparameters.{name}")
        return self.factory(values)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "needs_proposer": self.needs_proposer,
                "params": [p.to_dict() for p in self.params]}  # fmt: skip


Evaluate = Callable[..., Awaitable[Evaluation]]
"""(prompt, case indexes, *, repeat=1, budget=None) -> Evaluation; the caller runs the engine
under that budget and raises BudgetExhausted when it refuses a call."""
