"""promptfoo config features that need the engine: storeOutputAs, `_conversation`,
providerOutput and a provider's `prompts` (run in-process with the echo provider, which answers
with the rendered prompt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import promptyard
from promptyard.core.plan import plan_trials, trial_count
from promptyard.core.types import TrialResult
from promptyard.errors import ConfigError
from promptyard.library import load_spec


def _run(tmp_path: Path, config: dict[str, Any]) -> list[TrialResult]:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = promptyard.evaluate(config, base_dir=tmp_path, database_url=db)
    assert result.status == "succeeded", result.summary
    return result.trials


def test_provider_output_is_graded_without_a_call(tmp_path: Path) -> None:
    config = {
        "prompts": ["{{q}}"],
        "providers": ["echo"],
        "tests": [
            {
                "vars": {"q": "hi"},
                "providerOutput": "canned",
                "assert": [{"type": "equals", "value": "canned"}],
            },
            {"vars": {"q": "hi"}, "assert": [{"type": "equals", "value": "hi"}]},
        ],
    }
    first, second = _run(tmp_path, config)
    assert first.output == "canned" and first.success and not first.usage.total
    assert second.output == "hi" and second.success


def test_provider_prompts_filter_the_plan(tmp_path: Path) -> None:
    config = {
        "prompts": [
            {"id": "p1", "raw": "one {{q}}", "label": "first"},
            {"id": "p2", "raw": "two {{q}}", "label": "second"},
        ],
        "providers": [{"id": "echo", "label": "only-second", "prompts": ["second"]}, "echo"],
        "tests": [{"vars": {"q": "x"}}, {"vars": {"q": "y"}}],
    }
    trials = _run(tmp_path, config)
    pairs = [(t.prompt_label, t.provider_label) for t in trials]
    assert pairs == [("first", "echo"), ("second", "only-second"), ("second", "echo")] * 2
    assert [t.index for t in trials] == list(range(6))


def test_provider_prompts_naming_no_prompt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text(
        "prompts: [{raw: 'a {{q}}', label: first}]\n"
        "providers: [{id: echo, prompts: [frist]}]\n"
        "tests: [{vars: {q: x}}]\n"
    )
    with pytest.raises(ConfigError, match="frist"):
        load_spec(path)


def test_plan_counts_match_with_filtered_providers(tmp_path: Path) -> None:
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text(
        "prompts: [{raw: 'a {{q}}', label: 'g:a'}, {raw: 'b {{q}}', label: b}]\n"
        "providers: [{id: echo, prompts: [g]}, echo]\n"
        "tests: [{vars: {q: x}}]\n"
    )
    spec = load_spec(path)
    assert trial_count(spec) == len(list(plan_trials(spec))) == 3
