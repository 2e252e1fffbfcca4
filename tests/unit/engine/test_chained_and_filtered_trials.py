"""promptfoo config features that need the engine: storeOutputAs, `_conversation`,
providerOutput and a provider's `prompts` (run in-process with the echo provider, which answers
with the rendered prompt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench.stub_server import StubServer

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


def test_store_output_as_feeds_later_tests_vars_per_prompt_and_provider(tmp_path: Path) -> None:
    config = {
        "prompts": ["Say: {{message}}", "Echo {{message}}"],
        "providers": [{"id": "echo", "label": "a"}, {"id": "echo", "label": "b"}],
        "evaluateOptions": {"maxConcurrency": 8},
        "tests": [
            {"vars": {"message": "apple"}, "options": {"storeOutputAs": "fruit"}},
            {"vars": {"message": "I like {{fruit}}"}, "options": {"storeOutputAs": "reason"}},
            {
                "vars": {"message": "Why {{reason}}?"},
                "assert": [{"type": "contains", "value": "{{fruit}}"}],
            },
        ],
    }
    trials = _run(tmp_path, config)
    assert len(trials) == 12
    last = {(t.prompt_label, t.provider_label): t for t in trials if t.case_index == 2}
    assert last[("Say: {{message}}", "a")].output == "Say: Why Say: I like Say: apple?"
    assert last[("Echo {{message}}", "b")].output == "Echo Why Echo I like Echo apple?"
    assert all(t.success for t in last.values())


def test_a_prompt_may_read_a_stored_output_directly(tmp_path: Path) -> None:
    config = {
        "prompts": ["{{q}}{% if first is defined %} after {{first}}{% endif %}"],
        "providers": ["echo"],
        "tests": [
            {"vars": {"q": "one"}, "options": {"storeOutputAs": "first"}},
            {"vars": {"q": "two"}},
        ],
    }
    assert [t.output for t in _run(tmp_path, config)] == ["one", "two after one"]


def test_conversation_lists_earlier_turns_per_conversation_id(tmp_path: Path) -> None:
    prompt = "{% for turn in _conversation %}[{{turn.input}} => {{turn.output}}]{% endfor %}{{q}}"
    config = {
        "prompts": [prompt],
        "providers": ["echo"],
        "tests": [
            {"vars": {"q": "a1"}, "metadata": {"conversationId": "a"}},
            {"vars": {"q": "b1"}, "metadata": {"conversationId": "b"}},
            {"vars": {"q": "a2"}, "metadata": {"conversationId": "a"}},
            {"vars": {"q": "b2"}, "metadata": {"conversationId": "b"}},
            {
                "vars": {"q": "x"},
                "options": {"disableConversationVar": True},
                "metadata": {"conversationId": "a"},
            },
        ],
    }
    outputs = [t.output for t in _run(tmp_path, config)]
    assert outputs[:4] == ["a1", "b1", "[a1 => a1]a2", "[b1 => b1]b2"]


def test_conversation_without_an_id_is_the_prompt_and_providers_thread(tmp_path: Path) -> None:
    config = {
        "prompts": ['[{"role": "user", "content": "{{ _conversation | length }} {{q}}"}]'],
        "providers": ["echo"],
        "tests": [{"vars": {"q": "a"}}, {"vars": {"q": "b"}}, {"vars": {"q": "c"}}],
    }
    trials = _run(tmp_path, config)
    assert ['"0 a"' in str(t.output) for t in trials] == [True, False, False]
    assert '"2 c"' in str(trials[2].output)


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


def test_per_prompt_config_reaches_the_provider_and_splits_the_cache(
    tmp_path: Path, stub_server: StubServer
) -> None:
    config = {
        "prompts": [
            {"raw": "same {{q}}", "label": "cold"},
            {"raw": "same {{q}}", "label": "hot", "config": {"temperature": 0.9}},
        ],
        "providers": [
            {
                "id": "openai:chat:stub-model",
                "config": {"apiBaseUrl": stub_server.base_url, "apiKey": "sk-stub"},
            }
        ],
        "tests": [{"vars": {"q": "x"}}],
    }
    cold_only = {**config, "prompts": config["prompts"][:1]}
    _run(tmp_path, cold_only)  # caches the answer to "same x" without a temperature
    trials = _run(tmp_path, config)  # "hot" must not get that answer: same text, other config
    assert [r["body"].get("temperature") for r in stub_server.requests] == [None, 0.9]
    assert [(t.prompt_label, t.cached) for t in trials] == [("cold", True), ("hot", False)]
    trials = _run(tmp_path, config)
    assert all(t.cached for t in trials) and stub_server.request_count == 2


def test_per_prompt_config_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text("prompts: [{raw: 'a', config: 3}]\nproviders: [echo]\n")
    with pytest.raises(ConfigError, match=r"prompts\[0\]\.config"):
        load_spec(path)
