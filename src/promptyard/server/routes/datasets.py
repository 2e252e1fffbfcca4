"""Datasets: create from rows or an uploaded file (CSV/JSONL/JSON/YAML, with row-level
errors), versions, splits, rows, derive a dataset from a filter, delete.

Uploads and rows are held to the server's limits (TrustPolicy.limits): bytes, rows, nesting
depth, and YAML aliases expanded, checked before any row is built (server/limits.py)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from promptyard_client.models import Dataset, DatasetCreate, DatasetDerive, Page

from promptyard.server import limits as caps
from promptyard.server.auth import Caller, require
from promptyard.server.routes import MAX_INT
from promptyard.trust.limits import data_depth_path
from promptyard.trust.policy import Limits

router = APIRouter(tags=["datasets"])
Read = Depends(require("read"))
UPLOAD_TYPES = (".csv", ".jsonl", ".json", ".yaml", ".yml")


def _registry(request: Request) -> Any:
    return request.app.state.store.registry


def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.trust.limits
    return limits


@router.get("/datasets", operation_id="list_datasets", response_model=Page[Dataset],
            dependencies=[Read])  # fmt: skip
def list_datasets(
    request: Request,
    project: str | None = None,
    search: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> dict[str, Any]:
    items, total = _registry(request).list_datasets(
        project=project, search=search, limit=limit, offset=offset
    )
    return {"items": [d.to_dict() for d in items], "total": total, "limit": limit,
            "offset": offset}  # fmt: skip


@router.post("/datasets", operation_id="create_dataset", status_code=201,
             response_model=Dataset)  # fmt: skip
def create_dataset(
    body: DatasetCreate, request: Request, caller: Annotated[Caller, Depends(require("write"))]
) -> dict[str, Any]:
    limits = _limits(request)
    caps.check_upload_rows(len(body.rows), "rows", limits)
    where = data_depth_path(body.rows, limits.max_depth - 1, root="rows")  # the body is one
    if where is not None:
        raise HTTPException(400, caps.depth_message(where, limits.max_depth))
    record = _registry(request).create_dataset(
        body.name, body.rows, project=body.project, description=body.description,
        tags=body.tags, author=caller.token_id, message=body.message,
    )  # fmt: skip
    out: dict[str, Any] = record.to_dict()
    return out


@router.post("/datasets/upload", operation_id="upload_dataset", status_code=201,
             response_model=Dataset)  # fmt: skip
async def upload_dataset(
    request: Request,
    caller: Annotated[Caller, Depends(require("write"))],
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    project: Annotated[str | None, Form()] = None,
    description: Annotated[str, Form()] = "",
) -> dict[str, Any]:
    """A new dataset, or a new version of an existing one, from a file."""
    from promptyard.project.datasets import read_rows

    filename = os.path.basename(file.filename or "")
    ext = os.path.splitext(filename)[1].lower()
    if ext not in UPLOAD_TYPES:
        raise HTTPException(400, f"upload a {', '.join(UPLOAD_TYPES)} file, not {filename!r}")
    limits = _limits(request)
    data = await file.read(limits.upload_max_bytes + 1)  # one byte more tells it is too big
    caps.check_upload_size(len(data), filename, limits)
    # Rows counted, depth and YAML aliases measured, before any row is built.
    await asyncio.to_thread(caps.check_upload, data, filename, limits)
    with tempfile.TemporaryDirectory() as tmp:
        # Under the sender's own file name (a basename, in a fresh folder): row errors name it.
        path = os.path.join(tmp, filename)
        with open(path, "wb") as fh:
            fh.write(data)
        rows = await asyncio.to_thread(read_rows, path, display_name=filename)
    caps.check_upload_rows(len(rows), filename, limits)
    registry = _registry(request)

    def save() -> Any:
        try:
            registry.get_dataset(name, project=project)
        except Exception as exc:
            if type(exc).__name__ != "NotFound":
                raise
            return registry.create_dataset(
                name,
                rows,
                project=project,
                description=description,
                author=caller.token_id,
                message=f"upload {filename}",
            )
        registry.add_dataset_version(name, rows, project=project, author=caller.token_id,
                                     message=f"upload {filename}")  # fmt: skip
        return registry.get_dataset(name, project=project)

    record = await asyncio.to_thread(save)
    out: dict[str, Any] = record.to_dict()
    return out


@router.get("/datasets/{name}", operation_id="get_dataset", response_model=Dataset,
            dependencies=[Read])  # fmt: skip
def get_dataset(name: str, request: Request, project: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = _registry(request).get_dataset(name, project=project).to_dict()
    return out


@router.get("/datasets/{name}/versions", operation_id="list_dataset_versions",
            dependencies=[Read])  # fmt: skip
def dataset_versions(name: str, request: Request, project: str | None = None) -> list[Any]:
    """Every version, newest first, with its row count, author and (if derived) its filter."""
    return [v.to_dict() for v in _registry(request).list_dataset_versions(name, project=project)]


@router.get("/datasets/{name}/rows", operation_id="list_dataset_rows", dependencies=[Read])
def dataset_rows(
    name: str,
    request: Request,
    project: str | None = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    split: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> dict[str, Any]:
    rows, total = _registry(request).dataset_rows(
        name, project=project, version=version, split=split, limit=limit, offset=offset
    )
    return {"items": [r.to_dict() for r in rows], "total": total, "limit": limit,
            "offset": offset}  # fmt: skip


@router.post("/datasets/{name}/derive", operation_id="derive_dataset", status_code=201,
             response_model=Dataset)  # fmt: skip
def derive_dataset(
    name: str,
    body: DatasetDerive,
    request: Request,
    caller: Annotated[Caller, Depends(require("write"))],
    project: str | None = None,
) -> dict[str, Any]:
    record = _registry(request).derive_dataset(
        name, body.name, project=project, split=body.split, metadata=body.metadata,
        search=body.search, author=caller.token_id,
    )  # fmt: skip
    out: dict[str, Any] = record.to_dict()
    return out


@router.delete("/datasets/{name}", operation_id="delete_dataset", status_code=204,
               dependencies=[Depends(require("write"))])  # fmt: skip
def delete_dataset(name: str, request: Request, project: str | None = None) -> Response:
    _registry(request).delete_dataset(name, project=project)
    return Response(status_code=204)
