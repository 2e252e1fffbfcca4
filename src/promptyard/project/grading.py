"""Config keys about grading: `judge_profile` and named `metrics` (DeepEval-style G-Eval).

- `judge_profile`: a profile name or provider id (or `{id, config}`): the judge of every
  model-graded assertion whose test names no `options.provider`.
- `metrics: [{name, criteria, threshold, evaluation_steps, weight}]`: each becomes a `g-eval`
  assertion with `metric: name` on every test, so its score shows as a named score.
- A test's `options.provider` that names a profile gets the profile's id and config.
"""

from __future__ import annotations

from typing import Any

from promptyard.core.types import Assertion, TestCase
from promptyard.project.providers import Profile
from promptyard.project.source import Path, Source

METRIC_KEYS = ("name", "criteria", "threshold", "evaluation_steps", "weight")
DEFAULT_METRIC_THRESHOLD = 0.5  # DeepEval's G-Eval default


def judge_ref(value: Any, profiles: dict[str, Profile], src: Source, path: Path) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return _profile_ref(value, profiles)
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value
    src.fail("expected a profile name, a provider id or a mapping with `id`", path)


def _profile_ref(name: str, profiles: dict[str, Profile]) -> Any:
    profile = profiles.get(name)
    if profile is None:
        return name
    return {"id": profile.id, "label": profile.label, "config": dict(profile.config)}


def load_metrics(value: Any, src: Source, path: Path) -> list[Assertion]:
    if value is None:
        return []
    items = src.expect(value, list, "a list of {name, criteria, threshold}", path)
    out: list[Assertion] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        at = (*path, i)
        src.expect(item, dict, "a mapping with `name` and `criteria`", at)
        src.check_keys(item, at, METRIC_KEYS)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            src.fail("a metric needs a `name` string", (*at, "name"))
        if name in seen:
            src.fail(f"metric {name!r} is defined twice", (*at, "name"))
        seen.add(name)
        criteria = item.get("criteria")
        if not isinstance(criteria, str) or not criteria.strip():
            src.fail("a metric needs its `criteria` as text", (*at, "criteria"))
        threshold = DEFAULT_METRIC_THRESHOLD
        if item.get("threshold") is not None:
            threshold = src.number(item["threshold"], (*at, "threshold"))
            if not 0 <= threshold <= 1:
                src.fail("expected a number from 0 to 1", (*at, "threshold"))
        weight = 1.0
        if item.get("weight") is not None:
            weight = src.number(item["weight"], (*at, "weight"))
        steps = item.get("evaluation_steps")
        if steps is not None:
            src.expect(steps, list, "a list of steps (text)", (*at, "evaluation_steps"))
            if not steps or not all(isinstance(s, str) and s.strip() for s in steps):
                src.fail("expected a non-empty list of steps (text)", (*at, "evaluation_steps"))
        out.append(
            Assertion(
                type="g-eval",
                value=criteria,
                threshold=threshold,
                weight=weight,
                metric=name,
                config={"evaluation_steps": steps} if steps else {},
                where=src.where(at),
            )
        )
    return out


def apply_grading(
    tests: list[TestCase], judge: Any, metrics: list[Assertion], profiles: dict[str, Profile]
) -> None:
    """Give every test the named metrics and its judge (its own, a profile's, or the config's)."""
    for test in tests:
        if metrics:
            test.assertions = [*test.assertions, *metrics]
        provider = test.options.get("provider")
        if isinstance(provider, str) and provider in profiles:
            test.options = {**test.options, "provider": _profile_ref(provider, profiles)}
        elif provider is None and judge is not None:
            test.options = {**test.options, "provider": judge}
