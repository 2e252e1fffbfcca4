"""The optimization loop: propose from train, accept on validation, report on test.

An optimizer only proposes candidate prompt texts from what it has seen (`ProposeContext`);
how a prompt is evaluated on a set of cases (engine, cache, store) is the caller's `Evaluate`.
The loop keeps the data discipline and the budget:
- proposals see train results only;
- a candidate replaces the incumbent only when `acceptance.decide` says its gain on validation
  is beyond noise (cases whose verdict flips across `stability_samples` are left out);
- every call (task, judge, proposer) reserves from one Budget before it is made; the search
  runs on the cap minus an estimate of the final test scoring, so the report is paid for;
- the seed and the winner are scored once on the untouched test split, with intervals.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from promptyard.core.hashing import content_hash
from promptyard.core.plan import case_id
from promptyard.core.stats import bootstrap_mean_interval, paired_bootstrap
from promptyard.core.types import TestCase
from promptyard.engine.budget import Budget
from promptyard.errors import ConfigError
from promptyard.optimize.acceptance import Decision, Metric, decide, flaky
from promptyard.optimize.base import (
    BudgetExhausted,
    CaseResult,
    ChatModel,
    Evaluate,
    Evaluation,
    Iteration,
    Optimizer,
)
from promptyard.optimize.context import BudgetedChat, Context
from promptyard.optimize.outcome import Outcome, TestReport, iteration_dict
from promptyard.optimize.splits import Splits, assign_splits

__all__ = [
    "CaseResult",
    "Evaluation",
    "Iteration",
    "Outcome",
    "Settings",
    "TestReport",
    "iteration_dict",
    "optimize",
]


@dataclass(frozen=True, slots=True)
class Settings:
    max_cycles: int = 5
    candidates_per_cycle: int = 3  # of the optimizer's proposals (best first), scored on val
    patience: int = 2  # cycles without an accepted candidate before stopping
    target_score: float | None = None  # stop once the incumbent's validation score reaches it
    metric: Metric = "score"  # "score" (paired bootstrap) or "pass" (McNemar)
    alpha: float = 0.05  # a run's chance of accepting noise (see `correction`)
    correction: str = "spending"  # "spending": alpha split over cycles and candidates; "none"
    min_improvement: float = 0.0
    max_cost_usd: float | None = None  # task + judge + proposer, checked before every call
    max_calls: int | None = None
    max_seconds: float | None = None  # wall clock for the search (the test scoring follows)
    stability_samples: int = 1  # samples per validation case; >1 measures flakiness
    flakiness_threshold: float = 0.2  # minority-verdict share above which a case is flaky
    exclude_flaky: bool = True  # leave flaky cases out of acceptance
    seed: int = 0
    ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)

    def __post_init__(self) -> None:
        checks = [("max_cycles", self.max_cycles >= 0), ("patience", self.patience >= 1),
                  ("candidates_per_cycle", self.candidates_per_cycle >= 1),
                  ("stability_samples", self.stability_samples >= 1),
                  ("alpha", 0 < self.alpha < 1),
                  ("correction", self.correction in ("spending", "none")),
                  ("flakiness_threshold", 0 <= self.flakiness_threshold <= 0.5)]  # fmt: skip
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"out of range: {getattr(self, name)!r}", field=name)


Notify = Callable[[str, dict[str, Any]], Awaitable[None]]
OnIteration = Callable[[Iteration], Awaitable[None]]
# (prompt, number of task calls) -> estimated USD, for the pre-flight and the test reserve
Estimate = Callable[[str, int], float]


async def _quiet(*_: Any) -> None:
    return None


class _Stopped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def optimize(
    seed_prompt: str,
    cases: Sequence[TestCase],
    optimizer: Optimizer,
    evaluate: Evaluate,
    settings: Settings | None = None,
    *,
    chat: ChatModel | None = None,
    estimate: Estimate | None = None,
    notify: Notify = _quiet,
    on_iteration: OnIteration = _quiet,
    cancel: asyncio.Event | None = None,
) -> Outcome:
    """Improve `seed_prompt` on `cases` with `optimizer`. `evaluate(prompt, indexes, *,
    repeat, budget)` runs the engine; `chat` is the proposer model; `estimate` prices task
    calls ahead (pre-flight, test reserve). `notify(type, payload)` reports each step
    ("step", "proposal"); `on_iteration` stores each iteration (again when its test score is
    known). A set `cancel` stops the search within one call and keeps the best so far."""
    cfg = settings or Settings()
    splits: Splits = assign_splits(cases, ratios=cfg.ratios, seed=cfg.seed)
    out = Outcome(seed_prompt, seed_prompt,
                  splits={"train": len(splits.train), "val": len(splits.val),
                          "test": len(splits.test)})  # fmt: skip
    reserve_usd = estimate(seed_prompt, 2 * len(splits.test)) if estimate else 0.0
    search = Budget(
        None if cfg.max_cost_usd is None else max(0.0, cfg.max_cost_usd - reserve_usd),
        None if cfg.max_calls is None else max(0, cfg.max_calls - 2 * len(splits.test)),
        None if cfg.max_seconds is None else time.monotonic() + cfg.max_seconds,
    )
    phases = [search]  # the search, then the test scoring on what is left
    proposer_chat = None if chat is None else BudgetedChat(chat, lambda: phases[-1])

    def account() -> None:
        out.spent_usd = sum(b.spent_usd for b in phases)
        out.calls = sum(b.calls for b in phases)

    now = {"cycle": 0}  # the cycle events belong to (their step_index)

    async def run(
        prompt: str, which: Sequence[int], repeat: int = 1, *, split: str, step: int | None
    ) -> Evaluation:
        if cancel is not None and cancel.is_set():
            raise _Stopped("cancelled")
        try:
            result = await evaluate(prompt, which, repeat=repeat, budget=phases[-1])
        finally:
            account()
        if cancel is not None and cancel.is_set():
            raise _Stopped("cancelled")  # a partial evaluation must not be judged
        await _report(notify, result, prompt, split=split, step=step, cycle=now["cycle"],
                      spent=out.spent_usd)  # fmt: skip
        return result

    out.preflight = _preflight(cfg, splits, estimate, seed_prompt, reserve_usd)
    await notify("step", {"step": 0, "cycle": 0, "phase": "preflight", **out.preflight})
    val_repeat = cfg.stability_samples
    incumbent = seed_prompt
    try:
        train = await run(incumbent, splits.train, split="train", step=0)
        val = await run(incumbent, splits.val, val_repeat, split="val", step=0)
    except (_Stopped, BudgetExhausted) as exc:
        out.stopped = _reason(exc)
        return out  # nothing was learnt; no test scoring
    seed_iter = Iteration(0, incumbent, None, train.mean_score, val.mean_score, None, True,
                          cost_usd=out.spent_usd)  # fmt: skip
    out.iterations.append(seed_iter)
    await on_iteration(seed_iter)
    out.best_val = val.mean_score
    current = 0
    await notify("step", {"step": 0, "cycle": 0, "phase": "seed", "train": train.mean_score,
                          "val": val.mean_score, "spent_usd": out.spent_usd})  # fmt: skip
    train_cases = [cases[i] for i in splits.train]
    train_ids = [case_id(c) for c in train_cases]
    index = dict(zip(train_ids, splits.train, strict=True))
    idle = 0
    try:
        for cycle in range(1, cfg.max_cycles + 1):
            if cfg.target_score is not None and out.best_val >= cfg.target_score:
                raise _Stopped(f"target score {cfg.target_score:g} reached")
            if idle >= cfg.patience:
                raise _Stopped(f"no accepted candidate in {cfg.patience} cycles")
            if cancel is not None and cancel.is_set():
                raise _Stopped("cancelled")
            now["cycle"] = cycle
            before = out.spent_usd
            ctx = Context(incumbent, train, tuple(out.iterations), train_cases, train_ids,
                           random.Random(f"{cfg.seed}:{cycle}"), proposer_chat,
                           lambda p, w: run(p, w, split="train", step=None), index)  # fmt: skip
            tried = {i.prompt for i in out.iterations}  # a repeat would only re-spend
            proposals = [p for p in dict.fromkeys(await optimizer.propose(ctx))
                         if p not in tried][: cfg.candidates_per_cycle]  # fmt: skip
            account()
            if not proposals:
                raise _Stopped(f"{optimizer.name} has nothing more to propose")
            proposal_cost = (out.spent_usd - before) / len(proposals)
            best: tuple[Iteration, Evaluation, Evaluation] | None = None
            for prompt in proposals:
                spent = out.spent_usd
                step = len(out.iterations)
                cand_train = await run(prompt, splits.train, split="train", step=step)
                cand_val = await run(prompt, splits.val, val_repeat, split="val", step=step)
                decision = _decide(cfg, val, cand_val, test_alpha(cfg, cycle, len(proposals)))
                it = Iteration(step, prompt, current, cand_train.mean_score,
                               cand_val.mean_score, decision, False,
                               cost_usd=proposal_cost + out.spent_usd - spent)  # fmt: skip
                out.iterations.append(it)
                await on_iteration(it)
                await notify("proposal", {"step": step, "cycle": cycle, "parent": current,
                                          "prompt": prompt, "train": it.train_score,
                                          "val": it.val_score, "decision": decision.to_dict(),
                                          "spent_usd": out.spent_usd})  # fmt: skip
                if decision.accepted and (best is None or it.val_score > best[0].val_score):
                    best = (it, cand_train, cand_val)
            if best is not None:
                it, train, val = best
                it = replace(it, accepted=True)
                out.iterations[it.step] = it
                await on_iteration(it)
                incumbent, current = it.prompt, it.step
                out.best_prompt, out.best_val, out.best_step = it.prompt, it.val_score, it.step
            idle = 0 if best is not None else idle + 1
            await notify("step", {"step": cycle, "cycle": cycle, "phase": "cycle",
                                  "accepted": best is not None,
                                  "best_step": out.best_step, "best_val": out.best_val,
                                  "spent_usd": out.spent_usd})  # fmt: skip
        else:
            out.stopped = f"{cfg.max_cycles} cycles done"
    except (_Stopped, BudgetExhausted) as exc:
        out.stopped = _reason(exc)
    if out.stopped == "cancelled":
        return out  # the user asked to stop: keep the best so far, spend nothing more
    # The test scoring spends the reserve and whatever the search left.
    phases.append(Budget(
        None if cfg.max_cost_usd is None else max(0.0, cfg.max_cost_usd - search.spent_usd),
        None if cfg.max_calls is None else max(0, cfg.max_calls - search.calls),
    ))  # fmt: skip
    now["cycle"] += 1
    await _score_test(out, splits, run, cfg, on_iteration)
    account()
    await notify("step", {"step": now["cycle"], "cycle": now["cycle"], "phase": "test",
                          **out.test.to_dict(), "best_step": out.best_step,
                          "val_test_gap": out.val_test_gap, "spent_usd": out.spent_usd,
                          "stopped": out.stopped})  # fmt: skip
    return out


OUTPUT_EXCERPT = 500  # characters of an output a `trial` event carries


async def _report(
    notify: Notify,
    result: Evaluation,
    prompt: str,
    *,
    split: str,
    step: int | None,
    cycle: int,
    spent: float,
) -> None:
    """One evaluation as events: a `trial` per case, then its `scoring` (a job sends the
    trials with the scoring in one write)."""
    where = {"cycle": cycle, "step": step, "split": split}
    for c in result.cases:
        await notify("trial", {**where, "case_id": c.case_id, "score": c.mean,
                               "passed": all(c.passed), "reason": c.reason,
                               "output": c.output[:OUTPUT_EXCERPT]})  # fmt: skip
    await notify("scoring", {**where, "prompt_id": prompt_id(prompt), "mean": result.mean_score,
                             "n": len(result.cases), "cost_usd": result.cost_usd,
                             "run_id": result.run_id, "spent_usd": spent})  # fmt: skip


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, _Stopped) else str(exc)


def test_alpha(cfg: Settings, cycle: int, candidates: int) -> float:
    """The level each candidate is tested at. With "spending" (the default), cycle c gets
    alpha / 2^c shared by its k candidates (alpha / (2^c k) each): the levels of a whole run
    sum to less than alpha, so a run accepts pure noise with probability at most alpha, however
    many cycles and candidates it tries. With "none", every test runs at alpha (each decision
    errs at most alpha, but a run with many decisions is likely to accept noise once)."""
    if cfg.correction == "none":
        return cfg.alpha
    return cfg.alpha / (2.0**cycle * max(1, candidates))


def _decide(cfg: Settings, incumbent: Evaluation, candidate: Evaluation, alpha: float) -> Decision:
    inc, cand = incumbent.samples(cfg.metric), candidate.samples(cfg.metric)
    exclude: set[str] = set()
    if cfg.stability_samples > 1 and cfg.exclude_flaky:
        verdicts_inc, verdicts_cand = incumbent.samples("pass"), candidate.samples("pass")
        exclude = flaky(verdicts_inc, threshold=cfg.flakiness_threshold) | flaky(
            verdicts_cand, threshold=cfg.flakiness_threshold
        )
    return decide(inc, cand, metric=cfg.metric, alpha=alpha,
                  min_improvement=cfg.min_improvement, seed=cfg.seed,
                  exclude=frozenset(exclude))  # fmt: skip


def _preflight(
    cfg: Settings, splits: Splits, estimate: Estimate | None, seed_prompt: str, reserve: float
) -> dict[str, Any]:
    """How many candidates the budget allows: each costs its train and validation calls."""
    calls_per_candidate = len(splits.train) + len(splits.val) * cfg.stability_samples
    info: dict[str, Any] = {
        "calls_per_candidate": calls_per_candidate, "test_reserve_usd": reserve,
        "test_calls": 2 * len(splits.test), "max_cost_usd": cfg.max_cost_usd,
        "max_calls": cfg.max_calls,
    }  # fmt: skip
    per_candidate = estimate(seed_prompt, calls_per_candidate) if estimate else 0.0
    info["usd_per_candidate"] = per_candidate
    limits: list[int] = []
    if cfg.max_cost_usd is not None and per_candidate > 0:
        limits.append(max(0, math.floor((cfg.max_cost_usd - reserve) / per_candidate) - 1))
    if cfg.max_calls is not None:
        left = cfg.max_calls - 2 * len(splits.test)
        limits.append(max(0, left // calls_per_candidate - 1))
    info["candidates_affordable"] = min(limits) if limits else None  # the seed counts as one
    return info


async def _score_test(
    out: Outcome,
    splits: Splits,
    run: Callable[..., Awaitable[Evaluation]],
    cfg: Settings,
    on_iteration: OnIteration,
) -> None:
    """Score the seed and the winner on test: per-prompt intervals and the paired gain."""
    try:
        seed = await run(out.seed_prompt, splits.test, split="test", step=0)
        best = (
            seed
            if out.best_step == 0
            else await run(out.best_prompt, splits.test, split="test", step=out.best_step)
        )
    except (_Stopped, BudgetExhausted) as exc:
        out.stopped += f"; test scoring stopped: {_reason(exc)}"
        return
    confidence = 1 - cfg.alpha
    s_means = {c.case_id: c.mean for c in seed.cases}
    b_means = {c.case_id: c.mean for c in best.cases}
    paired = sorted(set(s_means) & set(b_means))
    report = out.test
    report.n = len(paired)
    report.seed, report.best = seed.mean_score, best.mean_score
    if paired:
        xs, ys = [s_means[c] for c in paired], [b_means[c] for c in paired]
        report.seed_interval = bootstrap_mean_interval(xs, confidence=confidence, seed=cfg.seed)
        report.best_interval = bootstrap_mean_interval(ys, confidence=confidence, seed=cfg.seed)
        diff = paired_bootstrap([y - x for x, y in zip(xs, ys, strict=True)],
                                confidence=confidence, seed=cfg.seed)  # fmt: skip
        report.diff_interval = (diff.low, diff.high)
    for step, score in ((0, seed.mean_score), (out.best_step, best.mean_score)):
        it = replace(out.iterations[step], test_score=score)
        out.iterations[step] = it
        await on_iteration(it)


def prompt_id(prompt: str) -> str:
    """A candidate's id in the store (its content hash)."""
    return content_hash(prompt, size=16)
