"""`gepa`: reflective evolution with a Pareto front over train cases (GEPA, through the `gepa`
library's core; our providers are its models, never litellm).

Each propose() runs one gepa search on the train split. gepa picks a candidate from its pool
(by default from the per-case Pareto front), runs it on a minibatch of train cases, and our
proposer model rewrites it from the cases' inputs, outputs, scores and failure reasons; a
rewrite that does better on the minibatch joins the pool, scored on a seeded sample of train
cases. The best of the pool are proposed; the loop still decides on validation.

gepa is synchronous: it runs in a worker thread, and its adapter (`_Search`) runs our async
`ctx.evaluate` and proposer calls back on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from promptyard.core.types import CompletionRequest
from promptyard.optimize.base import (
    BudgetExhausted,
    CaseResult,
    ChatModel,
    OptimizerInfo,
    Param,
    ProposeContext,
)
from promptyard.optimize.instruct import extract_prompt, keeps_variables

if TYPE_CHECKING:
    from gepa.core.adapter import EvaluationBatch, ProposalFn
    from gepa.core.state import GEPAState

T = TypeVar("T")

FIELD = "prompt"  # the one component of a gepa candidate
VAL_SHARE = 4  # gepa scores candidates on <= max_metric_calls / 4 cases: room for several
MAX_OUTPUT_CHARS = 1500  # of each case's output shown to the proposer
_SYSTEM = (
    "You improve prompts for a language model. You get a prompt template and training cases"
    " it was run on: each case's inputs, the model's output, its score (0 to 1) and feedback."
    " Write an improved version that fixes the failures without overfitting to these cases."
    " Keep every template variable such as {{ name }} exactly as written. Reply with the new"
    " template only, between <prompt> and </prompt>."
)

PARAMS = (
    Param("max_metric_calls", "int", 60, "case evaluations per cycle (one gepa search), as "
          "gepa counts them: repeats are answered from memory, at no cost",
          minimum=4, maximum=100_000),
    Param("reflection_minibatch_size", "int", 3, "train cases the proposer reflects on per step",
          minimum=1, maximum=64),
    Param("candidate_selection_strategy", "str", "pareto",
          "which candidate to improve next: one on the per-case Pareto front, or the best mean",
          choices=("pareto", "current_best")),
    Param("top_k", "int", 2, "best distinct candidates proposed per cycle", minimum=1,
          maximum=10),
    Param("use_merge", "bool", False, "also merge two Pareto-front candidates"),
)  # fmt: skip


def info() -> OptimizerInfo:
    return OptimizerInfo(
        name="gepa",
        description="Reflective evolution (GEPA): the proposer model rewrites the prompt from "
        "train outputs and failure reasons; candidates that win on a minibatch join a pool "
        "kept as a Pareto front over train cases, and the best of the pool are proposed.",
        params=PARAMS,
        factory=GepaOptimizer,
        needs_proposer=True,
    )


class GepaOptimizer:
    name = "gepa"

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        values = {p.name: p.default for p in PARAMS} | dict(params or {})
        self.max_metric_calls = int(values["max_metric_calls"])
        self.minibatch = int(values["reflection_minibatch_size"])
        self.pareto = values["candidate_selection_strategy"] == "pareto"
        self.top_k = int(values["top_k"])
        self.use_merge = bool(values["use_merge"])

    async def propose(self, ctx: ProposeContext) -> list[str]:
        chat = ctx.require_chat("gepa")  # fail before starting a thread
        ids = list(ctx.case_ids)
        if not ids:
            return []
        # Draw from ctx.rng here, on the loop, so the same seed gives the same search.
        size = max(1, min(len(ids), self.max_metric_calls // VAL_SHARE))
        chosen = set(ctx.rng.sample(ids, size))
        valset = [i for i in ids if i in chosen]
        seed = ctx.rng.randrange(2**31)
        search = _Search(ctx, chat, asyncio.get_running_loop(), self.max_metric_calls)
        try:
            await asyncio.to_thread(self._run, search, ids, valset, seed)
        except asyncio.CancelledError:
            search.stopped = _Halt("cancelled")  # the worker makes no further calls
            raise
        return search.best(self.top_k)

    def _run(self, search: _Search, trainset: list[str], valset: list[str], seed: int) -> None:
        """One gepa search (in a worker thread). A recorded stop ends it without an error."""
        from gepa.api import optimize

        try:
            optimize(
                seed_candidate={FIELD: search.incumbent},
                trainset=trainset,  # case ids: train only; validation and test stay unseen
                valset=valset,
                adapter=search,
                reflection_lm=None,  # search.propose_new_texts asks our proposer model
                candidate_selection_strategy="pareto" if self.pareto else "current_best",
                reflection_minibatch_size=self.minibatch,
                use_merge=self.use_merge,
                stop_callbacks=search.should_stop,  # enforces max_metric_calls
                logger=_Silent(),
                run_dir=None,
                display_progress_bar=False,
                track_best_outputs=False,
                raise_on_exception=True,
                seed=seed,
            )
        except Exception as exc:
            if exc is not search.stopped:
                raise


class _Halt(Exception):
    """The search ends early: its case-evaluation cap is reached, or propose() was cancelled."""


class _Silent:
    """gepa's logger: it would print every step to stdout."""

    def log(self, message: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class _Trace:
    case_id: str
    output: str
    reason: str


class _Search:
    """One gepa run's adapter (evaluate, reflective dataset, proposals through our proposer
    model), its stop condition, and the pool of candidates gepa has kept so far.

    Every call goes through ctx, whose budget is checked before each call. The first failure
    (BudgetExhausted, an error, or a _Halt) is kept in `stopped`: later calls re-raise it
    without calling, and `should_stop` ends gepa's run, so the search stops even where gepa
    catches the exception (it does around reflection; around evaluation it re-raises)."""

    def __init__(
        self,
        ctx: ProposeContext,
        chat: ChatModel,
        loop: asyncio.AbstractEventLoop,
        max_calls: int,
    ) -> None:
        self.ctx = ctx
        self.incumbent = ctx.incumbent
        self.chat = chat
        self.loop = loop
        self.max_calls = max_calls
        self.calls = 0  # case evaluations asked of ctx: never more than max_calls
        self.reflections = 0
        self.stopped: Exception | None = None
        # gepa's protocol declares a settable attribute, not a method
        self.propose_new_texts: ProposalFn | None = self._propose
        self.pool: list[tuple[str, float]] = []  # (prompt, gepa's mean score), seed first
        self.vars = {i: case.vars for i, case in zip(ctx.case_ids, ctx.cases, strict=True)}
        # What is known costs nothing: the incumbent's train results, then each evaluation.
        self.known: dict[tuple[str, str], CaseResult] = {
            (ctx.incumbent, c.case_id): c for c in ctx.train.cases
        }

    # gepa's stop condition, checked before each step and at the end. gepa adds candidates
    # only at the end of a step, so the pool kept here is complete when a step fails.
    def should_stop(self, gepa_state: GEPAState[Any, Any]) -> bool:
        prompts = [c[FIELD] for c in gepa_state.program_candidates]
        self.pool = list(zip(prompts, gepa_state.program_full_scores_val_set, strict=True))
        # gepa's own rule (its count includes what `known` answered for free, so a search
        # whose proposals are all unusable still ends); `_results` caps what ctx is asked.
        return self.stopped is not None or gepa_state.total_num_evals >= self.max_calls

    def best(self, top_k: int) -> list[str]:
        """The pool's best distinct prompts, best first, without the incumbent. After a budget
        stop only those better than the seed count, and none re-raises the stop; any other
        error from a call is re-raised (gepa would have hidden a proposer's)."""
        if self.stopped is not None and not isinstance(self.stopped, BudgetExhausted | _Halt):
            raise self.stopped
        budget = self.stopped if isinstance(self.stopped, BudgetExhausted) else None
        floor = self.pool[0][1] if budget is not None and self.pool else -math.inf
        out: list[str] = []
        for prompt, score in sorted(self.pool, key=lambda p: -p[1]):  # stable on ties
            if prompt != self.incumbent and prompt not in out and score > floor:
                out.append(prompt)
        if budget is not None and not out:
            raise budget
        return out[:top_k]

    # the GEPAAdapter protocol
    def evaluate(
        self, batch: list[str], candidate: dict[str, str], capture_traces: bool = False
    ) -> EvaluationBatch[_Trace, str]:
        from gepa.core.adapter import EvaluationBatch

        results = self._results(candidate[FIELD], batch)
        scores = [0.0 if math.isnan(r.mean) else r.mean for r in results]
        traces = [_Trace(r.case_id, r.output, r.reason) for r in results]
        return EvaluationBatch(outputs=[r.output for r in results], scores=scores,
                               trajectories=traces if capture_traces else None)  # fmt: skip

    def make_reflective_dataset(
        self,
        candidate: dict[str, str],
        eval_batch: EvaluationBatch[_Trace, str],
        components_to_update: list[str],
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        records = [
            {"Inputs": self.vars.get(t.case_id, {}), "Generated Outputs": t.output,
             "Score": score, "Feedback": t.reason or "passed"}
            for t, score in zip(eval_batch.trajectories or [], eval_batch.scores, strict=True)
        ]  # fmt: skip
        return {name: records for name in components_to_update}

    def _propose(
        self,
        candidate: dict[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components_to_update: list[str],
    ) -> dict[str, str]:
        self._check()
        current = candidate[FIELD]
        request = _reflection_request(current, reflective_dataset.get(FIELD, []),
                                      self.reflections)  # fmt: skip
        self.reflections += 1
        new = extract_prompt(self._call(self.chat.complete(request)).output)
        if new is None or new == current or not keeps_variables(current, new):
            return {}  # keep the old text: gepa skips the step rather than rescoring it
        return {FIELD: new}

    def _results(self, prompt: str, batch: list[str]) -> list[CaseResult]:
        missing = [c for c in dict.fromkeys(batch) if (prompt, c) not in self.known]
        if missing:
            self._check()
            if self.calls + len(missing) > self.max_calls:
                self.stopped = _Halt(f"max_metric_calls ({self.max_calls}) reached")
                raise self.stopped
            self.calls += len(missing)
            got = self._call(self.ctx.evaluate(prompt, missing)).by_id()
            for c in missing:
                self.known[(prompt, c)] = got.get(c) or CaseResult(c, (), (), "no result")
        return [self.known[(prompt, c)] for c in batch]

    def _check(self) -> None:
        if self.stopped is not None:
            raise self.stopped

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the event loop and wait for it (we are in gepa's thread). The first
        failure ends the search, a budget stop as much as a provider error."""
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result()
        except Exception as exc:
            self.stopped = exc
            raise


def _reflection_request(
    current: str, records: Sequence[Mapping[str, Any]], sample: int
) -> CompletionRequest:
    """The instruct convention: the prompt between <current> tags, then the cases.
    `sample` makes repeated asks distinct requests (distinct cache entries)."""
    lines = [f"<current>\n{current}\n</current>", "Cases:"]
    for n, r in enumerate(records, 1):
        output = str(r.get("Generated Outputs", ""))[:MAX_OUTPUT_CHARS]
        lines.append(
            f"## Case {n}\nInputs: {json.dumps(r.get('Inputs', {}), default=str)}\n"
            f"Output: {output}\nScore: {float(r.get('Score', 0.0)):.2f}\n"
            f"Feedback: {r.get('Feedback', '')}"
        )
    user = "\n\n".join(lines)
    messages = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]
    return CompletionRequest(prompt=user, messages=messages, sample=sample)
