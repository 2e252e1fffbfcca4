"""Prompts: versions (immutable, numbered, content-hashed), labels (deploy = move a label),
tags and groups, diffs between versions, and the runs of a prompt's versions."""

from __future__ import annotations

import difflib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from promptyard_client.models import (
    LabelSet,
    Page,
    Prompt,
    PromptCreate,
    PromptVersion,
    PromptVersionCreate,
    TagsSet,
)

from promptyard.server.auth import Caller, require
from promptyard.server.routes import MAX_INT

router = APIRouter(tags=["prompts"])
Read = Depends(require("read"))


def _registry(request: Request) -> Any:
    return request.app.state.store.registry


@router.get("/prompts", operation_id="list_prompts", response_model=Page[Prompt],
            dependencies=[Read])  # fmt: skip
def list_prompts(
    request: Request,
    project: str | None = None,
    tag: str | None = None,
    team: str | None = None,
    group: str | None = None,
    search: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> dict[str, Any]:
    items, total = _registry(request).list_prompts(
        project=project, tag=tag, team=team, group=group, search=search, limit=limit,
        offset=offset,
    )  # fmt: skip
    return {"items": [p.to_dict() for p in items], "total": total, "limit": limit,
            "offset": offset}  # fmt: skip


@router.post("/prompts", operation_id="create_prompt", status_code=201, response_model=Prompt)
def create_prompt(
    body: PromptCreate, request: Request, caller: Annotated[Caller, Depends(require("write"))]
) -> dict[str, Any]:
    record = _registry(request).create_prompt(
        body.name, project=body.project, template=body.template, config=body.config,
        description=body.description, tags=body.tags, group=body.group,
        author=caller.token_id, message=body.message,
    )  # fmt: skip
    out: dict[str, Any] = record.to_dict()
    return out


@router.get("/prompts/{name}", operation_id="get_prompt", dependencies=[Read])
def get_prompt(
    name: str,
    request: Request,
    project: str | None = None,
    label: str | None = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> dict[str, Any]:
    """The prompt; with `label` (e.g. production) or `version`, that version's content: what
    production code fetches to run the deployed prompt."""
    registry = _registry(request)
    if label is None and version is None:
        out: dict[str, Any] = registry.get_prompt(name, project=project).to_dict()
        return out
    ref = f"{name}:{label}" if label is not None else f"{name}@{version}"
    resolved: dict[str, Any] = registry.resolve_prompt(ref, project=project).to_dict()
    return resolved


@router.get("/prompts/{name}/versions", operation_id="list_prompt_versions",
            response_model=list[PromptVersion], dependencies=[Read])  # fmt: skip
def list_versions(name: str, request: Request, project: str | None = None) -> list[Any]:
    return [v.to_dict() for v in _registry(request).list_prompt_versions(name, project=project)]


@router.post("/prompts/{name}/versions", operation_id="create_prompt_version",
             response_model=PromptVersion)  # fmt: skip
def create_version(
    name: str,
    body: PromptVersionCreate,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(require("write"))],
    project: str | None = None,
) -> dict[str, Any]:
    """A new version (201), or the latest one (200) when the content is unchanged."""
    record, created = _registry(request).add_prompt_version(
        name, project=project, template=body.template, config=body.config,
        author=caller.token_id, message=body.message,
    )  # fmt: skip
    response.status_code = 201 if created else 200
    out: dict[str, Any] = record.to_dict()
    return out


@router.get("/prompts/{name}/versions/{version}", operation_id="get_prompt_version",
            response_model=PromptVersion, dependencies=[Read])  # fmt: skip
def get_version(name: str, version: Annotated[int, Path(ge=1, le=MAX_INT)], request: Request,
                project: str | None = None) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = (
        _registry(request).get_prompt_version(name, version, project=project).to_dict()
    )
    return out


@router.get("/prompts/{name}/diff", operation_id="diff_prompt_versions", dependencies=[Read])
def diff_versions(
    name: str,
    request: Request,
    a: Annotated[int, Query(ge=1, le=MAX_INT)],
    b: Annotated[int, Query(ge=1, le=MAX_INT)],
    project: str | None = None,
) -> dict[str, Any]:
    registry = _registry(request)
    old = registry.get_prompt_version(name, a, project=project)
    new = registry.get_prompt_version(name, b, project=project)
    # Lines without their endings, joined with "\n": a last line without a newline must not
    # run into the next diff line ("-old+new").
    lines = difflib.unified_diff(
        _text(old.template).splitlines(),
        _text(new.template).splitlines(),
        fromfile=f"{name}@{a}",
        tofile=f"{name}@{b}",
        lineterm="",
    )
    config_changed = (old.config or {}) != (new.config or {})
    diff = "\n".join(lines)
    return {"a": a, "b": b, "diff": diff + "\n" if diff else "", "config_changed": config_changed}


@router.get("/prompts/{name}/runs", operation_id="list_prompt_runs", dependencies=[Read])
def list_runs(
    name: str,
    request: Request,
    project: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> dict[str, Any]:
    """The runs of this prompt's versions (jobs that ran `name`, `name@N` or `name:label`),
    newest first, each with the prompt's pass rate and cost in it: its history."""
    store = request.app.state.store
    store.registry.get_prompt(name, project=project)  # 404 for an unknown prompt
    items, total = store.prompt_runs.list(name, project=project, limit=limit, offset=offset)
    return {"items": [r.to_dict() for r in items], "total": total, "limit": limit,
            "offset": offset}  # fmt: skip


def _text(template: Any) -> str:
    if isinstance(template, str):
        return template
    return json.dumps(template, indent=2, ensure_ascii=False) + "\n"


@router.put("/prompts/{name}/labels/{label}", operation_id="set_prompt_label",
            response_model=Prompt)  # fmt: skip
def set_label(
    name: str,
    label: str,
    body: LabelSet,
    request: Request,
    caller: Annotated[Caller, Depends(require("write"))],
    project: str | None = None,
) -> dict[str, Any]:
    """Deploy: point `label` at `version`."""
    registry = _registry(request)
    registry.set_label(name, label, body.version, project=project, by=caller.token_id)
    out: dict[str, Any] = registry.get_prompt(name, project=project).to_dict()
    return out


@router.delete("/prompts/{name}/labels/{label}", operation_id="delete_prompt_label",
               status_code=204, dependencies=[Depends(require("write"))])  # fmt: skip
def delete_label(name: str, label: str, request: Request, project: str | None = None) -> Response:
    _registry(request).delete_label(name, label, project=project)
    return Response(status_code=204)


@router.put("/prompts/{name}/tags", operation_id="set_prompt_tags", response_model=Prompt,
            dependencies=[Depends(require("write"))])  # fmt: skip
def set_tags(name: str, body: TagsSet, request: Request,
             project: str | None = None) -> dict[str, Any]:  # fmt: skip
    registry = _registry(request)
    registry.set_prompt_tags(name, body.tags, project=project)
    out: dict[str, Any] = registry.get_prompt(name, project=project).to_dict()
    return out
