"""Provider profiles (secrets only by environment variable name) and API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from promptyard_client.models import Profile, ProfileCreate, Token, TokenCreate, TokenCreated

from promptyard.server.auth import require

router = APIRouter()
Admin = Depends(require("admin"))


@router.get("/profiles", operation_id="list_profiles", response_model=list[Profile],
            tags=["profiles"], dependencies=[Depends(require("read"))])  # fmt: skip
def list_profiles(request: Request, project: str | None = None) -> list[Any]:
    return [p.to_dict() for p in request.app.state.store.registry.list_profiles(project=project)]


@router.post("/profiles", operation_id="create_profile", status_code=201,
             response_model=Profile, tags=["profiles"],
             dependencies=[Depends(require("write"))])  # fmt: skip
def create_profile(body: ProfileCreate, request: Request) -> dict[str, Any]:
    record = request.app.state.store.registry.create_profile(
        body.name, body.provider_id, config=body.config, label=body.label, project=body.project
    )
    out: dict[str, Any] = record.to_dict()
    return out


@router.get("/tokens", operation_id="list_tokens", response_model=list[Token],
            tags=["tokens"], dependencies=[Admin])  # fmt: skip
def list_tokens(request: Request) -> list[Any]:
    return [t.to_dict() for t in request.app.state.store.tokens.list()]


@router.post("/tokens", operation_id="create_token", status_code=201,
             response_model=TokenCreated, tags=["tokens"], dependencies=[Admin])  # fmt: skip
def create_token(body: TokenCreate, request: Request) -> dict[str, Any]:
    """The secret is in this answer only; the server keeps its hash."""
    record, secret = request.app.state.store.tokens.create(
        body.name, scopes=list(body.scopes), kind=body.kind
    )
    return {**record.to_dict(), "secret": secret}


@router.delete("/tokens/{token_id}", operation_id="revoke_token", status_code=204,
               tags=["tokens"], dependencies=[Admin])  # fmt: skip
def revoke_token(token_id: str, request: Request) -> Response:
    request.app.state.store.tokens.revoke(token_id)
    return Response(status_code=204)
