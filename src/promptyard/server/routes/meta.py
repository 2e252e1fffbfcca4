"""Health and the catalog (what selectors in the UI and SDK offer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from promptyard_client.models import Catalog, Health

from promptyard.server.auth import require

router = APIRouter(tags=["meta"])


@router.get("/health", operation_id="health", response_model=Health)
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/providers", operation_id="list_providers", dependencies=[Depends(require("read"))])
def providers() -> dict[str, Any]:
    """The provider id prefixes this server can run (`prefix:model`)."""
    from promptyard.providers import known_prefixes

    return {"prefixes": known_prefixes()}


@router.get("/catalog", operation_id="catalog", response_model=Catalog,
            dependencies=[Depends(require("read"))])  # fmt: skip
def catalog(request: Request) -> dict[str, Any]:
    from promptyard.providers import known_prefixes
    from promptyard.scorers import assertion_types

    projects = _projects(request.app.state.store.registry)
    scorers = [
        {"name": t.name, "description": t.description, "needs_model": t.needs_model,
         "takes_threshold": t.takes_threshold, "negatable": t.negatable}
        for t in assertion_types()
    ]  # fmt: skip
    return {"projects": projects, "scorers": scorers, "providers": known_prefixes()}


def _projects(registry: Any) -> list[dict[str, Any]]:
    """Each project with its prompts, datasets and profiles (names and latest versions); the
    registry entries without a project are listed under `null`."""
    prompts, _ = registry.list_prompts(limit=500, offset=0)
    datasets, _ = registry.list_datasets(limit=500, offset=0)
    profiles = registry.list_profiles()
    described = {p.name: p.to_dict() for p in registry.list_projects()}
    names = set(described) | {x.project for x in [*prompts, *datasets, *profiles] if x.project}
    out = []
    for name in [*sorted(names), None]:
        entry: dict[str, Any] = dict(described.get(name or "", {"name": name}))
        entry["prompts"] = [
            {"name": p.name, "latest_version": p.latest_version, "labels": p.labels}
            for p in prompts if p.project == name
        ]  # fmt: skip
        entry["datasets"] = [
            {"name": d.name, "latest_version": d.latest_version, "row_count": d.row_count}
            for d in datasets if d.project == name
        ]  # fmt: skip
        entry["profiles"] = [
            {"name": p.name, "provider_id": p.provider_id} for p in profiles if p.project == name
        ]
        if name is not None or entry["prompts"] or entry["datasets"] or entry["profiles"]:
            out.append(entry)
    return out
