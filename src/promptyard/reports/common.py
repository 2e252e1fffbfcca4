"""Small helpers the report writers share: naming a case, the text of an output, why it failed."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from promptyard.core.types import GradingResult, TrialResult


def output_text(value: Any) -> str:
    """A trial's output as text: strings as they are, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def case_name(trial: TrialResult, *, with_sample: bool = False) -> str:
    """How a report names a trial's case: its description, else "case N" (0-based, like
    `tests[N]` in messages), plus the sample when the run repeated cases."""
    name = trial.description or f"case {trial.case_index}"
    if with_sample:
        name += f" [sample {trial.sample}]"
    return name


def status(trial: TrialResult) -> str:
    """The trial's verdict: "error" (provider or render failed), "pass" or "fail"."""
    if trial.error is not None:
        return "error"
    return "pass" if trial.success else "fail"


def failure_reasons(trial: TrialResult) -> list[str]:
    """The reason of every failed assertion (leaves of assert-sets), else the test's reason."""
    grading = trial.grading
    if grading is None or grading.passed:
        return []
    found: list[str] = []
    _collect(grading.component_results, found)
    if not found and grading.reason:
        found.append(grading.reason)
    return found


def _collect(results: list[GradingResult], found: list[str]) -> None:
    for result in results:
        if result.passed:
            continue
        if result.component_results:
            before = len(found)
            _collect(result.component_results, found)
            if len(found) > before:
                continue
        found.append(result.reason or result.error or "failed")


def peek_repeated(trials: Iterable[TrialResult]) -> tuple[bool, Iterator[TrialResult]]:
    """Whether the run sampled cases more than once, and the trials, still all of them.

    The plan puts a case's samples next to each other, so the second trial tells.
    """
    it = iter(trials)
    head = list(itertools.islice(it, 2))
    repeated = any(t.sample > 0 for t in head)
    return repeated, itertools.chain(head, it)


def pair_title(prompt_label: str, provider_label: str) -> str:
    return f"{prompt_label} × {provider_label}"


def format_ci(value: Any) -> str:
    """A pass-rate confidence interval as "lo–hi%" from [lo, hi] or {low, high}; "" if unknown."""
    lo = hi = None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = value
    elif isinstance(value, dict):
        lo = next((value[k] for k in ("low", "lo", "lower") if k in value), None)
        hi = next((value[k] for k in ("high", "hi", "upper") if k in value), None)
    if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
        return ""
    return f"{100 * lo:.1f}–{100 * hi:.1f}%"


def one_line(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
