"""Optimizations: the optimizer catalog, starting one (a job), its iterations and best
candidate, and saving a candidate as a prompt version (optionally deploying it)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from promptyard_client.models import (
    Iteration,
    JobCreated,
    Optimization,
    OptimizeRequest,
    OptimizerInfo,
    SavedVersion,
    SaveIteration,
)

from promptyard.core.secrets import redact
from promptyard.errors import NotFound
from promptyard.server.auth import Caller, require

router = APIRouter(tags=["optimize"])
Read = Depends(require("read"))


@router.get("/optimizers", operation_id="list_optimizers", response_model=list[OptimizerInfo],
            dependencies=[Read])  # fmt: skip
def list_optimizers() -> list[dict[str, Any]]:
    """Every registered optimizer with its parameter schema (a UI builds its form from it)."""
    from promptyard.optimize.registry import optimizers

    return [info.to_dict() for info in optimizers().values()]


@router.post("/optimize", operation_id="start_optimize", status_code=202,
             response_model=JobCreated)  # fmt: skip
async def start_optimize(
    body: OptimizeRequest,
    request: Request,
    caller: Annotated[Caller, Depends(require("write"))],
) -> dict[str, str]:
    """Improve one prompt (docs/optimize.md). Steps, proposals and the test report are the
    job's events; iterations are stored as they are decided."""
    from promptyard.jobs.references import provider_entry
    from promptyard.optimize.registry import get_optimizer
    from promptyard.server.eval_jobs import job_base_dir, refuse_files_without_project
    from promptyard.server.optimize_jobs import OptimizeJob, loop_settings, run_optimize_job
    from promptyard.server.routes.jobs import _validate

    state = request.app.state
    info = get_optimizer(body.optimizer)
    info.build(body.hyperparameters)  # a bad hyperparameter is a 400 now, not a failed job
    budgets = body.budgets.model_dump(exclude_none=True) if body.budgets else {}
    loop_settings(body.options, budgets)
    proposer = body.proposer_model if body.proposer_model is not None else body.proposer
    if proposer is not None:  # a profile name becomes its provider entry, as `model` does
        proposer = await asyncio.to_thread(provider_entry, state.store.registry, proposer,
                                           body.project, "proposer_model")  # fmt: skip
    if info.needs_proposer and proposer is None:
        raise HTTPException(400, f"the {info.name} optimizer needs `proposer_model` "
                                 "(a provider id or profile)")  # fmt: skip
    base_dir = await asyncio.to_thread(job_base_dir, state.projects_root, body.project,
                                       from_registry=body.config is None)  # fmt: skip
    config = body.config
    if config is None:
        config = await asyncio.to_thread(_registry_config, state.store.registry, body)
    elif body.prompt or body.dataset or body.model:
        raise HTTPException(400, "give either `config` or registry references, not both")
    await asyncio.to_thread(refuse_files_without_project, config, base_dir, state.trust)
    await asyncio.to_thread(_validate, config, base_dir or state.projects_root, state.trust,
                            settings=state.settings, proposer=proposer)  # fmt: skip
    options = {**(body.options or {}), **budgets}
    job = OptimizeJob(config=config, base_dir=base_dir or state.projects_root,
                      database_url=state.database_url, settings=state.settings,
                      trust=state.trust, optimizer=info.name,
                      hyperparameters=dict(body.hyperparameters or {}),
                      proposer=proposer, options=options)  # fmt: skip
    manifest = redact({"kind": "optimize", "request": body.model_dump(exclude_none=True),
                       "config": config, "options": options})  # fmt: skip

    async def work(ctx: Any) -> dict[str, Any]:
        return await run_optimize_job(ctx, job)

    record = await state.jobs.submit("optimize", manifest, work, project=body.project,
                                     created_by=caller.token_id)  # fmt: skip
    return {"job_id": record.id}


def _registry_config(registry: Any, body: OptimizeRequest) -> dict[str, Any]:
    from promptyard_client.models import JobRequest

    from promptyard.jobs.references import config_from_registry

    if body.model is None:
        raise HTTPException(400, "give `model` (the provider id or profile to optimize for)")
    refs = JobRequest(project=body.project, prompt=body.prompt, dataset=body.dataset,
                      providers=[body.model], description=body.description)  # fmt: skip
    return config_from_registry(registry, refs)


def _optimization_job(request: Request, job_id: str) -> Any:
    record = request.app.state.store.jobs.get_job(job_id)
    if record.kind != "optimize":
        raise NotFound(f"job {job_id} is not an optimization")
    return record


@router.get("/optimizations/{job_id}", operation_id="get_optimization",
            response_model=Optimization, dependencies=[Read])  # fmt: skip
def get_optimization(job_id: str, request: Request) -> dict[str, Any]:
    record = _optimization_job(request, job_id)
    iterations = request.app.state.store.iterations
    rows = iterations.list(job_id)
    best = iterations.best(job_id) if rows else None
    job = {k: v for k, v in record.to_dict().items() if k not in ("manifest", "summary")}
    request_body = (record.manifest or {}).get("request") or {}
    return {"job": job, "optimizer": request_body.get("optimizer", "instruct"),
            "result": record.summary, "best": None if best is None else best.to_dict(),
            "iterations": len(rows)}  # fmt: skip


@router.get("/optimizations/{job_id}/iterations", operation_id="list_iterations",
            response_model=list[Iteration], dependencies=[Read])  # fmt: skip
def list_iterations(
    job_id: str,
    request: Request,
    order: Annotated[str, Query(pattern="^(step|val)$")] = "step",
) -> list[dict[str, Any]]:
    """Every candidate by step, or with `order=val` by validation score, best first, accepted
    or not (a rejected candidate can score higher on validation by luck: /best is the
    accepted one)."""
    _optimization_job(request, job_id)
    return [r.to_dict() for r in request.app.state.store.iterations.list(job_id, order=order)]


@router.get("/optimizations/{job_id}/best", operation_id="get_best_iteration",
            response_model=Iteration, dependencies=[Read])  # fmt: skip
def get_best_iteration(job_id: str, request: Request) -> dict[str, Any]:
    """The accepted iteration with the highest validation score."""
    _optimization_job(request, job_id)
    best: dict[str, Any] = request.app.state.store.iterations.best(job_id).to_dict()
    return best


@router.post("/optimizations/{job_id}/save", operation_id="save_iteration",
             response_model=SavedVersion, status_code=201)  # fmt: skip
def save_iteration(
    job_id: str,
    body: SaveIteration,
    request: Request,
    caller: Annotated[Caller, Depends(require("write"))],
) -> dict[str, Any]:
    """Save the best (or `step`) candidate as a new version of a prompt, then move `label`
    (`production` deploys it)."""
    store = request.app.state.store
    record = _optimization_job(request, job_id)
    if body.step is None:
        it = store.iterations.best(job_id)
    else:
        found = [r for r in store.iterations.list(job_id) if r.step == body.step]
        if not found:
            raise NotFound(f"optimization {job_id} has no step {body.step}")
        it = found[0]
    ref = ((record.manifest or {}).get("request") or {}).get("prompt")
    name = body.name or (_prompt_name(ref) if ref else None)
    if not name:
        raise HTTPException(400, "give `name`: the job did not start from a registry prompt")
    registry, project = store.registry, record.project
    message = body.message or f"optimization {job_id}, step {it.step}"
    try:
        registry.get_prompt(name, project=project)
    except NotFound:
        registry.create_prompt(name, project=project, template=it.prompt,
                               author=caller.token_id, message=message)  # fmt: skip
    version, _ = registry.add_prompt_version(name, project=project, template=it.prompt,
                                             author=caller.token_id, message=message)  # fmt: skip
    if body.label:
        registry.set_label(name, body.label, version.version, project=project,
                           by=caller.token_id)  # fmt: skip
    return {"name": name, "version": version.version, "label": body.label, "step": it.step}


def _prompt_name(ref: str) -> str:
    """`name`, `name@3` or `name:production` -> name."""
    return ref.split("@", 1)[0].split(":", 1)[0]
