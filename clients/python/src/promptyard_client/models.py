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


class JobOptions(_Request):
    """The `options` of a run or evaluate job: overrides on top of the config. Unknown keys
    are refused (the server answers 400 naming the field), not ignored."""

    max_concurrency: int | None = Field(default=None, ge=1)
    repeat: int | None = Field(default=None, ge=1)
    cache: bool | None = None
    filter_pattern: str | None = None
    filter_first_n: int | None = Field(default=None, ge=1)
    description: str | None = None


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
    options: dict[str, Any] | None = None  # JobOptions, checked by the server (400) and the SDK
    description: str | None = None


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
    owner: str | None = None  # the server process running it (or that ran it last)

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


# -- optimizations ---------------------------------------------------------------------------


class Budgets(_Request):
    """Caps on one optimization: task, judge and proposer spend together."""

    max_cost_usd: float | None = Field(default=None, ge=0)
    max_calls: int | None = Field(default=None, ge=0)
    max_seconds: float | None = Field(default=None, gt=0)


class OptimizeRequest(_Request):
    """Start an optimization: a `config` with one prompt, or registry references (`prompt`
    as name, name@3 or name:label; `dataset`; `model`, the target provider id or profile).
    `options` are the loop's settings (docs/optimize.md); `hyperparameters` the optimizer's,
    as GET /api/optimizers lists them."""

    config: dict[str, Any] | None = None
    project: str | None = None
    prompt: str | None = None
    dataset: str | None = None
    model: str | dict[str, Any] | None = None
    proposer_model: str | dict[str, Any] | None = None
    optimizer: str = "instruct"
    hyperparameters: dict[str, Any] | None = None
    budgets: Budgets | None = None
    options: dict[str, Any] | None = None
    description: str | None = None
    proposer: str | dict[str, Any] | None = None  # an older name for proposer_model


class OptimizerParam(_Response):
    name: str
    type: str
    default: Any = None
    description: str = ""
    range: list[float | None] | None = None
    choices: list[str] | None = None


class OptimizerInfo(_Response):
    name: str
    description: str
    needs_proposer: bool
    params: list[OptimizerParam]


class Iteration(_Response):
    """One candidate of an optimization: its prompt, scores, cost, parent and decision."""

    optimization_id: str
    step: int
    parent: int | None = None
    prompt: str
    train_score: float | None = None
    val_score: float | None = None
    test_score: float | None = None
    accepted: bool
    cost_usd: float = 0.0
    decision: dict[str, Any] | None = None


class Optimization(_Response):
    """An optimization job: its status, its result once finished (best prompt, test scores
    with intervals, spend, why it stopped) and its best iteration so far."""

    job: Job
    optimizer: str | None = None
    result: dict[str, Any] | None = None
    best: Iteration | None = None
    iterations: int = 0


class SaveIteration(_Request):
    """Save an iteration's prompt as a new version of `name` (default: the prompt the job
    started from) and optionally point `label` at it."""

    name: str | None = None
    label: str | None = None
    step: int | None = None  # default: the best iteration
    message: str | None = None


class SavedVersion(_Response):
    name: str
    version: int
    label: str | None = None
    step: int


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

    def render(self, **variables: Any) -> str | list[dict[str, Any]]:
        """The template filled with `variables`: text for a text prompt, a new list of
        messages for a chat prompt. Supports `{{ name }}`, `{{ name.attr }}`, `{{ name[0] }}`
        and `{# comments #}` (no filters or tags: promptyard_client._render says exactly
        what); an undefined name raises TemplateRenderError naming it."""
        from promptyard_client._render import render_template

        return render_template(self.template, variables)


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
