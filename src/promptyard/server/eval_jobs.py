"""The `run` and `evaluate` jobs: one engine run, a `trial` event per finished trial.

A config sent over HTTP is untrusted: its file:// references must stay inside the project's
folder (an inline config without a project may not read files at all), and Python providers
and assertions run only where the operator allows it (PROMPTYARD_ALLOW_PYTHON).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptyard.core.types import TrialResult
from promptyard.errors import ConfigError
from promptyard.jobs.manager import JobContext
from promptyard.settings import Settings
from promptyard.trust import TrustPolicy

OUTPUT_EXCERPT = 2000  # characters of a trial's output carried by its event


@dataclass(frozen=True, slots=True)
class EvalJob:
    """Everything a run/evaluate job needs, fixed when it is accepted."""

    config: dict[str, Any]
    base_dir: str
    project: str | None
    database_url: str
    settings: Settings
    trust: TrustPolicy
    generate_only: bool = False
    options: dict[str, Any] | None = None
    resume_run: str | None = None  # a stopped run to complete (its stored trials are kept)


def refuse_files_without_project(config: Any, base_dir: str | None, trust: TrustPolicy) -> None:
    """A config sent without a project reads no files. The loader decides (promptyard.trust.
    files: no folder under a confining policy reads nothing; bare paths, globs, ~ and
    symlinks included), so this only loads the config once without a folder. Needed while
    the job's own load gets the projects root as its folder when there is no project."""
    if base_dir is None and trust.confine_files:
        from promptyard.project import load_config_dict

        load_config_dict(config, base_dir=None, trust=trust)


def trial_payload(trial: TrialResult) -> dict[str, Any]:
    output = trial.output
    text = output if isinstance(output, str) else None if output is None else str(output)
    grading = trial.grading
    return {
        "index": trial.index,
        "case_index": trial.case_index,
        "case_id": trial.case_id,
        "description": trial.description,
        "prompt_label": trial.prompt_label,
        "provider_label": trial.provider_label,
        "sample": trial.sample,
        "success": trial.success,
        "score": trial.score,
        "error": trial.error,
        "reason": grading.reason if grading is not None else None,
        "latency_ms": round(trial.latency_ms, 3),
        "cost": trial.cost,
        "cached": trial.cached,
        "output": text[:OUTPUT_EXCERPT] if text is not None else None,
    }


async def run_eval_job(ctx: JobContext, job: EvalJob) -> dict[str, Any]:
    """Evaluate the job's config; events: a `step` with the plan, a `trial` per trial."""
    from promptyard.library import EvalRequest, evaluate_async, load_spec

    options = job.options or {}
    request = EvalRequest(
        max_concurrency=options.get("max_concurrency"),
        repeat=options.get("repeat"),
        cache=options.get("cache"),
        filter_pattern=options.get("filter_pattern"),
        filter_first_n=options.get("filter_first_n"),
        description=options.get("description"),
        no_assertions=job.generate_only,
    )
    spec = await asyncio.to_thread(load_spec, job.config, base_dir=job.base_dir, request=request,
                                   trust=job.trust)  # fmt: skip
    run_id = job.resume_run or str(uuid.uuid4())
    await ctx.set_run(run_id)
    planned = len(spec.tests) * len(spec.prompts) * len(spec.providers) * spec.options.repeat
    phase = "resumed" if job.resume_run else "started"
    await ctx.emit("step", {"phase": phase, "run_id": run_id, "planned": planned})
    pending: asyncio.Queue[TrialResult | None] = asyncio.Queue()

    async def forward() -> None:
        while (trial := await pending.get()) is not None:
            await ctx.emit("trial", trial_payload(trial), step_index=trial.index)

    forwarder = asyncio.create_task(forward())
    try:
        result = await evaluate_async(
            spec=spec,
            database_url=job.database_url,
            settings=job.settings,
            on_trial=pending.put_nowait,  # called after each commit; events follow in order
            cancel=ctx.cancel,
            keep_trials=False,
            run_id=run_id,
            project=job.project,
            resume=job.resume_run is not None,
            trust=job.trust,
        )
    finally:
        pending.put_nowait(None)
        await forwarder
    summary = dict(result.summary)
    summary["run_id"] = result.run_id
    return summary


def job_base_dir(root: str, project: str | None, *, from_registry: bool) -> str | None:
    """Where a job's files are: its project's folder. A job built from registry references
    reads no files, so a project that lives only in the registry (no folder) is fine."""
    if project is None:
        return None
    try:
        return project_dir(root, project)
    except ConfigError:
        if from_registry:
            return None
        raise


def job_folder(root: str, project: str | None) -> str:
    """The folder a stored job reads its files from on resume: its project's, found again
    (manifests keep no server path), else the projects root, as at submit."""
    return job_base_dir(root, project, from_registry=True) or root


def project_dir(root: str, project: str) -> str:
    """The folder of a project under the projects root (no escaping it)."""
    full = Path(root, project).resolve()
    if full.parent != Path(root).resolve() or not full.is_dir():
        raise ConfigError(f"unknown project {project!r}", field="project")
    return str(full)
