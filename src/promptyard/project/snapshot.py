"""A project folder as registry content: its prompts, its test cases as a dataset, its
profiles. The server imports it at start-up and `promptyard push` sends it; both are
idempotent (unchanged prompts and datasets make no new version)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.secrets import find_secret
from promptyard.core.types import EvalSpec, PromptTemplate

DATASET = "tests"  # the name a project's test cases get in the registry
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(slots=True)
class ProjectSnapshot:
    name: str
    root: str
    description: str
    prompts: dict[str, Any] = field(default_factory=dict)  # name -> template (text or messages)
    rows: list[dict[str, Any]] = field(default_factory=list)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {id, config}
    skipped: list[str] = field(default_factory=list)  # what could not be carried, and why


def prompt_name(prompt: PromptTemplate, config_dir: str) -> str:
    """A registry name for a config prompt: a prompt file's stem, else its label made safe."""
    source = prompt.source or ""
    if source and os.path.isfile(os.path.join(config_dir, source)):
        return Path(source).stem
    name = _NOT_NAME.sub("-", prompt.label.strip().lower()).strip("-.")
    return name[:200] or prompt.id[:12]


def snapshot(spec: EvalSpec, *, name: str | None = None) -> ProjectSnapshot:
    root = spec.base_dir
    out = ProjectSnapshot(name or Path(root).resolve().name, root, spec.description)
    for prompt in spec.prompts:
        key = prompt_name(prompt, root)
        out.prompts[key] = prompt.messages if prompt.messages is not None else prompt.text
    for test in spec.tests:
        out.rows.append(
            {
                "description": test.description,
                "vars": test.vars,
                "assert": [a.to_dict() for a in test.assertions],
                "split": test.split,
                "metadata": test.metadata,
            }
        )
    for profile_name, body in (spec.raw_config.get("profiles") or {}).items():
        body = {"id": body} if isinstance(body, str) else body
        if not isinstance(body, dict):
            continue
        config = dict(body.get("config") or {})
        secret = find_secret(config)  # what the registry refuses to store (core.secrets)
        if secret is not None:
            out.skipped.append(f"profile {profile_name!r}: holds a secret ({secret})")
            continue
        out.profiles[str(profile_name)] = {"id": body.get("id"), "label": body.get("label"),
                                           "config": config}  # fmt: skip
    return out
