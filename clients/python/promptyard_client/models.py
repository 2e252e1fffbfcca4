"""The wire models: request and response bodies of the Promptyard HTTP API.

Owned here, in the SDK, and imported by the server, so both sides agree on one definition.
Responses allow extra fields (a newer server may add some); requests forbid them, so that a
typo in a body is a 422 naming the field instead of being ignored.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

JobKind = Literal["run", "evaluate", "optimize"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
EventType = Literal["trial", "scoring", "step", "proposal", "error", "end"]
Scope = Literal["read", "write", "admin"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted"})


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(_Response, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Health(_Response):
    status: str


class ErrorBody(_Response):
    detail: Any


# -- jobs ------------------------------------------------------------------------------------


class JobRequest(_Request):
    """Start a job: a self-contained `config` (promptyard.yaml as JSON), or references into the
    registry (`prompt` is `name`, `name@3` or `name:production`; `providers` are provider ids
    or profile names; `dataset` a dataset name)."""

    config: dict[str, Any] | None = None
    project: str | None = None
    prompt: str | None = None
    providers: list[str | dict[str, Any]] | None = None
    dataset: str | None = None
    inject_vars: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    description: str | None = None
    # optimize jobs: the optimizer (only "instruct" so far) and its proposer model
    optimizer: str | None = None
    proposer: str | dict[str, Any] | None = None


class JobCreated(_Response):
    job_id: str


class Job(_Response):
    id: str
    kind: JobKind
    status: JobStatus
    project: str | None = None
    run_id: str | None = None
    error: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class JobEvent(_Response):
    """One event of a job, as stored and as streamed (SSE `data:`)."""

    seq: int
    job_id: str
    step_index: int = 0
    type: EventType
    payload: dict[str, Any] = Field(default_factory=dict)


class JobDetail(_Response):
    """A job replayed: its manifest, every event so far, and the summary (null while it runs)."""

    job: Job
    manifest: dict[str, Any]
    events: list[JobEvent]
    summary: dict[str, Any] | None = None


class CancelResult(_Response):
    job_id: str
    status: JobStatus


# -- runs ------------------------------------------------------------------------------------


class Run(_Response):
    id: str
    project: str | None = None
    description: str = ""
    status: str
    created_at: str
    finished_at: str | None = None
    trial_count: int = 0
    summary: dict[str, Any] | None = None


# -- registry --------------------------------------------------------------------------------


class PromptCreate(_Request):
    name: str = Field(min_length=1, max_length=200)
    template: str | list[dict[str, Any]]
    config: dict[str, Any] | None = None
    project: str | None = None
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    group: str | None = None
    message: str = ""


class PromptVersionCreate(_Request):
    template: str | list[dict[str, Any]]
    config: dict[str, Any] | None = None
    message: str = ""


class PromptVersion(_Response):
    name: str  # the prompt's (qualified) name
    project: str | None = None
    version: int
    template: str | list[dict[str, Any]]
    config: dict[str, Any] = Field(default_factory=dict)
    content_hash: str
    author: str | None = None
    message: str = ""
    created_at: str


class Prompt(_Response):
    id: str
    name: str
    project: str | None = None
    team: str | None = None
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    group: str | None = None
    latest_version: int
    labels: dict[str, int] = Field(default_factory=dict)
    created_at: str
    updated_at: str


class LabelSet(_Request):
    version: int = Field(ge=1)


class TagsSet(_Request):
    tags: list[str]


class DatasetCreate(_Request):
    name: str = Field(min_length=1, max_length=200)
    rows: list[dict[str, Any]]
    project: str | None = None
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    message: str = ""


class Dataset(_Response):
    id: str
    name: str
    project: str | None = None
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    latest_version: int
    row_count: int
    splits: dict[str, int] = Field(default_factory=dict)
    created_at: str
    updated_at: str


class DatasetDerive(_Request):
    name: str = Field(min_length=1, max_length=200)
    split: str | None = None
    search: str | None = None
    metadata: dict[str, Any] | None = None


class ProfileCreate(_Request):
    name: str = Field(min_length=1, max_length=200)
    provider_id: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    project: str | None = None


class Profile(_Response):
    id: str
    name: str
    provider_id: str
    label: str | None = None
    project: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: str


class Catalog(_Response):
    projects: list[dict[str, Any]]
    scorers: list[dict[str, Any]]
    providers: list[str]


# -- tokens ----------------------------------------------------------------------------------


def _read_only() -> list[Scope]:
    return ["read"]


class TokenCreate(_Request):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default_factory=_read_only)
    kind: Literal["personal", "service"] = "personal"


class Token(_Response):
    id: str
    name: str
    kind: str
    scopes: list[str]
    prefix: str
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None


class TokenCreated(Token):
    """The one answer that carries the secret: it is not stored and cannot be shown again."""

    secret: str
