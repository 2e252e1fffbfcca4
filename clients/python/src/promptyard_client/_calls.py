"""Every endpoint as a `Call`: path, query, body and answer parser, written once for both
clients (docs/server.md is the contract). Names are path segments, so they are quoted."""

from __future__ import annotations

import functools
import mimetypes
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from promptyard_client._base import (
    Call,
    json_object,
    model,
    nothing,
    page,
    raw_page,
    text,
)
from promptyard_client.errors import ValidationError
from promptyard_client.models import (
    CancelResult,
    Catalog,
    Dataset,
    DatasetCreate,
    DatasetDerive,
    Health,
    Iteration,
    Job,
    JobCreated,
    JobDetail,
    JobOptions,
    JobRequest,
    LabelSet,
    Optimization,
    OptimizeRequest,
    OptimizerInfo,
    Page,
    Profile,
    ProfileCreate,
    Prompt,
    PromptCreate,
    PromptVersion,
    PromptVersionCreate,
    Run,
    SavedVersion,
    SaveIteration,
    TagsSet,
    Token,
    TokenCreate,
    TokenCreated,
)

JOB_KINDS = ("run", "evaluate", "optimize")
P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def _checked(build: Callable[P, R]) -> Callable[P, R]:
    """Request bodies are validated before sending; a bad one raises the client's
    ValidationError (status_code None), like the server's 422 would, one round trip sooner."""

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return build(*args, **kwargs)
        except PydanticValidationError as exc:
            detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                      for e in exc.errors()]  # fmt: skip
            raise ValidationError(f"invalid request: {exc}", detail=detail) from None

    return wrapper


def _seg(value: str | int) -> str:
    return quote(str(value), safe="")


def _query(**params: Any) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _body(request: Any) -> dict[str, Any]:
    data: dict[str, Any] = request.model_dump(mode="json", exclude_none=True)
    return data


# -- meta ------------------------------------------------------------------------------------


def health() -> Call[Health]:
    return Call("GET", "/health", model(Health))


def catalog() -> Call[Catalog]:
    return Call("GET", "/catalog", model(Catalog))


# -- prompts ---------------------------------------------------------------------------------


def list_prompts(
    project: str | None, tag: str | None, team: str | None, group: str | None,
    search: str | None, limit: int, offset: int,
) -> Call[Page[Prompt]]:  # fmt: skip
    params = _query(project=project, tag=tag, team=team, group=group, search=search,
                    limit=limit, offset=offset)  # fmt: skip
    return Call("GET", "/prompts", page(Prompt), params=params)


def get_prompt(name: str, project: str | None) -> Call[Prompt]:
    return Call("GET", f"/prompts/{_seg(name)}", model(Prompt), params=_query(project=project))


def deployed_prompt(name: str, label: str, project: str | None) -> Call[PromptVersion]:
    """`GET /prompts/{name}?label=` answers the version the label points at."""
    return Call("GET", f"/prompts/{_seg(name)}", model(PromptVersion),
                params=_query(label=label, project=project))  # fmt: skip


@_checked
def create_prompt(
    name: str, template: str | list[dict[str, Any]], config: dict[str, Any] | None,
    project: str | None, description: str, tags: Sequence[str], group: str | None,
    message: str,
) -> Call[Prompt]:  # fmt: skip
    body = PromptCreate(name=name, template=template, config=config, project=project,
                        description=description, tags=list(tags), group=group,
                        message=message)  # fmt: skip
    return Call("POST", "/prompts", model(Prompt), json=_body(body))


@_checked
def create_prompt_version(
    name: str, template: str | list[dict[str, Any]], config: dict[str, Any] | None,
    message: str, project: str | None,
) -> Call[PromptVersion]:  # fmt: skip
    body = PromptVersionCreate(template=template, config=config, message=message)
    return Call("POST", f"/prompts/{_seg(name)}/versions", model(PromptVersion),
                params=_query(project=project), json=_body(body))  # fmt: skip


def list_prompt_versions(
    name: str, project: str | None, limit: int, offset: int
) -> Call[Page[PromptVersion]]:
    return Call("GET", f"/prompts/{_seg(name)}/versions", page(PromptVersion),
                params=_query(project=project, limit=limit, offset=offset))  # fmt: skip


def get_prompt_version(name: str, version: int, project: str | None) -> Call[PromptVersion]:
    return Call("GET", f"/prompts/{_seg(name)}/versions/{_seg(version)}", model(PromptVersion),
                params=_query(project=project))  # fmt: skip


@_checked
def set_label(name: str, label: str, version: int, project: str | None) -> Call[Prompt]:
    return Call("PUT", f"/prompts/{_seg(name)}/labels/{_seg(label)}", model(Prompt),
                params=_query(project=project),
                json=_body(LabelSet(version=version)))  # fmt: skip


def delete_label(name: str, label: str, project: str | None) -> Call[None]:
    return Call("DELETE", f"/prompts/{_seg(name)}/labels/{_seg(label)}", nothing,
                params=_query(project=project))  # fmt: skip


@_checked
def set_prompt_tags(name: str, tags: Sequence[str], project: str | None) -> Call[Prompt]:
    return Call("PUT", f"/prompts/{_seg(name)}/tags", model(Prompt),
                params=_query(project=project), json=_body(TagsSet(tags=list(tags))))  # fmt: skip


def diff_prompt_versions(name: str, a: int, b: int, project: str | None) -> Call[dict[str, Any]]:
    return Call("GET", f"/prompts/{_seg(name)}/diff", json_object,
                params=_query(a=a, b=b, project=project))  # fmt: skip


# -- datasets --------------------------------------------------------------------------------


@_checked
def create_dataset(
    name: str, rows: Sequence[dict[str, Any]], project: str | None, description: str,
    tags: Sequence[str], message: str,
) -> Call[Dataset]:  # fmt: skip
    body = DatasetCreate(name=name, rows=list(rows), project=project, description=description,
                         tags=list(tags), message=message)  # fmt: skip
    return Call("POST", "/datasets", model(Dataset), json=_body(body))


def upload_dataset(
    file: str | os.PathLike[str] | bytes, name: str, filename: str | None,
    project: str | None, description: str | None,
) -> Call[Dataset]:  # fmt: skip
    if isinstance(file, bytes):
        content = file
        filename = filename or f"{name}{_sniff_suffix(file)}"
    else:
        path = Path(file)
        content = path.read_bytes()  # read once: a retry must send the same bytes again
        filename = filename or path.name
    media = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    form = _query(name=name, project=project, description=description)
    return Call("POST", "/datasets/upload", model(Dataset),
                files={"file": (filename, content, media)}, data=form)  # fmt: skip


def _sniff_suffix(content: bytes) -> str:
    """A file name suffix for raw bytes, since the server picks the parser by suffix."""
    head = content.lstrip()[:1]
    if head == b"[":
        return ".json"
    if head == b"{":
        return ".jsonl"
    return ".csv"


def list_datasets(
    project: str | None, search: str | None, limit: int, offset: int
) -> Call[Page[Dataset]]:
    params = _query(project=project, search=search, limit=limit, offset=offset)
    return Call("GET", "/datasets", page(Dataset), params=params)


def get_dataset(name: str, project: str | None) -> Call[Dataset]:
    return Call("GET", f"/datasets/{_seg(name)}", model(Dataset), params=_query(project=project))


def dataset_rows(
    name: str, version: int | None, split: str | None, project: str | None, limit: int,
    offset: int,
) -> Call[Page[dict[str, Any]]]:  # fmt: skip
    params = _query(version=version, split=split, project=project, limit=limit, offset=offset)
    return Call("GET", f"/datasets/{_seg(name)}/rows", raw_page, params=params)


def delete_dataset(name: str, project: str | None) -> Call[None]:
    return Call("DELETE", f"/datasets/{_seg(name)}", nothing, params=_query(project=project))


@_checked
def derive_dataset(
    source: str, name: str, split: str | None, search: str | None,
    metadata: dict[str, Any] | None, project: str | None,
) -> Call[Dataset]:  # fmt: skip
    body = DatasetDerive(name=name, split=split, search=search, metadata=metadata)
    return Call("POST", f"/datasets/{_seg(source)}/derive", model(Dataset),
                params=_query(project=project), json=_body(body))  # fmt: skip


# -- profiles --------------------------------------------------------------------------------


def list_profiles(project: str | None) -> Call[Page[Profile]]:
    return Call("GET", "/profiles", page(Profile), params=_query(project=project))


@_checked
def create_profile(
    name: str, provider_id: str, config: dict[str, Any] | None, label: str | None,
    project: str | None,
) -> Call[Profile]:  # fmt: skip
    body = ProfileCreate(name=name, provider_id=provider_id, config=config or {}, label=label,
                         project=project)  # fmt: skip
    return Call("POST", "/profiles", model(Profile), json=_body(body))


# -- runs ------------------------------------------------------------------------------------


def list_runs(limit: int, offset: int) -> Call[Page[Run]]:
    return Call("GET", "/runs", page(Run), params=_query(limit=limit, offset=offset))


def get_run(run_id: str) -> Call[Run]:
    return Call("GET", f"/runs/{_seg(run_id)}", model(Run))


def run_trials(
    run_id: str, status: str | None, limit: int, offset: int
) -> Call[Page[dict[str, Any]]]:
    return Call("GET", f"/runs/{_seg(run_id)}/trials", raw_page,
                params=_query(status=status, limit=limit, offset=offset))  # fmt: skip


def run_report(run_id: str, format: str) -> Call[str]:
    return Call("GET", f"/runs/{_seg(run_id)}/report", text, params={"format": format})


def compare_runs(a: str, b: str, alpha: float | None) -> Call[dict[str, Any]]:
    return Call("GET", "/compare", json_object, params=_query(a=a, b=b, alpha=alpha))


# -- jobs ------------------------------------------------------------------------------------


def start_job(kind: str, body: dict[str, Any]) -> Call[JobCreated]:
    """POST /api/{kind}; the body goes as given (a newer server may accept more fields)."""
    if kind not in JOB_KINDS:
        raise ValueError(f"kind must be one of {', '.join(JOB_KINDS)}, not {kind!r}")
    return Call("POST", f"/{kind}", model(JobCreated), json=body)


@_checked
def job_request(**fields: Any) -> dict[str, Any]:
    """A JobRequest body, checked here so that a misspelt field (or option) fails before the
    round trip."""
    if fields.get("options") is not None:
        JobOptions.model_validate(fields["options"])  # sent as given: the server checks again
    return _body(JobRequest(**fields))


def evaluate(
    config: dict[str, Any] | None, project: str | None, prompt: str | None,
    providers: Sequence[str | dict[str, Any]] | None, dataset: str | None,
    inject_vars: dict[str, Any] | None, options: dict[str, Any] | None,
    description: str | None,
) -> Call[JobCreated]:  # fmt: skip
    """An `evaluate` job from a config or from registry references."""
    body = job_request(
        config=config, project=project, prompt=prompt,
        providers=list(providers) if providers is not None else None, dataset=dataset,
        inject_vars=inject_vars, options=options, description=description,
    )  # fmt: skip
    return start_job("evaluate", body)


def get_job(job_id: str) -> Call[JobDetail]:
    return Call("GET", f"/jobs/{_seg(job_id)}", model(JobDetail))


def list_jobs(
    kind: str | None, status: str | None, project: str | None, limit: int, offset: int
) -> Call[Page[Job]]:
    return Call("GET", "/jobs", page(Job), params=_query(kind=kind, status=status,
                project=project, limit=limit, offset=offset))  # fmt: skip


def cancel_job(job_id: str) -> Call[CancelResult]:
    return Call("POST", f"/jobs/{_seg(job_id)}/cancel", model(CancelResult))


def resume_job(job_id: str) -> Call[JobCreated]:
    return Call("POST", f"/jobs/{_seg(job_id)}/resume", model(JobCreated))


def events_path(job_id: str) -> str:
    return f"/jobs/{_seg(job_id)}/events"


# -- optimizations ---------------------------------------------------------------------------


def _items(cls: type[M]) -> Callable[[httpx.Response], list[M]]:
    """A parser for an answer that is a bare JSON list of `cls`."""
    parse = page(cls)
    return lambda response: parse(response).items


def list_optimizers() -> Call[list[OptimizerInfo]]:
    return Call("GET", "/optimizers", _items(OptimizerInfo))


@_checked
def optimize_request(**fields: Any) -> dict[str, Any]:
    """An OptimizeRequest body, checked here so that a misspelt budget fails before sending."""
    return _body(OptimizeRequest(**fields))


def optimize(**fields: Any) -> Call[JobCreated]:
    """An `optimize` job: the OptimizeRequest's fields, checked before sending."""
    return start_job("optimize", optimize_request(**fields))


def _optimization(job_id: str) -> str:
    return f"/optimizations/{_seg(job_id)}"


def get_optimization(job_id: str) -> Call[Optimization]:
    return Call("GET", _optimization(job_id), model(Optimization))


def list_iterations(job_id: str, order: str) -> Call[list[Iteration]]:
    return Call("GET", f"{_optimization(job_id)}/iterations", _items(Iteration),
                params={"order": order})  # fmt: skip


def best_iteration(job_id: str) -> Call[Iteration]:
    return Call("GET", f"{_optimization(job_id)}/best", model(Iteration))


@_checked
def save_iteration(
    job_id: str, name: str | None, label: str | None, step: int | None, message: str | None
) -> Call[SavedVersion]:
    body = SaveIteration(name=name, label=label, step=step, message=message)
    return Call("POST", f"{_optimization(job_id)}/save", model(SavedVersion), json=_body(body))


# -- tokens ----------------------------------------------------------------------------------


@_checked
def create_token(name: str, scopes: Sequence[str], kind: str) -> Call[TokenCreated]:
    body = TokenCreate.model_validate({"name": name, "scopes": list(scopes), "kind": kind})
    return Call("POST", "/tokens", model(TokenCreated), json=_body(body))


def list_tokens() -> Call[Page[Token]]:
    return Call("GET", "/tokens", page(Token))


def revoke_token(token_id: str) -> Call[None]:
    return Call("DELETE", f"/tokens/{_seg(token_id)}", nothing)
