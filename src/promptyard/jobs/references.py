"""Turn a job's registry references (prompt version or label, dataset, profiles, live vars)
into the same config a promptyard.yaml holds, so one engine path runs both kinds of job."""

from __future__ import annotations

import json
from typing import Any

from promptyard.errors import ConfigError, PromptyardError


def config_from_registry(registry: Any, body: Any) -> dict[str, Any]:
    """`body` is a promptyard_client JobRequest without `config`."""
    if not body.prompt:
        raise ConfigError("give `config`, or a `prompt` reference (name, name@3, name:label)",
                          field="prompt")  # fmt: skip
    if not body.providers:
        raise ConfigError("give at least one provider id or profile name", field="providers")
    version = registry.resolve_prompt(body.prompt, project=body.project)
    template = version.template
    raw = template if isinstance(template, str) else json.dumps(template)
    label = f"{version.name}@{version.version}"
    prompt: dict[str, Any] = {"raw": raw, "label": label, "id": label}
    inject = dict(body.inject_vars or {})
    if body.dataset:
        rows, _ = registry.dataset_rows(body.dataset, project=body.project, limit=None)
        tests = [_test(row, inject) for row in rows]
        if not tests:
            raise ConfigError(f"dataset {body.dataset!r} has no rows", field="dataset")
    else:
        tests = [{"vars": inject}]
    config: dict[str, Any] = {
        "description": body.description or f"{label} on {body.dataset or 'inline vars'}",
        "prompts": [prompt],
        "providers": [provider_entry(registry, p, body.project) for p in body.providers],
        "tests": tests,
    }
    if version.config:
        config["defaultTest"] = {"options": dict(version.config.get("options") or {})}
    return config


def _test(row: Any, inject: dict[str, Any]) -> dict[str, Any]:
    data = row.to_dict() if hasattr(row, "to_dict") else dict(row)
    test: dict[str, Any] = {"vars": {**(data.get("vars") or {}), **inject}}
    if data.get("assert"):
        test["assert"] = data["assert"]
    if data.get("description"):
        test["description"] = data["description"]
    metadata = dict(data.get("metadata") or {})
    if data.get("expected") is not None:
        metadata["expected"] = data["expected"]
    if metadata:
        test["metadata"] = metadata
    if data.get("split"):
        test["split"] = data["split"]
    return test


def provider_entry(
    registry: Any, ref: str | dict[str, Any], project: str | None, field: str = "providers"
) -> Any:
    """A profile name becomes its provider entry; anything else is a provider id or entry."""
    if isinstance(ref, dict):
        return ref
    if ":" not in ref and ref not in ("echo",):
        try:
            profile = registry.get_profile(ref, project=project)
        except PromptyardError:
            raise ConfigError(f"{ref!r} is neither a provider id (provider:model) nor a profile",
                              field=field) from None  # fmt: skip
        entry: dict[str, Any] = {"id": profile.provider_id, "config": dict(profile.config)}
        if profile.label:
            entry["label"] = profile.label
        return entry
    return ref
