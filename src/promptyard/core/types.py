"""The plain data every layer passes around. Pure: no I/O, dataclasses with slots for speed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Assertion:
    """One assertion as written in a config (promptfoo keys).

    `type` keeps the spelling of the config, e.g. "not-icontains"; scorers parse the prefix.
    `where` locates it for error messages, e.g. "promptyard.yaml: tests[2].assert[0]".
    """

    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = 1.0
    metric: str | None = None
    transform: str | None = None
    provider: Any = None
    config: dict[str, Any] = field(default_factory=dict)
    assertions: list[Assertion] = field(default_factory=list)  # children of an assert-set
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The assertion in promptfoo's shape (for reports and the store)."""
        out: dict[str, Any] = {"type": self.type}
        if self.value is not None:
            out["value"] = self.value
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.weight != 1.0:
            out["weight"] = self.weight
        if self.metric:
            out["metric"] = self.metric
        if self.transform:
            out["transform"] = self.transform
        if self.config:
            out["config"] = self.config
        if self.assertions:
            out["assert"] = [a.to_dict() for a in self.assertions]
        return out


@dataclass(slots=True)
class TestCase:
    """One test case after defaultTest is merged in and array vars are expanded."""

    __test__ = False  # not a pytest class

    vars: dict[str, Any] = field(default_factory=dict)
    assertions: list[Assertion] = field(default_factory=list)
    description: str | None = None
    threshold: float | None = None
    # promptfoo's `options`: transform (applied to the output before assertions), provider
    # (grading provider), prefix/suffix, and anything else passed through.
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    where: str = ""  # "tests.csv: row 3" for error messages
    # Why this test cannot run (a promptfoo config's per-test problem, e.g. an unknown
    # assertion type): the engine records its trials as errored without calling the model.
    error: str | None = None
    # promptfoo's `providerOutput`: graded instead of calling the provider (no call, no cost).
    provider_output: Any = None

    @property
    def label(self) -> str:
        """How a person names this case in a message."""
        return self.description or self.where or repr(self.vars)[:60]


@dataclass(slots=True)
class PromptTemplate:
    """A prompt: raw template text, or a list of chat messages whose contents are templates.

    `text` is always set (for chat prompts, the JSON of the messages) so that it can be hashed
    and shown. promptfoo's JSON-string chat prompts stay text and are parsed after rendering.
    """

    id: str
    label: str
    text: str
    messages: list[dict[str, Any]] | None = None
    source: str = ""  # file the prompt came from, for messages
    # A prompt function (promptfoo's file://prompt.py:fn), called per trial instead of
    # rendering `text`: (test, provider id, provider label) -> (text, messages). Set by
    # project.prompts; raises TemplateError.
    function: Any = None
    # promptfoo's per-prompt `config`: laid over each provider's config for this prompt's
    # trials (a shallow merge; the prompt's keys win). None: the providers' own config.
    config: dict[str, Any] | None = None


@dataclass(slots=True)
class ProviderSpec:
    """A provider as configured: id like "openai:gpt-4.1-mini", an optional label, config."""

    id: str
    label: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    where: str = ""
    # promptfoo's `providers[].prompts`: the labels or ids of the prompts this provider runs
    # (None: every prompt). A name also matches labels that start with "name:".
    prompts: list[str] | None = None

    @property
    def name(self) -> str:
        return self.label or self.id


@dataclass(slots=True)
class EvalOptions:
    max_concurrency: int = 4  # promptfoo's default
    repeat: int = 1
    delay_ms: int = 0
    cache: bool = True
    timeout_s: float = 60.0
    max_retries: int = 4


@dataclass(slots=True)
class EvalSpec:
    """A whole evaluation, fully loaded and validated: what the engine runs."""

    prompts: list[PromptTemplate]
    providers: list[ProviderSpec]
    tests: list[TestCase]
    description: str = ""
    options: EvalOptions = field(default_factory=EvalOptions)
    base_dir: str = "."  # relative file:// paths resolve against this
    config_path: str | None = None
    raw_config: dict[str, Any] = field(default_factory=dict)
    # A promptfoo config: a problem confined to one test errors that test (TestCase.error),
    # where a promptyard.yaml fails fast.
    errored_tests: bool = False
    # Weighted KPIs (scorers.kpi.Kpi, parsed by the composition root) and the run's gate.
    kpis: list[Any] = field(default_factory=list)
    kpi_threshold: float | None = None


@dataclass(slots=True)
class CompletionRequest:
    """What a provider is asked. `messages` is OpenAI chat format; `prompt` the rendered text."""

    prompt: str
    messages: list[dict[str, Any]]
    vars: dict[str, Any] = field(default_factory=dict)
    sample: int = 0
    timeout_s: float = 60.0


@dataclass(slots=True)
class TokenUsage:
    prompt: int = 0
    completion: int = 0
    total: int = 0
    cached: int = 0

    def add(self, other: TokenUsage) -> None:
        self.prompt += other.prompt
        self.completion += other.completion
        self.total += other.total
        self.cached += other.cached

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt": self.prompt,
            "completion": self.completion,
            "total": self.total,
            "cached": self.cached,
        }


@dataclass(slots=True)
class Completion:
    """A provider's answer. `cost` is USD (None when no price is known); `raw` the body."""

    output: Any
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost: float | None = None
    latency_ms: float = 0.0
    finish_reason: str | None = None
    logprobs: list[float] | None = None
    model: str | None = None
    raw: Any = None
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "usage": self.usage.to_dict(),
            "cost": self.cost,
            "latency_ms": self.latency_ms,
            "finish_reason": self.finish_reason,
            "logprobs": self.logprobs,
            "model": self.model,
            "raw": self.raw,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, cached: bool = False) -> Completion:
        return cls(
            output=data.get("output"),
            usage=TokenUsage(**data.get("usage") or {}),
            cost=data.get("cost"),
            latency_ms=data.get("latency_ms") or 0.0,
            finish_reason=data.get("finish_reason"),
            logprobs=data.get("logprobs"),
            model=data.get("model"),
            raw=data.get("raw"),
            cached=cached,
        )


@dataclass(slots=True)
class GradingContext:
    """What an assertion sees: the raw output (the grader applies transforms) and its origin."""

    output: Any
    prompt: str
    vars: dict[str, Any]
    test: TestCase
    provider_id: str
    completion: Completion | None = None
    base_dir: str = "."


@dataclass(slots=True)
class GradingResult:
    """A verdict: pass, score 0..1 and a reason; for a test, its assertions' results too."""

    passed: bool
    score: float
    reason: str
    assertion: Assertion | None = None
    component_results: list[GradingResult] = field(default_factory=list)
    named_scores: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # set when a user's scorer or a judge failed rather than judged
    # Spend of the judge and embedding calls behind this verdict (a test's: all of them), kept
    # apart from the task's. cost is None when no call was priced; 0.0 for cached calls.
    tokens_used: TokenUsage | None = None
    cost: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # judge prompt, raw reply, ...

    def to_dict(self) -> dict[str, Any]:
        """promptfoo's gradingResult shape."""
        out: dict[str, Any] = {"pass": self.passed, "score": self.score, "reason": self.reason}
        if self.assertion is not None:
            out["assertion"] = self.assertion.to_dict()
        if self.component_results:
            out["componentResults"] = [c.to_dict() for c in self.component_results]
        if self.named_scores:
            out["namedScores"] = dict(self.named_scores)
        if self.error:
            out["error"] = self.error
        if self.tokens_used is not None:
            out["tokensUsed"] = self.tokens_used.to_dict()
        if self.cost is not None:
            out["cost"] = self.cost
        if self.metadata:
            out["metadata"] = self.metadata
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradingResult:
        a = data.get("assertion")
        return cls(
            passed=bool(data.get("pass")),
            score=float(data.get("score") or 0.0),
            reason=str(data.get("reason") or ""),
            assertion=_assertion_from_dict(a) if a else None,
            component_results=[cls.from_dict(c) for c in data.get("componentResults") or []],
            named_scores=dict(data.get("namedScores") or {}),
            error=data.get("error"),
            tokens_used=TokenUsage(**data["tokensUsed"]) if data.get("tokensUsed") else None,
            cost=data.get("cost"),
            metadata=dict(data.get("metadata") or {}),
        )


def _assertion_from_dict(data: dict[str, Any]) -> Assertion:
    return Assertion(
        type=data["type"],
        value=data.get("value"),
        threshold=data.get("threshold"),
        weight=data.get("weight", 1.0),
        metric=data.get("metric"),
        transform=data.get("transform"),
        config=data.get("config") or {},
        assertions=[_assertion_from_dict(c) for c in data.get("assert") or []],
    )


@dataclass(slots=True)
class TrialResult:
    """One (prompt, provider, case, sample) call and its grading; the unit the store keeps."""

    run_id: str
    index: int  # position in the plan; stable across re-runs of the same spec
    case_index: int
    case_id: str  # content hash of the case, to pair trials across runs
    prompt_id: str
    prompt_label: str
    provider_id: str
    provider_label: str
    sample: int
    description: str | None
    vars: dict[str, Any]
    prompt: str  # rendered prompt text
    output: Any = None
    error: str | None = None  # provider or render failure on this trial
    grading: GradingResult | None = None
    success: bool = False
    score: float = 0.0
    latency_ms: float = 0.0
    cost: float | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    cached: bool = False
    raw: Any = None
    created_at: str = ""  # UTC ISO-8601
    kpis: dict[str, Any] | None = None  # {values, errors, score} when the spec has KPIs
