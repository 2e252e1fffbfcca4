"""promptfoo conformance: promptfoo-style configs run unchanged, and their rendered prompts and
verdicts are the ones promptfoo documents.

Each config in configs/ runs once through the library (`promptyard.evaluate`) with the echo
provider, which answers with the rendered prompt, so a test's output is its prompt and no
model is needed. expected.yaml holds what promptfoo does with each test, with the source of
each value beside it; a `known_difference` entry is an expected failure (strict), and a
`differs` entry is a deliberate difference that docs name.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptyard.errors import TemplateError
from promptyard.library import evaluate

HERE = Path(__file__).parent
CONFIGS = HERE / "configs"
EXPECTED: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (HERE / "expected.yaml").read_text(encoding="utf-8")
)


@dataclass(frozen=True)
class Outcome:
    trials: dict[str, Any]  # description -> TrialResult
    error: TemplateError | None


@functools.cache
def run_config(name: str) -> Outcome:
    """One run of a config (shared by its cases), in a throw-away store."""
    with tempfile.TemporaryDirectory(prefix="promptyard-conformance-") as tmp:
        try:
            result = evaluate(CONFIGS / name, database_url=f"sqlite:///{tmp}/runs.sqlite")
        except TemplateError as exc:
            return Outcome({}, exc)
    trials: dict[str, Any] = {}
    for trial in result.trials:
        assert trial.description not in trials, f"{name}: two trials for {trial.description!r}"
        trials[str(trial.description)] = trial
    return Outcome(trials, None)


def _cases() -> list[Any]:
    cases = []
    for config, entries in EXPECTED.items():
        for entry in entries:
            marks = []
            if entry.get("known_difference"):
                marks.append(pytest.mark.xfail(reason=entry["known_difference"], strict=True))
            cases.append(pytest.param(config, entry, id=f"{config}::{entry['test']}", marks=marks))
    return cases


def test_every_config_has_expectations_and_every_expectation_a_config() -> None:
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize(("config", "expected"), _cases())
def test_promptfoo_conformance(config: str, expected: dict[str, Any]) -> None:
    outcome = run_config(config)
    if "error" in expected:
        assert outcome.error is not None, f"{config}: the run should stop before any call"
        assert outcome.error.variable == expected["error"]["variable"]
        assert expected["test"] in str(outcome.error)
        return
    assert outcome.error is None, str(outcome.error)
    trial = outcome.trials[expected["test"]]
    assert trial.error is None, trial.error
    if "prompt" in expected:
        assert trial.prompt == expected["prompt"]
        assert trial.output == expected["prompt"]  # echo: the output is the rendered prompt
    grading = trial.grading
    if "pass" in expected:
        assert trial.success is expected["pass"], grading and grading.reason
    if "score" in expected:
        assert trial.score == pytest.approx(expected["score"], abs=1e-6)
    if "asserts" in expected:
        assert grading is not None
        verdicts = [c.passed for c in grading.component_results]
        assert len(verdicts) == len(expected["asserts"])
        for got, want in zip(verdicts, expected["asserts"], strict=True):
            if want is not None:
                assert got is want, [(c.passed, c.reason) for c in grading.component_results]
