"""Chained trials (promptfoo's storeOutputAs and `_conversation`): a test reads what the
tests before it answered, so each (prompt, provider, sample) runs its trials in config order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from promptyard.core.plan import PlannedTrial, plan_trials
from promptyard.core.types import EvalSpec, TestCase, TrialResult
from promptyard.engine.trials import _Work

_CONVERSATION = "_conversation"


def _conversation_id(test: TestCase) -> str | None:
    """promptfoo's `metadata.conversationId` (None: the prompt x provider's own thread)."""
    value = test.metadata.get("conversationId") if test.metadata else None
    return None if value is None else str(value)


class ChainsMixin:
    """EvalRunner's chained path; unchained runs never enter it."""

    spec: EvalSpec
    cancel: asyncio.Event
    _converses: bool
    _resumed: dict[int, TrialResult]
    _waiting: dict[int, asyncio.Future[TrialResult]]

    if TYPE_CHECKING:  # defined by RenderingMixin and EvalRunner

        async def _render_all(self, planned: list[PlannedTrial]) -> list[_Work]: ...

        async def _dispatch(
            self,
            chunk: list[_Work],
            work: asyncio.Queue[_Work | None],
            spawn: Callable[[int], None],
            queued: int,
        ) -> None: ...

    async def _run_chains(
        self, work: asyncio.Queue[_Work | None], spawn: Callable[[int], None]
    ) -> None:
        """storeOutputAs / `_conversation`: each (prompt, provider, sample) is a chain whose
        trials run in config order, each rendered once the one before it has finished; the
        chains run side by side (bounded by the workers)."""
        chains: dict[tuple[int, int, int], list[PlannedTrial]] = {}
        for planned in plan_trials(self.spec):
            key = (id(planned.prompt), planned.provider_index, planned.sample)
            chains.setdefault(key, []).append(planned)
        spawn(len(chains))
        await asyncio.gather(*(self._run_chain(chain, work) for chain in chains.values()))

    async def _run_chain(
        self, chain: list[PlannedTrial], work: asyncio.Queue[_Work | None]
    ) -> None:
        loop = asyncio.get_running_loop()
        stored: dict[str, Any] = {}  # storeOutputAs name -> output
        turns: dict[str | None, list[dict[str, Any]]] = {}  # conversationId -> turns
        for planned in chain:
            if self.cancel.is_set():
                return
            planned = self._bound(planned, stored, turns)
            finished = self._resumed.get(planned.index)
            if finished is not None:  # stored by the run being resumed
                self._remember(planned, None, finished, stored, turns)
                continue
            (w,) = await self._render_all([planned])
            waiter: asyncio.Future[TrialResult] = loop.create_future()
            self._waiting[planned.index] = waiter
            await self._dispatch([w], work, lambda n: None, 0)
            trial = await waiter
            self._remember(planned, w, trial, stored, turns)

    def _bound(
        self,
        planned: PlannedTrial,
        stored: dict[str, Any],
        turns: dict[str | None, list[dict[str, Any]]],
    ) -> PlannedTrial:
        """`planned` with the outputs stored so far and its conversation among its vars (its
        own vars win, as a test that sets `_conversation` itself keeps it)."""
        test = planned.test
        extra: dict[str, Any] = dict(stored)
        if self._converses and not test.options.get("disableConversationVar"):
            extra[_CONVERSATION] = list(turns.get(_conversation_id(test), ()))
        if not extra:
            return planned
        return replace(planned, test=replace(test, vars={**extra, **test.vars}))

    def _remember(
        self,
        planned: PlannedTrial,
        w: _Work | None,
        trial: TrialResult,
        stored: dict[str, Any],
        turns: dict[str | None, list[dict[str, Any]]],
    ) -> None:
        if trial.error is not None:
            return  # nothing answered: later tests see what was there before
        name = planned.test.options.get("storeOutputAs")
        if name:
            stored[str(name)] = trial.output
        if self._converses and not planned.test.options.get("disableConversationVar"):
            text = w.prompt if w is not None else trial.prompt
            messages = w.messages if w is not None else []
            structured = text.lstrip().startswith("[") and bool(messages)
            turn = {
                "prompt": messages if structured else text,
                "input": messages[-1].get("content", text) if structured else text,
                "output": trial.output if trial.output is not None else "",
            }
            turns.setdefault(_conversation_id(planned.test), []).append(turn)
