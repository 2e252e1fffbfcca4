"""What the loop hands an optimizer: its ProposeContext, and the proposer model behind the
optimization's budget."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from promptyard.core.types import Completion, CompletionRequest, TestCase
from promptyard.engine.budget import Budget
from promptyard.errors import ConfigError
from promptyard.optimize.base import BudgetExhausted, ChatModel, Evaluation, Iteration


class BudgetedChat:
    """The proposer model behind the optimization's budget: each call reserves first (at 0:
    the proposer's price is not estimated ahead) and settles at what it cost."""

    def __init__(self, model: ChatModel, phase: Callable[[], Budget]) -> None:
        self.id = model.id
        self._model = model
        self._phase = phase
        self.spent_usd = 0.0

    async def complete(self, request: CompletionRequest) -> Completion:
        budget = self._phase()
        reservation = budget.try_reserve(0.0)
        if reservation is None:
            raise BudgetExhausted(f"budget exhausted: {budget.exhausted_reason}")
        cost: float | None = 0.0
        try:
            completion = await self._model.complete(request)
            cost = completion.cost
        finally:
            budget.settle(reservation, cost)
        self.spent_usd += cost or 0.0
        return completion


@dataclass(slots=True)
class Context:
    """The ProposeContext the loop hands an optimizer."""

    incumbent: str
    train: Evaluation
    history: Sequence[Iteration]
    cases: Sequence[TestCase]
    case_ids: Sequence[str]
    rng: random.Random
    chat: ChatModel | None
    _evaluate: Callable[[str, Sequence[int]], Awaitable[Evaluation]]
    _index: dict[str, int]

    async def evaluate(self, prompt: str, case_ids: Sequence[str] | None = None) -> Evaluation:
        if case_ids is None:
            return await self._evaluate(prompt, list(self._index.values()))
        missing = [c for c in case_ids if c not in self._index]
        if missing:
            raise ValueError(f"not train cases: {', '.join(missing[:5])}")
        return await self._evaluate(prompt, [self._index[c] for c in case_ids])

    def require_chat(self, optimizer: str) -> ChatModel:
        if self.chat is None:
            raise ConfigError(f"the {optimizer} optimizer needs a proposer model",
                              field="proposer_model")  # fmt: skip
        return self.chat
