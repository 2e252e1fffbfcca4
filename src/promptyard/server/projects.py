"""Import the projects under the projects root into the registry (at start-up): prompts as
versions (unchanged ones make none), test cases as the dataset `tests`, profiles. A project
that fails to load is logged and skipped; the server still starts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from promptyard.errors import NotFound, PromptyardError
from promptyard.project.snapshot import DATASET, ProjectSnapshot, snapshot

log = logging.getLogger("promptyard.server")
AUTHOR = "import"


def import_projects(root: str, registry: Any) -> list[str]:
    """Names of the projects imported from `root`'s sub-folders that hold a config."""
    from promptyard.library import load_spec
    from promptyard.project import find_config

    imported: list[str] = []
    base = Path(root)
    if not base.is_dir():
        return imported
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        try:
            find_config(folder)
        except PromptyardError:
            continue  # not a project
        try:
            save_snapshot(registry, snapshot(load_spec(folder), name=folder.name))
        except (PromptyardError, ValueError) as exc:
            log.warning("project %s not imported: %s", folder.name, exc)
            continue
        imported.append(folder.name)
    return imported


def save_snapshot(registry: Any, snap: ProjectSnapshot) -> None:
    project = snap.name
    registry.upsert_project(project, description=snap.description, root=snap.root)
    for name, template in snap.prompts.items():
        try:
            registry.get_prompt(name, project=project)
        except NotFound:
            registry.create_prompt(name, project=project, template=template, author=AUTHOR,
                                   message=f"imported from {snap.root}")  # fmt: skip
        else:
            registry.add_prompt_version(
                name,
                project=project,
                template=template,
                config=None,
                author=AUTHOR,
                message=f"imported from {snap.root}",
            )
    try:
        registry.get_dataset(DATASET, project=project)
    except NotFound:
        registry.create_dataset(DATASET, snap.rows, project=project, author=AUTHOR,
                                message="imported test cases")  # fmt: skip
    else:
        registry.add_dataset_version(DATASET, snap.rows, project=project, author=AUTHOR,
                                     message="imported test cases")  # fmt: skip
    for name, profile in snap.profiles.items():
        try:
            registry.get_profile(name, project=project)
        except NotFound:
            registry.create_profile(name, profile["id"], config=profile["config"],
                                    label=profile.get("label"), project=project)  # fmt: skip
    for why in snap.skipped:
        log.warning("project %s: %s", project, why)
