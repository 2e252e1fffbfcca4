"""Test-level grading with promptfoo's rules (its AssertionsResult):

- the score is the weighted mean of the assertion scores (0 when the weights sum to 0);
- the test passes when no assertion failed, and the reason is the last failure's reason;
- a numeric test `threshold` overrides that: pass iff score >= threshold;
- a metric's named score is the weighted mean of the scores of the assertions naming it, plus
  any named scores an assertion reports itself (weight 1 each, or an assert-set's own weights
  for its children's metrics, times the assertion's weight);
- component results are flattened one level: an assert-set's result, then its children.
"""

from __future__ import annotations

from promptyard.core.types import Assertion, GradingResult, TokenUsage


class Aggregate:
    """Accumulates assertion results for one test or one assert-set."""

    __slots__ = ("_components", "_cost", "_failed", "_named", "_named_weight", "_score",
                 "_threshold", "_tokens", "_weight")  # fmt: skip

    def __init__(self, threshold: float | None = None) -> None:
        self._threshold = threshold
        self._score = 0.0
        self._weight = 0.0
        self._failed: str | None = None
        self._components: list[tuple[int, GradingResult]] = []
        self._named: dict[str, float] = {}
        self._named_weight: dict[str, float] = {}
        self._tokens: TokenUsage | None = None  # judge spend, summed over the components
        self._cost: float | None = None

    @property
    def named_weights(self) -> dict[str, float]:
        """Total weight behind each named score (promptfoo's namedScoreWeights); an assert-set
        passes these up so its children's metric weights carry into the test's named scores."""
        return dict(self._named_weight)

    def add(
        self,
        index: int,
        result: GradingResult,
        *,
        metric: str | None,
        weight: float,
        named_weights: dict[str, float] | None = None,
    ) -> None:
        self._score += result.score * weight
        self._weight += weight
        self._components.append((index, result))
        if result.tokens_used is not None:
            if self._tokens is None:
                self._tokens = TokenUsage()
            self._tokens.add(result.tokens_used)
        if result.cost is not None:
            self._cost = (self._cost or 0.0) + result.cost
        named, named_weight = self._named, self._named_weight
        if metric:
            named[metric] = named.get(metric, 0.0) + result.score * weight
            named_weight[metric] = named_weight.get(metric, 0.0) + weight
        for name, score in result.named_scores.items():
            if name != metric:
                incoming = (named_weights or {}).get(name, 1.0) * weight
                named[name] = named.get(name, 0.0) + score * incoming
                named_weight[name] = named_weight.get(name, 0.0) + incoming
        if not result.passed:
            self._failed = result.reason

    def result(self, assertion: Assertion | None = None) -> GradingResult:
        score = self._score / self._weight if self._weight > 0 else 0.0
        passed = self._failed is None
        reason = self._failed or "All assertions passed"
        threshold = self._threshold
        if isinstance(threshold, (int, float)) and threshold == threshold:  # not None, not NaN
            passed = score >= threshold
            reason = f"Aggregate score {score:.2f} {'≥' if passed else '<'} {threshold:g} threshold"
        flat: list[GradingResult] = []
        for _, component in sorted(self._components, key=lambda item: item[0]):
            flat.append(component)
            if component.component_results:
                flat.extend(component.component_results)
        named = {
            name: (total / self._named_weight[name] if self._named_weight[name] > 0 else 0.0)
            for name, total in self._named.items()
        }
        return GradingResult(
            passed=passed,
            score=score,
            reason=reason,
            assertion=assertion,
            component_results=flat,
            named_scores=named,
            tokens_used=self._tokens,
            cost=self._cost,
        )
