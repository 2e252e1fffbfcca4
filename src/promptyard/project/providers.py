"""The `providers` key (promptfoo's `targets` too) and our `profiles`.

Accepted forms: an id string; `{id, label, config}`; promptfoo's provider map
`{"openai:gpt-4.1": {label, config}}`; `file://providers.yaml` holding one provider or a list.
A profile is a named provider: `profiles: {fast: {id, label, config}}`. A provider entry names
one as `fast`, `{profile: fast, config: ...}` or `{id: fast, ...}`; it gets the profile's id,
label and config, with its own config keys laid over the profile's (a shallow merge).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from promptyard.core.plan import runs_prompt
from promptyard.core.types import PromptTemplate, ProviderSpec
from promptyard.project.files import FILE_PREFIX, LoadContext
from promptyard.project.source import Path, Source, suggest, type_name

PROVIDER_KEYS = ("id", "label", "config", "profile", "prompts")
PROFILE_KEYS = ("id", "label", "config")
PROVIDER_UNSUPPORTED = {
    "transform": "provider output transforms are not supported yet; use options.transform",
    "delay": "per-provider delay is not supported yet; use evaluateOptions.delay",
    "env": "per-provider env is not supported; set environment variables",
    "inputs": "provider inputs are not supported",
}
_CONFIG_FILE_EXTENSIONS = frozenset({".yaml", ".yml", ".json"})


@dataclass(slots=True)
class Profile:
    id: str
    label: str | None
    config: dict[str, Any]


def load_profiles(value: Any, src: Source, path: Path) -> dict[str, Profile]:
    if value is None:
        return {}
    src.expect(value, dict, "a mapping of profile names to {id, label, config}", path)
    profiles = {}
    for name, body in value.items():
        at = (*path, str(name))
        if isinstance(body, str):
            body = {"id": body}
        src.expect(body, dict, "a mapping with `id`", at)
        src.check_keys(body, at, PROFILE_KEYS)
        pid = body.get("id")
        if not isinstance(pid, str) or not pid:
            src.fail("a profile needs a provider `id` string", (*at, "id"))
        label = body.get("label")
        if label is not None:
            src.expect(label, str, "a string", (*at, "label"))
        config = body.get("config") or {}
        src.expect(config, dict, "a mapping", (*at, "config"))
        profiles[str(name)] = Profile(pid, label, dict(config))
    return profiles


def _spec(
    body: dict[str, Any],
    profiles: dict[str, Profile],
    src: Source,
    at: Path,
) -> ProviderSpec:
    src.check_keys(body, at, PROVIDER_KEYS, PROVIDER_UNSUPPORTED)
    label = body.get("label")
    if label is not None:
        src.expect(label, str, "a string", (*at, "label"))
    config = body.get("config") or {}
    src.expect(config, dict, "a mapping", (*at, "config"))
    prompts = _prompt_names(body.get("prompts"), src, (*at, "prompts"))
    profile_name = body.get("profile")
    pid = body.get("id")
    if profile_name is not None:
        src.expect(profile_name, str, "a profile name", (*at, "profile"))
        if profile_name not in profiles:
            src.fail(
                f'unknown profile "{profile_name}"{suggest(profile_name, profiles)}',
                (*at, "profile"),
            )
        if pid is not None:
            src.fail("give either `profile` or `id`, not both", (*at, "id"))
    elif isinstance(pid, str) and pid in profiles:
        profile_name = pid
    if profile_name is not None:
        profile = profiles[profile_name]
        return ProviderSpec(
            id=profile.id,
            label=label or profile.label or profile_name,
            config={**profile.config, **config},
            where=src.where(at),
            prompts=prompts,
        )
    if not isinstance(pid, str) or not pid.strip():
        src.fail("a provider needs an `id` string such as openai:gpt-4.1-mini", (*at, "id"))
    return ProviderSpec(
        id=pid, label=label, config=dict(config), where=src.where(at), prompts=prompts
    )


def _prompt_names(value: Any, src: Source, at: Path) -> list[str] | None:
    """promptfoo's `prompts` on a provider: the prompt labels or ids it runs."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            src.fail(f"expected a prompt label or id, got {type_name(item)}", (*at, i))
    return [str(item) for item in items]


def check_provider_prompts(
    providers: list[ProviderSpec], prompts: list[PromptTemplate], src: Source, path: Path
) -> None:
    """Each name in a provider's `prompts` must match a prompt (a typo would run nothing)."""
    for provider in providers:
        for name in provider.prompts or ():
            if not any(runs_prompt(ProviderSpec(provider.id, prompts=[name]), p) for p in prompts):
                labels = sorted({p.label for p in prompts})
                src.fail(
                    f'{provider.where}: provider "{provider.name}" lists prompt "{name}", which'
                    f" is no prompt's label or id{suggest(name, labels)}",
                    path,
                )


def _entry(
    item: Any,
    profiles: dict[str, Profile],
    ctx: LoadContext,
    src: Source,
    at: Path,
    depth: int,
) -> list[ProviderSpec]:
    if isinstance(item, str):
        ext = os.path.splitext(item)[1].lower()
        if item.startswith(FILE_PREFIX) and ext in _CONFIG_FILE_EXTENSIONS:
            if depth > 0:
                src.fail("a provider file may not name another provider file", at)
            out = []
            for full in ctx.resolve(item, src, at, "providers"):
                data, file_src = ctx.read_structured(full, src, at)
                items = data if isinstance(data, list) else [data]
                for i, sub in enumerate(items):
                    sub_at: Path = (i,) if isinstance(data, list) else ()
                    out.extend(_entry(sub, profiles, ctx, file_src, sub_at, depth + 1))
            return out
        if not item.strip():
            src.fail("a provider id may not be empty", at)
        if item in profiles:
            return [_spec({"profile": item}, profiles, src, at)]
        return [ProviderSpec(id=item, where=src.where(at))]
    if isinstance(item, dict):
        if len(item) == 1 and next(iter(item)) not in PROVIDER_KEYS:
            # promptfoo's provider map: {"openai:gpt-4.1": {label, config}}
            ((pid, body),) = item.items()
            body = {} if body is None else body
            src.expect(body, dict, "a mapping (label, config)", (*at, str(pid)))
            # promptfoo: an `id` inside the body wins over the key (providerObject.id || key)
            return [_spec({"id": str(pid), **body}, profiles, src, (*at, str(pid)))]
        return [_spec(item, profiles, src, at)]
    src.fail(f"a provider must be an id string or a mapping, got {type_name(item)}", at)


def load_providers(
    value: Any,
    profiles: dict[str, Profile],
    ctx: LoadContext,
    src: Source,
    path: Path,
) -> list[ProviderSpec]:
    if value is None:
        src.fail("no providers: add a `providers` list such as [openai:gpt-4.1-mini]", path)
    items = value if isinstance(value, list) else [value]
    providers: list[ProviderSpec] = []
    for i, item in enumerate(items):
        at = (*path, i) if isinstance(value, list) else path
        providers.extend(_entry(item, profiles, ctx, src, at, 0))
    if not providers:
        src.fail("no providers: the `providers` list is empty", path)
    return providers
