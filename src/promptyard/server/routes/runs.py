"""Runs: list, get, their trials, the results matrix, reports in every format, and paired
comparison."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from promptyard_client.models import Page, Run

from promptyard.server.auth import require
from promptyard.server.routes import MAX_INT

router = APIRouter(tags=["runs"], dependencies=[Depends(require("read"))])

# ?format= -> (writer name, media type, file extension)
REPORTS = {
    "html": ("html", "text/html; charset=utf-8", "html"),
    "json": ("json", "application/json", "json"),
    "jsonl": ("jsonl", "application/x-ndjson", "jsonl"),
    "csv": ("csv", "text/csv; charset=utf-8", "csv"),
    "markdown": ("md", "text/markdown; charset=utf-8", "md"),
    "md": ("md", "text/markdown; charset=utf-8", "md"),
    "junit": ("junit", "application/xml", "xml"),
}
ReportFormat = Literal["html", "json", "jsonl", "csv", "markdown", "md", "junit"]
# ?sort= of the matrix: a key, descending with a leading "-"
MatrixSort = Literal["case", "-case", "score", "-score", "cost", "-cost", "latency", "-latency"]


@router.get("/runs", operation_id="list_runs", response_model=Page[Run])
def list_runs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> dict[str, Any]:
    store = request.app.state.store
    runs = store.list_runs(limit=limit, offset=offset)
    total = store.count_runs()
    # A list shows each run, not its config (every test case: megabytes for a large run);
    # GET /runs/{id} has it.
    items = [{k: v for k, v in r.to_dict().items() if k != "config"} for r in runs]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/runs/{run_id}", operation_id="get_run", response_model=Run)
def get_run(run_id: str, request: Request) -> dict[str, Any]:
    record: dict[str, Any] = request.app.state.store.get_run(run_id).to_dict()
    return record


@router.get("/runs/{run_id}/trials", operation_id="list_run_trials")
def list_trials(
    run_id: str,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    status: Literal["pass", "fail", "error"] | None = None,
) -> dict[str, Any]:
    from promptyard.reports.common import status as trial_status
    from promptyard.reports.export import trial_to_promptfoo

    store = request.app.state.store
    run = store.get_run(run_id)
    index = {p["id"]: i for i, p in enumerate(run.prompts)}
    items, total = [], 0
    for trial in store.iter_trials(run.id):
        if status is not None and trial_status(trial) != status:
            continue
        if offset <= total < offset + limit:
            items.append(trial_to_promptfoo(trial, index))
        total += 1
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/runs/{run_id}/matrix", operation_id="run_matrix")
def matrix(
    run_id: str,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    status: Literal["pass", "fail", "error"] | None = None,
    assertion: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: MatrixSort = "case",
    column: Annotated[int | None, Query(ge=0, le=10_000)] = None,
) -> dict[str, Any]:
    """One page of the results matrix: cases as rows, prompt x provider as columns (with
    their summary stats), each cell a trial with a preview of its output. A row matches when
    any of its trials has the `status`, failed the `assertion` (a type) and contains `q`."""
    from promptyard.store.matrix import MatrixQuery

    store = request.app.state.store
    run = store.get_run(run_id)
    query = MatrixQuery(status=status, assertion=assertion or None, text=q or None,
                        sort=sort.lstrip("-"), descending=sort.startswith("-"), column=column,
                        limit=limit, offset=offset)  # fmt: skip
    page: dict[str, Any] = store.matrix.page(run, query).to_dict()
    return page


@router.get("/runs/{run_id}/assertions", operation_id="run_assertions")
def assertions(run_id: str, request: Request) -> list[dict[str, Any]]:
    """The run's assertion types, each with its number of verdicts and of failures."""
    store = request.app.state.store
    counts: list[dict[str, Any]] = store.matrix.assertions(store.get_run(run_id).id)
    return counts


@router.get("/runs/{run_id}/trials/{index}", operation_id="get_run_trial")
def get_trial(
    run_id: str, request: Request, index: Annotated[int, Path(ge=0, le=MAX_INT)]
) -> dict[str, Any]:
    """One whole trial: the /trials item (promptfoo's shape: rendered prompt, output, every
    assertion's verdict and reason) plus its index, status, KPIs and the raw response."""
    from promptyard.reports.common import status as trial_status
    from promptyard.reports.export import trial_to_promptfoo

    store = request.app.state.store
    run = store.get_run(run_id)
    trial = store.matrix.trial(run.id, index)
    body = trial_to_promptfoo(trial, {p["id"]: i for i, p in enumerate(run.prompts)})
    body.update(index=trial.index, status=trial_status(trial), kpis=trial.kpis, raw=trial.raw)
    return body


@router.get("/runs/{run_id}/report", operation_id="run_report")
def report(run_id: str, request: Request, format: ReportFormat = "json") -> Response:
    from promptyard.reports.export import WRITERS

    store = request.app.state.store
    run = store.get_run(run_id)
    writer, media, ext = REPORTS[format]
    out = io.StringIO(newline="" if writer == "csv" else None)
    WRITERS[writer](run, store.iter_trials(run.id), out)
    disposition = f'inline; filename="run-{run.id[:8]}.{ext}"'
    return Response(out.getvalue(), media_type=media,
                    headers={"Content-Disposition": disposition})  # fmt: skip


@router.get("/compare", operation_id="compare_runs")
def compare(
    request: Request,
    a: str,
    b: str,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
    prompt_a: Annotated[str | None, Query(max_length=500)] = None,
    prompt_b: Annotated[str | None, Query(max_length=500)] = None,
    provider_a: Annotated[str | None, Query(max_length=500)] = None,
    provider_b: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    """Pair the trials of runs `a` and `b` (by case when each side has one prompt and one
    provider; `prompt_a` etc. keep one prompt or provider of a run, by label or id)."""
    from fastapi import HTTPException

    from promptyard.reports.compare import compare_runs, verdict_sentence

    store = request.app.state.store
    run_a, run_b = store.get_run(a), store.get_run(b)
    try:
        result = compare_runs(store.iter_trials(run_a.id), store.iter_trials(run_b.id),
                              run_a=run_a.id, run_b=run_b.id, alpha=alpha,
                              prompt_a=prompt_a or None, prompt_b=prompt_b or None,
                              provider_a=provider_a or None,
                              provider_b=provider_b or None)  # fmt: skip
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    body: dict[str, Any] = result.to_dict()
    body.setdefault("verdict", verdict_sentence(result))
    return body
