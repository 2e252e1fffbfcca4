"""The registry's records: frozen snapshots of rows, each with to_dict() for JSON answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptyard.store.part import json_ready


@dataclass(frozen=True, slots=True)
class PromptRecord:
    """A prompt with its newest version number and its labels ({label: version})."""

    id: str
    project: str | None
    name: str
    team: str | None
    description: str
    tags: tuple[str, ...]
    group: str | None
    created_at: str
    updated_at: str
    latest_version: int
    labels: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


@dataclass(frozen=True, slots=True)
class PromptVersionRecord:
    """One immutable version of a prompt; `template` is a string or a list of messages."""

    prompt_id: str
    project: str | None
    name: str
    version: int
    template: Any
    config: dict[str, Any]
    content_hash: str
    author: str | None
    message: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    """A dataset with its newest version number and that version's row count."""

    id: str
    project: str | None
    name: str
    description: str
    tags: tuple[str, ...]
    created_at: str
    updated_at: str
    latest_version: int
    row_count: int
    splits: dict[str, int] = field(default_factory=dict)  # rows per split, newest version

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


@dataclass(frozen=True, slots=True)
class DatasetVersionRecord:
    """One immutable version of a dataset; `derived_from` is the filter that made it."""

    dataset_id: str
    project: str | None
    name: str
    version: int
    content_hash: str
    row_count: int
    author: str | None
    message: str
    created_at: str
    derived_from: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """A test case. `asserts` is the `assert` field (a Python keyword); to_dict says `assert`."""

    idx: int
    vars: dict[str, Any]
    asserts: list[dict[str, Any]]
    expected: Any
    split: str | None
    metadata: dict[str, Any]
    description: str | None

    def to_dict(self) -> dict[str, Any]:
        d = json_ready(self)
        d["assert"] = d.pop("asserts")
        return d

    def case(self) -> dict[str, Any]:
        """The row as the six row fields, the shape create_dataset takes."""
        return {k: v for k, v in self.to_dict().items() if k != "idx"}


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """A named provider with its config; secrets appear only as env var names."""

    id: str
    project: str | None
    name: str
    provider_id: str
    label: str | None
    config: dict[str, Any]
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """A namespace of prompts, datasets and profiles; `root` is the folder it came from."""

    name: str
    description: str
    root: str | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)
