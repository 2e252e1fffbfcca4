"""Runs and trials built in memory for the report writers' tests (no store needed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.types import Assertion, GradingResult, TokenUsage, TrialResult

HOSTILE = "</script><script>alert(1)</script> ]]> a|b \x00\x01\x1b\x7f tail"


@dataclass
class FakeRun:
    id: str = "run-0001"
    description: str = "Triage | checks"
    status: str = "succeeded"
    created_at: str = "2026-01-02T03:04:05+00:00"
    finished_at: str | None = "2026-01-02T03:05:00+00:00"
    summary: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    prompts: list[dict[str, Any]] = field(default_factory=list)
    providers: list[dict[str, Any]] = field(default_factory=list)


def verdict(kind: str, passed: bool, reason: str) -> GradingResult:
    return GradingResult(passed, 1.0 if passed else 0.0, reason, assertion=Assertion(type=kind))


def trial(
    index: int,
    *,
    case: int,
    prompt: str = "p1",
    provider: str = "stub",
    sample: int = 0,
    output: Any = "ok",
    passed: bool = True,
    reasons: tuple[str, ...] = ("bad",),
    error: str | None = None,
    description: str | None = None,
) -> TrialResult:
    components = [verdict("contains", True, "Output contains ok")]
    components += [verdict("equals", False, r) for r in ([] if passed else reasons)]
    grading = None
    if error is None:
        grading = GradingResult(
            passed,
            1.0 if passed else 0.5,
            "All assertions passed" if passed else reasons[0],
            component_results=components,
        )
    return TrialResult(
        run_id="run-0001",
        index=index,
        case_index=case,
        case_id=f"c{case}",
        prompt_id=prompt,
        prompt_label=f"label {prompt}",
        provider_id=provider,
        provider_label=f"{provider} model",
        sample=sample,
        description=description,
        vars={"word": f"w{case}"},
        prompt=f"Say w{case}",
        output=None if error else output,
        error=error,
        grading=grading,
        success=passed and error is None,
        score=1.0 if passed and error is None else 0.5,
        latency_ms=250.0 + index,
        cost=0.001,
        usage=TokenUsage(prompt=3, completion=2, total=5),
    )


def summary_for(trials: list[TrialResult], *, ci: bool = False) -> dict[str, Any]:
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for t in trials:
        p = pairs.setdefault(
            (t.prompt_id, t.provider_id),
            {
                "prompt_id": t.prompt_id,
                "prompt_label": t.prompt_label,
                "provider_id": t.provider_id,
                "provider_label": t.provider_label,
                "total": 0,
                "passed": 0,
                "failed": 0,
                "errors": 0,
                "mean_score": 0.75,
                "tokens": {"prompt": 0, "completion": 0, "total": 0},
                "cost": 0.0,
                "latency_ms": {"p50": 251.4, "p95": 987.6},
            },
        )
        p["total"] += 1
        p["errors" if t.error else "passed" if t.success else "failed"] += 1
        p["tokens"]["total"] += t.usage.total
        p["cost"] += t.cost or 0.0
    for p in pairs.values():
        p["pass_rate"] = p["passed"] / p["total"]
        if ci:
            p["pass_rate_ci"] = [0.1234, 0.8766]
    total = len(trials)
    passed = sum(t.success for t in trials)
    errors = sum(t.error is not None for t in trials)
    return {
        "pairs": list(pairs.values()),
        "total": total,
        "passed": passed,
        "failed": total - passed - errors,
        "errors": errors,
        "pass_rate": passed / total if total else 0.0,
        "cost": sum(t.cost or 0.0 for t in trials),
        "tokens": sum(t.usage.total for t in trials),
    }


def mixed_trials() -> list[TrialResult]:
    """Two prompts x one provider, interleaved case by case as the plan orders them."""
    out = [
        trial(0, case=0, prompt="p1", description="first | case"),
        trial(1, case=0, prompt="p2", passed=False, reasons=("Expected nope", "second\nline")),
        trial(2, case=1, prompt="p1", error="HTTP 500 from stub"),
        trial(3, case=1, prompt="p2", output=HOSTILE, passed=False, reasons=(HOSTILE,)),
        trial(4, case=2, prompt="p1", output={"json": ["value"]}),
        trial(5, case=2, prompt="p2"),
    ]
    return out


def make_run(trials: list[TrialResult], *, ci: bool = False) -> FakeRun:
    return FakeRun(
        summary=summary_for(trials, ci=ci),
        prompts=[{"id": "p1", "label": "label p1"}, {"id": "p2", "label": "label p2"}],
        providers=[{"id": "stub", "label": "stub model"}],
    )


def many_trials(n: int) -> Iterator[TrialResult]:
    """`n` trials over 2 prompts x 2 providers, one in 7 failing, one in 50 errored."""
    for i in range(n):
        case, rest = divmod(i, 4)
        yield trial(
            i,
            case=case,
            prompt=f"p{rest // 2}",
            provider=f"prov{rest % 2}",
            output=f"answer number {i} " * 8,
            passed=i % 7 != 0,
            reasons=(f"Expected output to contain 'x{i}'",),
            error="timeout after 60s" if i % 50 == 49 else None,
            description=f"case {case} about topic {case % 13}",
        )
