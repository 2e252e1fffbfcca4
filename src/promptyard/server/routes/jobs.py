"""Jobs: start (run / evaluate / optimize), list, replay, stream (SSE), cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from promptyard_client.models import CancelResult, Job, JobCreated, JobDetail, JobRequest, Page

from promptyard.core.secrets import redact
from promptyard.server.auth import Caller, require
from promptyard.server.eval_jobs import job_folder
from promptyard.server.routes import MAX_INT
from promptyard.trust import TrustPolicy

router = APIRouter(tags=["jobs"])
HEARTBEAT_S = 15.0
POLL_S = 1.0  # a stream with no live event for this long reads the store (see _events)


@router.post("/evaluate", operation_id="start_evaluate", status_code=202,
             response_model=JobCreated)  # fmt: skip
async def start_evaluate(
    body: JobRequest, request: Request, caller: Annotated[Caller, Depends(require("write"))]
) -> dict[str, str]:
    return await _start(request, "evaluate", body, caller)


@router.post("/run", operation_id="start_run", status_code=202, response_model=JobCreated)
async def start_run(
    body: JobRequest, request: Request, caller: Annotated[Caller, Depends(require("write"))]
) -> dict[str, str]:
    return await _start(request, "run", body, caller)


async def _start(request: Request, kind: str, body: JobRequest, caller: Caller) -> dict[str, str]:
    from promptyard.jobs.references import config_from_registry
    from promptyard.server.eval_jobs import (
        EvalJob,
        job_base_dir,
        refuse_files_without_project,
        run_eval_job,
    )

    body = _with_checked_options(body)  # a 400 naming the field, before anything else
    state = request.app.state
    settings = state.settings
    base_dir = await asyncio.to_thread(job_base_dir, state.projects_root, body.project,
                                       from_registry=body.config is None)  # fmt: skip
    if body.config is not None:
        if body.prompt or body.dataset or body.providers:
            raise HTTPException(400, "give either `config` or registry references, not both")
        config = body.config
    else:
        config = await asyncio.to_thread(config_from_registry, state.store.registry, body)
    await asyncio.to_thread(refuse_files_without_project, config, base_dir, state.trust)
    await asyncio.to_thread(_validate, config, base_dir or state.projects_root, state.trust,
                            settings=state.settings)  # fmt: skip
    job = EvalJob(
        config=config,
        base_dir=base_dir or state.projects_root,
        project=body.project,
        database_url=state.database_url,
        settings=settings,
        trust=state.trust,
        generate_only=kind == "run",
        options=body.options,
    )
    # The resolved config is kept: a resume runs what was accepted, even if a label moved since.
    # Secrets in an inline config are used for this run but never stored or shown: a resume
    # after a restart needs keys by env var name (apiKeyEnvar), as the docs advise anyway.
    # The project's folder is not stored: a reader must not learn server paths, and a resume
    # finds the folder again from the project (job_folder).
    manifest = redact({"kind": kind, "request": body.model_dump(exclude_none=True),
                       "config": config})  # fmt: skip

    async def work(ctx: Any) -> dict[str, Any]:
        return await run_eval_job(ctx, job)

    record = await state.jobs.submit(kind, manifest, work, project=body.project,
                                     created_by=caller.token_id)  # fmt: skip
    return {"job_id": record.id}


@router.post("/jobs/{job_id}/resume", operation_id="resume_job", status_code=202,
             response_model=JobCreated, dependencies=[Depends(require("write"))])  # fmt: skip
async def resume_job(job_id: str, request: Request) -> dict[str, str]:
    """Run only the trials a stopped job had not finished, into the same run.

    409 naming why when the job has not stopped, is already being resumed, or belongs to
    another server whose lease is alive (the claim in the store decides, atomically)."""
    from promptyard.server.eval_jobs import EvalJob, run_eval_job

    state = request.app.state
    record = await asyncio.to_thread(state.store.jobs.get_job, job_id)
    manifest = record.manifest or {}
    if record.status == "succeeded" or not manifest.get("config"):
        raise HTTPException(409, f"job {job_id} is {record.status}; only an interrupted,"
                                 " cancelled or failed evaluation can be resumed")  # fmt: skip
    if record.kind == "optimize":
        again = _optimize_work(manifest, request, record.project)
        await state.jobs.resume(job_id, manifest, again)
        return {"job_id": job_id}
    options = _job_options((manifest.get("request") or {}).get("options"))
    job = EvalJob(
        config=manifest["config"],
        base_dir=await asyncio.to_thread(job_folder, state.projects_root, record.project),
        project=record.project,
        database_url=state.database_url,
        settings=state.settings,
        trust=state.trust,
        generate_only=record.kind == "run",
        options=options,
        resume_run=record.run_id,
    )

    async def work(ctx: Any) -> dict[str, Any]:
        return await run_eval_job(ctx, job)

    await state.jobs.resume(job_id, manifest, work)
    return {"job_id": job_id}


def _job_options(options: dict[str, Any] | None) -> dict[str, Any] | None:
    """A job's `options`, checked now (JobOptions: known keys of the right types, anything
    else refused) so that bad input is a 400 naming the field, not a failed job."""
    from promptyard_client.models import JobOptions
    from pydantic import ValidationError

    if options is None:
        return None
    try:
        checked = JobOptions.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"options.{'.'.join(str(p) for p in e['loc'])}: "
            + ("unknown option" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors()
        )
        raise HTTPException(400, problems) from None
    return checked.model_dump(exclude_none=True)


def _with_checked_options(body: JobRequest) -> JobRequest:
    return body.model_copy(update={"options": _job_options(body.options)})


def _optimize_work(manifest: dict[str, Any], request: Request, project: str | None) -> Any:
    """Run a stopped optimization again from its manifest: the cache answers every call it
    already paid for, and the events it already emitted are not repeated."""
    from promptyard.server.optimize_jobs import OptimizeJob, run_optimize_job

    state = request.app.state
    body = manifest.get("request") or {}
    job = OptimizeJob(config=manifest["config"],
                      base_dir=job_folder(state.projects_root, project),
                      database_url=state.database_url, settings=state.settings,
                      trust=state.trust, optimizer=body.get("optimizer", "instruct"),
                      hyperparameters=dict(body.get("hyperparameters") or {}),
                      proposer=body.get("proposer_model", body.get("proposer")),
                      options=dict(manifest.get("options") or {}))  # fmt: skip

    async def work(ctx: Any) -> dict[str, Any]:
        return await run_optimize_job(ctx, job)

    return work


def _validate(
    config: dict[str, Any],
    base_dir: str,
    trust: TrustPolicy,
    *,
    settings: Any = None,
    proposer: Any = None,
) -> None:
    """The run's pre-flight now (library.check_config: load the config, validate every
    assertion, build each task, judge, embedding and proposer model through the policy, make
    no call), so that bad or refused input is a 400 naming the field, not a failed job.
    `settings` default to the environment's, which the server's are built from."""
    from promptyard.library import check_config

    check_config(config, base_dir=base_dir, settings=settings, trust=trust, proposer=proposer)


@router.get("/jobs", operation_id="list_jobs", response_model=Page[Job],
            dependencies=[Depends(require("read"))])  # fmt: skip
def list_jobs(
    request: Request,
    kind: str | None = None,
    status: str | None = None,
    project: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> dict[str, Any]:
    items, total = request.app.state.store.jobs.list_jobs(
        kind=kind, status=status, project=project, limit=limit, offset=offset
    )
    # A list shows each job, not its manifest (the whole config) or summary: GET one for those.
    rows = [{k: v for k, v in j.to_dict().items() if k not in ("manifest", "summary")}
            for j in items]  # fmt: skip
    return {"items": rows, "total": total, "limit": limit, "offset": offset}


@router.get("/jobs/{job_id}", operation_id="get_job", response_model=JobDetail,
            dependencies=[Depends(require("read"))])  # fmt: skip
def get_job(
    job_id: str,
    request: Request,
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="events after this seq")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    type: Annotated[list[str] | None, Query(description="only events of these types")] = None,
) -> dict[str, Any]:
    """The job, its manifest and summary, and its events (all, or after a seq, of some
    types, at most `limit`: an optimization logs thousands)."""
    store = request.app.state.store.jobs
    job = store.get_job(job_id)
    wanted = set(type or ())
    events = [e.to_dict() for e in store.events(job_id, after=after)
              if not wanted or e.type in wanted][:limit]  # fmt: skip
    data = job.to_dict()
    # Jobs stored before the folder was left out still carry it: never show a server path.
    manifest = {k: v for k, v in (data.get("manifest") or {}).items() if k != "base_dir"}
    data["manifest"] = manifest
    return {"job": data, "manifest": manifest, "events": events,
            "summary": data.get("summary")}  # fmt: skip


@router.post("/jobs/{job_id}/cancel", operation_id="cancel_job", status_code=202,
             response_model=CancelResult, dependencies=[Depends(require("write"))])  # fmt: skip
async def cancel_job(job_id: str, request: Request) -> dict[str, str]:
    state = request.app.state
    job = await asyncio.to_thread(state.store.jobs.get_job, job_id)
    if not await state.jobs.cancel(job_id):
        if not job.finished and job.owner not in (None, state.jobs.server_id):
            raise HTTPException(409, f"job {job_id} is {job.status} on server {job.owner},"
                                     " not this one: cancel it there")  # fmt: skip
        raise HTTPException(409, f"job {job_id} is {job.status}; only queued or running jobs"
                                 " can be cancelled")  # fmt: skip
    return {"job_id": job_id, "status": "cancelled" if job.status == "queued" else job.status}


@router.get("/jobs/{job_id}/events", operation_id="stream_job_events",
            dependencies=[Depends(require("read"))])  # fmt: skip
async def stream_events(
    job_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_INT, description="resume after seq")] = None,
) -> Any:
    """Server-sent events: the stored events after Last-Event-ID, then the live ones; the
    stream closes after `end`. Works for finished jobs too (replays, then closes)."""
    from sse_starlette.sse import EventSourceResponse

    state = request.app.state
    await asyncio.to_thread(state.store.jobs.get_job, job_id)  # 404 for an unknown job
    start = after if after is not None else _seq(last_event_id)
    return EventSourceResponse(_events(request, job_id, start), ping=HEARTBEAT_S,
                               headers={"Cache-Control": "no-cache"})  # fmt: skip


def _seq(header: str | None) -> int:
    try:
        return min(MAX_INT, max(0, int(header))) if header else 0
    except ValueError:
        return 0


async def _events(request: Request, job_id: str, after: int) -> AsyncIterator[dict[str, str]]:
    """Replay the stored events after `after`, then follow the live ones.

    A resumed job's log holds an `end` for each time it stopped; only the last one ends the
    stream. The job's status is read BEFORE its events, and a job's final status is stored
    with its `end` in one transaction: a job found finished (and not active here) has
    stored everything it will say, so the stream closes after the replay. Otherwise the live
    feed (subscribed first, so nothing falls in between) goes on until an `end` arrives,
    whatever its seq: a client whose Last-Event-ID is ahead is told nothing more, but its
    stream still closes. A job that runs on another server sends nothing here: after POLL_S
    without a live event the store is read instead, until the job has finished.
    """
    state = request.app.state
    store = state.store.jobs
    live = state.jobs.subscribe(job_id)
    try:
        last = after
        job = await asyncio.to_thread(store.get_job, job_id)
        done = job.finished and not state.jobs.is_active(job_id)
        for record in await asyncio.to_thread(store.events, job_id, after=after):
            last = record.seq
            yield _sse(record.to_dict())
        if done:
            return
        while True:
            try:
                event = await asyncio.wait_for(live.get(), POLL_S)
            except TimeoutError:
                if state.jobs.is_active(job_id):
                    continue  # it runs here: the live feed is the whole story
                job = await asyncio.to_thread(store.get_job, job_id)
                for record in await asyncio.to_thread(store.events, job_id, after=last):
                    last = record.seq
                    yield _sse(record.to_dict())
                if job.finished and not state.jobs.is_active(job_id):
                    return
                continue
            if event is None:
                return
            if event["seq"] > last:
                last = event["seq"]
                yield _sse(event)
            if event["type"] == "end":
                return
    finally:
        state.jobs.unsubscribe(job_id, live)


def _sse(event: dict[str, Any]) -> dict[str, str]:
    data = event.get("_json") or json.dumps(event)  # live events come serialized once
    return {"id": str(event["seq"]), "event": event["type"], "data": data}
