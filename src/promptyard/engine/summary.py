"""Accumulate a run's summary as trials finish: per prompt x provider and in total."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.stats import bootstrap_mean_interval, percentile, wilson_interval
from promptyard.core.types import TrialResult


class KpiStats:
    """Running means of the trials' KPI results: the weighted score and each KPI's value."""

    __slots__ = ("counts", "errors", "score_n", "score_sum", "sums", "trials")

    def __init__(self) -> None:
        self.trials = 0
        self.score_sum = 0.0
        self.score_n = 0
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.errors: dict[str, int] = {}

    def add(self, kpis: dict[str, Any]) -> None:
        self.trials += 1
        if kpis.get("score") is not None:
            self.score_sum += kpis["score"]
            self.score_n += 1
        for name, value in (kpis.get("values") or {}).items():
            self.sums.setdefault(name, 0.0)
            self.counts.setdefault(name, 0)
            self.errors.setdefault(name, 0)
            if value is None:
                self.errors[name] += 1
            else:
                self.sums[name] += value
                self.counts[name] += 1

    def merge(self, other: KpiStats) -> None:
        self.trials += other.trials
        self.score_sum += other.score_sum
        self.score_n += other.score_n
        for name in other.sums:
            self.sums[name] = self.sums.get(name, 0.0) + other.sums[name]
            self.counts[name] = self.counts.get(name, 0) + other.counts[name]
            self.errors[name] = self.errors.get(name, 0) + other.errors[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score_sum / self.score_n if self.score_n else None,
            "values": {
                n: (self.sums[n] / self.counts[n] if self.counts[n] else None) for n in self.sums
            },
            "errors": dict(self.errors),
            "trials": self.trials,
        }


@dataclass(slots=True)
class PairStats:
    """Counts for one prompt x provider column of the results matrix."""

    prompt_id: str
    prompt_label: str
    provider_id: str
    provider_label: str
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    cached: int = 0
    score_sum: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    cost_unknown: int = 0  # trials whose provider has no known price
    judge_cost: float = 0.0  # judge and embedding calls of the graders, apart from the task's
    judge_tokens: int = 0
    judge_calls_unpriced: int = 0  # trials whose judge spend has no known price
    grading_errors: int = 0  # trials with an assertion that errored (e.g. an unreadable judge)
    latencies: list[float] = field(default_factory=list)
    scores: array[float] = field(default_factory=lambda: array("d"))  # for the score's CI
    flaky_count: int = 0  # set by SummaryBuilder before to_dict
    kpi: KpiStats | None = None  # when the run has KPIs
    named_sums: dict[str, float] | None = None  # sum of each named score (for derivedMetrics)

    def add(self, trial: TrialResult) -> None:
        self.total += 1
        if trial.error is not None:
            self.errors += 1
        elif trial.success:
            self.passed += 1
        else:
            self.failed += 1
        if trial.cached:
            self.cached += 1
        self.score_sum += trial.score
        self.scores.append(trial.score)
        self.prompt_tokens += trial.usage.prompt
        self.completion_tokens += trial.usage.completion
        self.total_tokens += trial.usage.total
        if trial.cost is None:
            if trial.error is None:
                self.cost_unknown += 1
        elif not trial.cached:  # a cached answer costs nothing this time
            self.cost += trial.cost
        if trial.error is None:
            self.latencies.append(trial.latency_ms)
        if trial.kpis is not None:
            if self.kpi is None:
                self.kpi = KpiStats()
            self.kpi.add(trial.kpis)
        grading = trial.grading
        if grading is not None:
            if self.named_sums is not None:
                for name, value in grading.named_scores.items():
                    self.named_sums[name] = self.named_sums.get(name, 0.0) + value
            if grading.tokens_used is not None:
                self.judge_tokens += grading.tokens_used.total
                if grading.cost is None:
                    self.judge_calls_unpriced += 1
            if grading.cost is not None:
                self.judge_cost += grading.cost
            if grading.error is not None or any(
                c.error is not None for c in grading.component_results
            ):
                self.grading_errors += 1

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "prompt_id": self.prompt_id,
            "prompt_label": self.prompt_label,
            "provider_id": self.provider_id,
            "provider_label": self.provider_label,
            "total": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "cached": self.cached,
            "pass_rate": self.passed / self.total if self.total else 0.0,
            "pass_rate_ci": list(wilson_interval(self.passed, self.total)),
            "mean_score": self.score_sum / self.total if self.total else 0.0,
            "mean_score_ci": self._score_ci(),
            "flaky_count": self.flaky_count,
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.total_tokens,
            },
            "cost": round(self.cost, 10),
            "cost_unknown": self.cost_unknown,
            "judge_cost": round(self.judge_cost, 10),
            "judge_tokens": self.judge_tokens,
            "judge_cost_unknown": self.judge_calls_unpriced,
            "total_cost": round(self.cost + self.judge_cost, 10),
            "grading_errors": self.grading_errors,
            "kpi": None if self.kpi is None else self.kpi.to_dict(),
            "latency_ms": {"p50": percentile(ordered, 50), "p95": percentile(ordered, 95)},
        }

    def _score_ci(self) -> list[float] | None:
        if not self.scores:
            return None
        if min(self.scores) == max(self.scores):  # nothing to resample (and no numpy import)
            return [self.scores[0], self.scores[0]]
        # Fewer resamples for big runs keeps the summary cheap (~0.1 s at 100,000 continuous
        # scores); the interval is narrow there, so fewer resamples lose little.
        resamples = max(100, min(2000, 10_000_000 // len(self.scores)))
        low, high = bootstrap_mean_interval(self.scores, resamples=resamples, seed=0)
        return [low, high]


class SummaryBuilder:
    """Folds finished trials into per-pair stats and tracks flaky cases across samples.

    `derived_metrics` is the config's promptfoo `derivedMetrics` list: each is evaluated per
    prompt x provider (and for the whole run) over the summed named scores (scorers/derived.py);
    a malformed list raises ConfigError here, before the run."""

    def __init__(self, *, repeat: int, derived_metrics: Any = None) -> None:
        self.pairs: dict[tuple[str, str], PairStats] = {}
        self._repeat = repeat
        self._verdicts: dict[tuple[int, str, str], set[bool]] = {}
        self._derived: list[Any] = []
        if derived_metrics is not None:
            from promptyard.scorers.derived import parse_derived_metrics

            self._derived = parse_derived_metrics(derived_metrics)

    def add(self, trial: TrialResult) -> None:
        key = (trial.prompt_id, trial.provider_label)
        stats = self.pairs.get(key)
        if stats is None:
            stats = self.pairs[key] = PairStats(
                trial.prompt_id, trial.prompt_label, trial.provider_id, trial.provider_label
            )
            if self._derived:
                stats.named_sums = {}
        stats.add(trial)
        if self._repeat > 1:
            flaky_key = (trial.case_index, trial.prompt_id, trial.provider_label)
            self._verdicts.setdefault(flaky_key, set()).add(trial.success)

    def flaky(self) -> list[dict[str, Any]]:
        """Cases whose verdict differs across samples."""
        return [
            {"case_index": case, "prompt_id": prompt, "provider": provider}
            for (case, prompt, provider), seen in sorted(self._verdicts.items())
            if len(seen) > 1
        ]

    def to_dict(self) -> dict[str, Any]:
        flaky = self.flaky()
        per_pair = Counter((f["prompt_id"], f["provider"]) for f in flaky)
        for key, stats in self.pairs.items():
            stats.flaky_count = per_pair[key]
        pairs = [p.to_dict() for p in self.pairs.values()]
        derived: dict[str, Any] = {}
        if self._derived:
            from promptyard.scorers.derived import evaluate_derived

            run_sums: dict[str, float] = {}
            for stats, out in zip(self.pairs.values(), pairs, strict=True):
                sums = stats.named_sums or {}
                for name, value in sums.items():
                    run_sums[name] = run_sums.get(name, 0.0) + value
                values, errors = evaluate_derived(self._derived, sums)
                out["named_scores"] = dict(sums)
                out["derived_metrics"] = values
                if errors:
                    out["derived_metric_errors"] = errors
            values, errors = evaluate_derived(self._derived, run_sums)
            derived = {"derived_metrics": values}
            if errors:
                derived["derived_metric_errors"] = errors
        kpi: KpiStats | None = None
        for stats in self.pairs.values():
            if stats.kpi is not None:
                kpi = kpi or KpiStats()
                kpi.merge(stats.kpi)
        total = sum(p["total"] for p in pairs)
        passed = sum(p["passed"] for p in pairs)
        return {
            "pairs": pairs,
            "total": total,
            "passed": passed,
            "failed": sum(p["failed"] for p in pairs),
            "errors": sum(p["errors"] for p in pairs),
            "pass_rate": passed / total if total else 0.0,
            # Spend kept apart and summed: the task's calls, the judges', and both.
            "cost": round(sum(p["cost"] for p in pairs), 10),
            "judge_cost": round(sum(p["judge_cost"] for p in pairs), 10),
            "total_cost": round(sum(p["total_cost"] for p in pairs), 10),
            "tokens": sum(p["tokens"]["total"] for p in pairs),
            "judge_tokens": sum(p["judge_tokens"] for p in pairs),
            "grading_errors": sum(p["grading_errors"] for p in pairs),
            "flaky": flaky,
            **({"kpi": kpi.to_dict()} if kpi is not None else {}),
            **derived,
        }
