"""Our optimizers against each other and against the `gepa` library used directly, at one
fixed budget, on the scripted task (bench/task_model.py) served by the stub over real HTTP.

    python -m bench.optimize_bench              # 5 seeds, $0.05 a run, 500 cases (~3 min)
    python -m bench.optimize_bench --quick      # 2 seeds, $0.03 a run, 200 cases (< 1 min)
    python -m bench.optimize_bench --config boolq/promptyard.yaml \\
        --proposer openai:gpt-4.1-mini --budget 0.5 --seeds 3  # a real model: signal runs only

Per seed every method starts from the same seed prompt, on the same train / val / test split
(`assign_splits`, ratios 0.4/0.3/0.3), under the same `max_cost_usd`, test scoring included:
- ours (fewshot, instruct, mipro, gepa): `optimize_async`; a candidate is kept only when it
  beats the incumbent on validation beyond noise (paired);
- "gepa direct": `gepa.optimize`'s own loop and selection, trainset = our train split,
  valset = our validation split; its pick is the candidate with the best validation mean
  (any margin). Same adapter and reflection as our gepa optimizer (gepa_adapter._Search, the
  proposer through `<current>`/`<prompt>`), our engine for every evaluation; it stops on
  measured spend (a gepa stop callback) so that it spends what the others may.
Both are scored the same way on the test split: the seed, then the pick.

Signal runs measure test gain (pick - seed on test) and gain per dollar. Noise runs (the task
model's signal off: every prompt passes 35% of cases at random) count false acceptances: runs
that end on a prompt other than the seed; for ours also the share of accepted decisions.

The seed prompt has none of the task's features (pass rate 0.175; up to 0.85 with all three).
fewshot can only add demonstrations: without the format rule they are worth at most +0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.stub_server import StubServer
from bench.task_model import install, make_task, proposer_provider, task_provider
from promptyard.core.hashing import content_hash
from promptyard.core.plan import case_id
from promptyard.core.types import Completion, CompletionRequest, PromptTemplate, TestCase
from promptyard.judge_models import RunJudgeModels
from promptyard.library import _evaluation, evaluate_async, load_spec, optimize_async
from promptyard.optimize.base import ChatModel, Evaluation
from promptyard.optimize.gepa_adapter import FIELD, _Search, _Silent
from promptyard.optimize.loop import Settings
from promptyard.optimize.splits import assign_splits
from promptyard.settings import load_settings
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


# Our optimizers and their hyperparameters: the defaults, but instruct asks for 3 rewrites a
# cycle (its default 1 leaves the cycle's other validation slots empty).
OURS: dict[str, dict[str, Any]] = {"fewshot": {}, "instruct": {"candidates": 3}, "mipro": {},
                                   "gepa": {}}  # fmt: skip
DIRECT = "gepa direct"
METHODS = (*OURS, DIRECT)
RATIOS = (0.4, 0.3, 0.3)
MAX_CYCLES = 6
PATIENCE = 2
MINIBATCH = 3  # gepa's reflection minibatch: our gepa optimizer's default


@dataclass
class Run:
    """One method on one seed, with or without signal."""

    method: str
    seed: int
    signal: bool
    seed_test: float
    best_test: float
    spent_usd: float
    changed: bool  # ended on a prompt other than the seed: "accepted"
    wall_s: float
    candidates: int  # prompts scored besides the seed
    decisions: int | None = None  # ours: validation decisions, and how many were accepted
    accepted_decisions: int | None = None
    best_prompt: str = ""

    @property
    def gain(self) -> float:
        return self.best_test - self.seed_test

    def line(self) -> str:
        kind = "signal" if self.signal else "noise "
        return (f"{self.method:<12} {kind} seed {self.seed}  test {self.seed_test:.3f} -> "
                f"{self.best_test:.3f}  ${self.spent_usd:.4f}  "
                f"{'changed' if self.changed else 'kept seed'}  {self.wall_s:.1f} s")  # fmt: skip


# -- our optimizers -----------------------------------------------------------------------------


async def run_ours(
    method: str, config: Any, proposer: Any, *, budget: float, seed: int, signal: bool, work: Path
) -> Run:
    t0 = time.perf_counter()
    out = await optimize_async(
        config, optimizer=method, hyperparameters=OURS[method],
        proposer=None if method == "fewshot" else proposer,
        options=Settings(max_cost_usd=budget, max_cycles=MAX_CYCLES, patience=PATIENCE,
                         ratios=RATIOS, seed=seed),
        base_dir=work, database_url=f"sqlite:///{work / 'ours.db'}",
    )  # fmt: skip
    decisions = [i.decision for i in out.iterations if i.decision is not None]
    return Run(method, seed, signal, out.seed_test, out.best_test, out.spent_usd,
               out.best_step > 0, time.perf_counter() - t0, len(out.iterations) - 1,
               len(decisions), sum(d.accepted for d in decisions), out.best_prompt)  # fmt: skip


# -- the gepa library on its own ----------------------------------------------------------------


@dataclass
class _Meter:
    """What a gepa direct run spent: task calls (the engine runs' total_cost) and proposer."""

    task_usd: float = 0.0
    task_calls: int = 0
    proposer_usd: float = 0.0

    @property
    def total(self) -> float:
        return self.task_usd + self.proposer_usd


@dataclass
class _Context:
    """The part of a ProposeContext that gepa_adapter._Search reads."""

    incumbent: str
    cases: list[TestCase]
    case_ids: list[str]
    run: Callable[[str, list[str]], Awaitable[Evaluation]]
    train: Evaluation = field(default_factory=lambda: Evaluation([]))  # nothing known yet

    async def evaluate(self, prompt: str, case_ids: Sequence[str] | None = None) -> Evaluation:
        return await self.run(prompt, list(self.case_ids if case_ids is None else case_ids))


class _MeteredChat:
    """The proposer model, its spend counted."""

    def __init__(self, model: ChatModel, meter: _Meter) -> None:
        self.id = model.id
        self._model = model
        self._meter = meter

    async def complete(self, request: CompletionRequest) -> Completion:
        completion = await self._model.complete(request)
        self._meter.proposer_usd += completion.cost or 0.0
        return completion


async def run_gepa_direct(
    config: Any, proposer: Any, *, budget: float, seed: int, signal: bool, work: Path
) -> Run:
    from gepa.api import optimize as gepa_optimize

    t0 = time.perf_counter()
    spec = load_spec(config, base_dir=work)
    url = f"sqlite:///{work / 'direct.db'}"
    ids = [case_id(t) for t in spec.tests]
    where = {cid: i for i, cid in enumerate(ids)}
    splits = assign_splits(spec.tests, ratios=RATIOS, seed=seed)  # the split ours use
    train, val, test = ([ids[i] for i in s] for s in (splits.train, splits.val, splits.test))
    seed_prompt = spec.prompts[0].text
    meter = _Meter()

    async def run(prompt: str, which: list[str]) -> Evaluation:
        # As optimize_async's inner evaluate: this prompt on these cases, one engine run.
        template = PromptTemplate(id=content_hash(prompt, size=16), label="candidate",
                                  text=prompt)  # fmt: skip
        sub = dataclasses.replace(spec, prompts=[template],
                                  tests=[spec.tests[where[c]] for c in which])  # fmt: skip
        got = _evaluation(await evaluate_async(spec=sub, database_url=url))
        meter.task_usd += got.cost_usd
        meter.task_calls += len(which)
        return got

    def out_of_budget(_state: Any) -> bool:
        # Keep what scoring the seed and the pick on test costs, as our loop reserves it.
        per_call = meter.task_usd / max(1, meter.task_calls)
        return meter.total + 2 * len(test) * per_call >= budget

    models = RunJudgeModels(load_settings(), spec.options, spec.base_dir, trust=LOCAL_TRUST)
    try:
        chat = _MeteredChat(models.chat(proposer), meter)
        ctx = _Context(seed_prompt, list(spec.tests), ids, run)
        search = _Search(ctx, chat, asyncio.get_running_loop(), 10**9)
        result = await asyncio.to_thread(
            gepa_optimize, seed_candidate={FIELD: seed_prompt}, trainset=train, valset=val,
            adapter=search, reflection_lm=None, candidate_selection_strategy="pareto",
            reflection_minibatch_size=MINIBATCH, stop_callbacks=[search.should_stop,
                                                                 out_of_budget],
            logger=_Silent(), run_dir=None, display_progress_bar=False,
            track_best_outputs=False, raise_on_exception=True, seed=seed,
        )  # fmt: skip
        if search.stopped is not None:
            raise search.stopped  # a failed call, which gepa ends on quietly
    finally:
        await models.aclose()
    pick = result.best_candidate[FIELD]  # the best validation mean; the seed on a tie
    seed_test = await run(seed_prompt, test)
    best_test = seed_test if pick == seed_prompt else await run(pick, test)
    return Run(DIRECT, seed, signal, seed_test.mean_score, best_test.mean_score, meter.total,
               pick != seed_prompt, time.perf_counter() - t0, len(result.candidates) - 1,
               best_prompt=pick)  # fmt: skip


# -- the bench ----------------------------------------------------------------------------------


def scripted_config(stub: StubServer, cases: int) -> dict[str, Any]:
    cfg = make_task(cases, seed=0)
    provider = task_provider(stub)
    # Answers are a few tokens: the pre-flight and test reserve price 16, not the default 256.
    provider["config"]["max_tokens"] = 16
    cfg["providers"] = [provider]
    cfg["evaluateOptions"] = {"maxConcurrency": 16}
    return cfg


async def run_one(
    method: str, config: Any, proposer: Any, *, budget: float, seed: int, signal: bool
) -> Run:
    with tempfile.TemporaryDirectory(prefix="optimize-bench-") as tmp:
        kw: dict[str, Any] = {"budget": budget, "seed": seed, "signal": signal, "work": Path(tmp)}
        if method == DIRECT:
            return await run_gepa_direct(config, proposer, **kw)
        return await run_ours(method, config, proposer, **kw)


def bench(
    stub: StubServer | None,
    *,
    methods: Sequence[str] = METHODS,
    seeds: Sequence[int] = range(5),
    budget: float = 0.05,
    cases: int = 500,
    config: Any = None,
    proposer: Any = None,
    log: Callable[[str], None] = print,
) -> list[Run]:
    """Every method on every seed: with signal, then (scripted task only) without."""
    runs: list[Run] = []
    for signal in (True, False) if stub is not None else (True,):
        for seed in seeds:
            for method in methods:
                if stub is not None:
                    stub.reset()  # a fresh stub per run, the draws seeded by `seed`
                    install(stub, signal=signal, seed=seed)
                    config, proposer = scripted_config(stub, cases), proposer_provider(stub)
                run = asyncio.run(run_one(method, config, proposer, budget=budget, seed=seed,
                                          signal=signal))  # fmt: skip
                runs.append(run)
                log(run.line())
    return runs


def _mean(xs: Sequence[float]) -> float:
    return statistics.fmean(xs) if xs else math.nan


def summarize(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Per method, in order of first appearance: the signal runs' test gain (mean and sample
    standard deviation over seeds), spend, gain per dollar (mean gain / mean spend), accepted
    runs; the noise runs' false acceptances; mean wall time of all its runs."""
    rows = []
    for method in dict.fromkeys(r.method for r in runs):
        mine = [r for r in runs if r.method == method]
        sig = [r for r in mine if r.signal]
        noise = [r for r in mine if not r.signal]
        gains = [r.gain for r in sig]
        spent = _mean([r.spent_usd for r in sig])
        decided = [r for r in noise if r.decisions is not None]
        rows.append({
            "method": method,
            "runs": len(sig),
            "test_gain": _mean(gains),
            "test_gain_sd": statistics.stdev(gains) if len(gains) > 1 else 0.0,
            "spent_usd": spent,
            "gain_per_usd": _mean(gains) / spent if spent > 0 else math.nan,
            "accepted_runs": sum(r.changed for r in sig),
            "noise_runs": len(noise),
            "false_acceptances": sum(r.changed for r in noise),
            "noise_test_gain": _mean([r.gain for r in noise]),
            "noise_decisions": sum(r.decisions or 0 for r in decided) if decided else None,
            "noise_accepted_decisions": (sum(r.accepted_decisions or 0 for r in decided)
                                         if decided else None),
            "wall_s": _mean([r.wall_s for r in mine]),
        })  # fmt: skip
    return rows


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The summary as a Markdown table (pasted as is into docs/benchmarks.md)."""
    lines = ["| method | test gain (mean ± sd) | spend | gain per $ | accepted runs "
             "| false acceptances (noise) | accepted decisions (noise) | wall per run |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        noise = f"{r['false_acceptances']}/{r['noise_runs']}" if r["noise_runs"] else "-"
        decisions = "-"
        if r["noise_decisions"] is not None:
            decisions = f"{r['noise_accepted_decisions']}/{r['noise_decisions']}"
        lines.append(
            f"| {r['method']} | {r['test_gain']:+.3f} ± {r['test_gain_sd']:.3f} "
            f"| ${r['spent_usd']:.4f} | {r['gain_per_usd']:+.1f} "
            f"| {r['accepted_runs']}/{r['runs']} | {noise} | {decisions} | {r['wall_s']:.1f} s |"
        )
    return "\n".join(lines)


def _provider_ref(text: str | None) -> Any:
    """A provider id as is, or a JSON {id, config} as a mapping."""
    return json.loads(text) if text and text.lstrip().startswith("{") else text


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 5, quick 2)")
    parser.add_argument(
        "--budget", type=float, help="max_cost_usd per run (default 0.05, quick 0.03)"
    )
    parser.add_argument("--cases", type=int, help="scripted cases (default 500, quick 200)")
    parser.add_argument("--quick", action="store_true", help="fewer seeds and cases")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    parser.add_argument(
        "--config",
        type=Path,
        help="a real promptyard.yaml instead of the scripted task (no noise runs)",
    )
    parser.add_argument(
        "--proposer",
        help="with --config: the proposer, a provider id or JSON {id, config}",
    )
    parser.add_argument("--json", type=Path, help="also write settings, summary and runs here")
    args = parser.parse_args(argv)
    seeds = range(args.seeds or (2 if args.quick else 5))
    budget = args.budget or (0.03 if args.quick else 0.05)
    cases = args.cases or (200 if args.quick else 500)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s): {', '.join(unknown)}; known: {', '.join(METHODS)}")
    if args.config is not None and args.proposer is None and set(methods) - {"fewshot"}:
        parser.error("--config needs --proposer (or --methods fewshot)")
    t0 = time.perf_counter()
    if args.config is not None:
        proposer = _provider_ref(args.proposer)
        config = args.config.resolve()
        runs = bench(None, methods=methods, seeds=seeds, budget=budget, config=config,
                     proposer=proposer)  # fmt: skip
    else:
        with StubServer().running() as stub:
            runs = bench(stub, methods=methods, seeds=seeds, budget=budget, cases=cases)
    rows = summarize(runs)
    task = str(args.config) if args.config else f"scripted, {cases} cases"
    print(
        f"\n{task}; {len(seeds)} seeds; ${budget:g} per run; ratios {RATIOS}; "
        f"max_cycles {MAX_CYCLES}, patience {PATIENCE}; {time.perf_counter() - t0:.0f} s in all"
    )
    if args.config is None:
        print(
            "seed prompt: no feature (pass rate 0.175, 0.85 with all three); fewshot can only "
            "add demonstrations (at most +0.1 here)"
        )
    print(table(rows))
    if args.json:
        settings = {
            "task": task,
            "seeds": list(seeds),
            "budget_usd": budget,
            "ratios": RATIOS,
            "max_cycles": MAX_CYCLES,
            "patience": PATIENCE,
            "hyperparameters": OURS,
        }
        args.json.write_text(json.dumps({"settings": settings, "summary": rows,
                                         "runs": [asdict(r) | {"gain": r.gain} for r in runs]},
                                        indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
