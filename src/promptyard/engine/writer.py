"""The writer: commits finished trials in groups, then hands them to the event sink (a trial
is never reported before it is durable)."""

from __future__ import annotations

import asyncio
from typing import Any

from promptyard.core.secrets import redact
from promptyard.core.types import EvalSpec, TrialResult
from promptyard.engine.ports import RunStore
from promptyard.engine.summary import SummaryBuilder
from promptyard.engine.trials import TrialSink, _Done, _dumps
from promptyard.trust.limits import cap_trial
from promptyard.trust.policy import Limits

MAX_BATCH = 512  # finished trials per commit: bounds the writer's memory when it falls behind


class WriterMixin:
    """EvalRunner's store writes: the run's record and its committed trials."""

    spec: EvalSpec
    limits: Limits
    store: RunStore
    run_id: str
    project: str | None
    resume: bool
    keep_trials: bool
    on_trial: TrialSink | None
    summary: SummaryBuilder
    _kpis: list[Any]
    _kept: list[TrialResult]
    _labels: list[str]
    _started: str
    _created: bool
    _wave_sent: asyncio.Event

    def _create_run(self) -> None:
        if self.resume:
            self.store.reopen_run(self.run_id)
            self._created = True
            return
        self.store.create_run(
            run_id=self.run_id,
            description=self.spec.description,
            config=redact(self.spec.raw_config),  # keys are used, never kept
            created_at=self._started,
            prompts=[{"id": p.id, "label": p.label, "raw": p.text} for p in self.spec.prompts],
            providers=[
                {"id": p.id, "label": label}
                for p, label in zip(self.spec.providers, self._labels, strict=True)
            ],
            project=self.project,
        )
        self._created = True

    async def _writer(self, done: asyncio.Queue[_Done | None]) -> None:
        # The run is recorded here, once the first calls are out, rather than before the
        # pipeline starts: a store still opening (see library.py) then overlaps the network
        # wait instead of delaying the first calls.
        first = asyncio.ensure_future(done.get())
        wave = asyncio.ensure_future(self._wave_sent.wait())
        await asyncio.wait({first, wave}, return_when=asyncio.FIRST_COMPLETED)
        wave.cancel()
        await asyncio.to_thread(self._create_run)
        seed: list[_Done | None] = [await first]
        finished = False
        while not finished:
            batch = seed or [await done.get()]
            seed = []
            while len(batch) < MAX_BATCH and not done.empty():
                batch.append(done.get_nowait())
            items = [d for d in batch if d is not None]
            finished = len(items) != len(batch)
            if not items:
                continue
            if self._kpis:
                self._score_kpis(items)
            await asyncio.to_thread(self._commit, items)
            for d in items:
                self.summary.add(d.trial)
                if self.keep_trials:
                    self._kept.append(d.trial)
                if self.on_trial is not None:
                    self.on_trial(d.trial)

    def _score_kpis(self, items: list[_Done]) -> None:
        from promptyard.scorers.kpi_eval import evaluate_kpis, trial_variables

        for d in items:
            t = d.trial
            judge_cost = t.grading.cost if t.grading is not None else 0.0
            t.kpis = evaluate_kpis(self._kpis, trial_variables(t, judge_cost or 0.0)).to_dict()

    def _commit(self, items: list[_Done]) -> None:
        for d in items:  # what is stored and reported is capped (and so is what is kept)
            cap_trial(d.trial, self.limits, _dumps)
        self.store.add_trials([d.trial for d in items])
        fresh = {d.cache_key: d.fresh.to_dict() for d in items if d.cache_key and d.fresh}
        if fresh:
            self.store.cache_put_many(fresh)
