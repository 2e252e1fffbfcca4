"""The `optimize` job: the loop's steps and proposals become the job's events, its
iterations rows in the store, its outcome the job's summary.

A resume runs the same manifest again: every evaluation and proposer reply is in the
response cache, so nothing paid is repeated, and the events the log already holds are not
emitted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promptyard.errors import ConfigError
from promptyard.jobs.manager import JobContext
from promptyard.settings import Settings
from promptyard.trust import TrustPolicy

# The loop's settings a request may set in `options` (budgets come in `budgets`).
OPTIONS = ("max_cycles", "candidates_per_cycle", "patience", "target_score", "metric", "alpha",
           "min_improvement", "stability_samples", "flakiness_threshold", "exclude_flaky",
           "seed", "ratios", "train_split_ratio", "correction")  # fmt: skip
BUDGETS = ("max_cost_usd", "max_calls", "max_seconds")


@dataclass(frozen=True, slots=True)
class OptimizeJob:
    """Everything an optimize job needs, fixed when it is accepted (and kept in the manifest
    for a resume)."""

    config: dict[str, Any]
    base_dir: str
    database_url: str
    settings: Settings
    trust: TrustPolicy
    optimizer: str
    hyperparameters: dict[str, Any]
    proposer: Any
    options: dict[str, Any]


def loop_settings(options: dict[str, Any] | None, budgets: dict[str, Any] | None) -> Any:
    """The loop's Settings from a request's `options` and `budgets` (unknown keys are a 400
    naming them; `train_split_ratio` r splits the rest evenly: (r, (1-r)/2, (1-r)/2))."""
    from promptyard.optimize.loop import Settings as LoopSettings

    values = dict(options or {})
    known = (*OPTIONS, *BUDGETS)  # a stored manifest keeps budgets with the options
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown optimize option(s) {', '.join(unknown)}; known: "
                          f"{', '.join(known)}", field="options")  # fmt: skip
    values.update({k: v for k, v in (budgets or {}).items() if v is not None})
    ratio = values.pop("train_split_ratio", None)
    if ratio is not None:
        if not isinstance(ratio, int | float) or not 0 < ratio < 1:
            raise ConfigError("must be a number between 0 and 1", field="train_split_ratio")
        values["ratios"] = (float(ratio), (1 - ratio) / 2, (1 - ratio) / 2)
    elif "ratios" in values:
        values["ratios"] = tuple(values["ratios"])
    try:
        return LoopSettings(**values)
    except TypeError as exc:
        raise ConfigError(str(exc), field="options") from None


LOOP_EVENTS = frozenset({"step", "proposal", "trial", "scoring"})


async def run_optimize_job(ctx: JobContext, job: OptimizeJob) -> dict[str, Any]:
    from promptyard.library import optimize_async

    # The loop is deterministic for a seed and a resumed run answers from the cache, so it
    # notifies the same events in the same order: the first `skip` are already in the log.
    skip = sum(1 for e in await ctx.stored_events() if e.type in LOOP_EVENTS)
    trials: list[tuple[str, dict[str, Any], int]] = []

    async def notify(kind: str, payload: dict[str, Any]) -> None:
        nonlocal skip
        if skip:
            skip -= 1
            return
        event = (kind, payload, int(payload.get("cycle") or 0))
        if kind == "trial":  # held until their evaluation's `scoring`: one write for all
            trials.append(event)
            return
        await ctx.emit_many([*trials, event])
        trials.clear()

    outcome = await optimize_async(
        job.config, optimizer=job.optimizer, hyperparameters=job.hyperparameters,
        proposer=job.proposer, options=loop_settings(job.options, None),
        base_dir=job.base_dir, database_url=job.database_url, settings=job.settings,
        notify=notify, cancel=ctx.cancel, optimization_id=ctx.job_id, trust=job.trust,
    )  # fmt: skip
    summary = outcome.to_dict()
    summary["optimizer"] = job.optimizer
    return summary
