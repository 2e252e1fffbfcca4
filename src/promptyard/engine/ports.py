"""What the engine needs from the layers below, as protocols (no concrete store or vendor)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from promptyard.core.types import GradingContext, GradingResult, TestCase, TrialResult


class RunStore(Protocol):
    """The writes and cache reads a run makes. Sync: the engine calls it from a thread."""

    def create_run(
        self,
        *,
        run_id: str,
        description: str,
        config: dict[str, Any],
        created_at: str,
        prompts: list[dict[str, Any]],
        providers: list[dict[str, Any]],
        project: str | None = None,
    ) -> None: ...

    def add_trials(self, trials: Sequence[TrialResult]) -> None: ...

    def finish_run(
        self, run_id: str, *, status: str, summary: dict[str, Any], finished_at: str
    ) -> None: ...

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    # For resuming a run that stopped part-way (only the trials not stored yet are run).
    def finished_indexes(self, run_id: str) -> set[int]: ...

    def iter_trials(self, run_id: str) -> Iterable[TrialResult]: ...

    def reopen_run(self, run_id: str) -> None: ...

    def cache_put_many(self, items: Mapping[str, dict[str, Any]]) -> None: ...


class Grader(Protocol):
    async def grade(self, ctx: GradingContext) -> GradingResult: ...

    async def compare(self, test: TestCase, trials: list[TrialResult]) -> None:
        """Grade assertions that compare a case's outputs (select-best), in place."""
        ...
