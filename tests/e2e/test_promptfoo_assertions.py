"""promptfoo assertion types through the CLI, against the loopback stub LLM (which echoes the
prompt, or answers with a tool call when a tool is required)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.clitools import KEY_ENV, Project, provider_yaml, read_json

TOOL_TYPES = ("is-valid-openai-tools-call", "is-valid-function-call", "tool-call-f1")


def _rows(project: Project) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = read_json(Path(project.root / "out.json"))["results"]["results"]
    return rows


def _components(row: dict[str, Any]) -> dict[str, bool]:
    return {c["assertion"]["type"]: c["pass"] for c in row["gradingResult"]["componentResults"]}


def test_html_negation_and_max_score(project: Project) -> None:
    tests = """\
  - vars: {word: hello}
    assert:
      - type: is-html
      - type: contains-html
      - type: not-levenshtein
        value: something else entirely
      - type: contains
        value: hello
      - type: max-score
        value: {weights: {is-html: 2}}
"""
    project.config(tests, prompts='  - "<p>{{ word }}</p>"\n  - "Say {{ word }}"\n')
    result = project.eval("-o", "out.json")
    assert result.returncode == 100, str(result)
    html, plain = sorted(_rows(project), key=lambda r: r["prompt"]["raw"])
    assert html["response"]["output"] == "<p>hello</p>"
    assert html["success"] and not plain["success"]
    assert all(_components(html).values()) and len(_components(html)) == 5
    assert _components(plain)["max-score"] is False
    assert _components(plain)["is-html"] is False


def test_tool_calls_checked_against_the_provider_schemas(project: Project) -> None:
    def tool(name: str, required: str) -> dict[str, Any]:
        schema = {"type": "object", "properties": {required: {"type": "string"}},
                  "required": [required]}  # fmt: skip
        return {"type": "function", "function": {"name": name, "parameters": schema}}

    providers = provider_yaml(
        project.stub.base_url, tools=[tool("echo_tool", "input")], tool_choice="required"
    ).replace("openai:chat:stub-model", "openai:chat:gpt-4o-mini")
    providers += provider_yaml(
        project.stub.base_url, tools=[tool("echo_tool", "location")], tool_choice="required"
    )
    tests = """\
  - vars: {word: hi}
    assert:
      - type: is-valid-openai-tools-call
      - type: is-valid-function-call
      - type: tool-call-f1
        value: [echo_tool]
"""
    project.config(tests, providers=providers)
    result = project.eval("-o", "out.json")
    assert result.returncode == 100, str(result)
    by_model = {r["provider"]["id"]: r for r in _rows(project)}
    good, bad = by_model["openai:chat:gpt-4o-mini"], by_model["openai:chat:stub-model"]
    assert _components(good) == dict.fromkeys(TOOL_TYPES, True)
    assert _components(bad) == {**dict.fromkeys(TOOL_TYPES[:2], False), "tool-call-f1": True}
    assert "location" in bad["gradingResult"]["reason"]


def test_assert_scoring_function_in_the_sandbox(project: Project) -> None:
    project.write(
        "score.js",
        "module.exports = { minScore: (s, c) => ({ pass: Math.min(s.a, s.b) >= 0.5,\n"
        "  score: Math.min(s.a, s.b), reason: `min of ${Object.keys(s).join('+')}` }) };\n",
    )
    tests = """\
  - vars: {word: alpha}
    assert:
      - {type: contains, value: alpha, metric: a}
      - {type: contains, value: zzz, metric: b}
  - vars: {word: alpha zzz}
    assert:
      - {type: contains, value: alpha, metric: a}
      - {type: contains, value: zzz, metric: b}
"""
    extra = "defaultTest:\n  assertScoringFunction: file://score.js:minScore\n"
    project.config(tests, extra=extra)
    result = project.eval("-o", "out.json")
    assert result.returncode == 100, str(result)
    rows = sorted(_rows(project), key=lambda r: r["vars"]["word"])
    assert [(r["success"], r["score"]) for r in rows] == [(False, 0.0), (True, 1.0)]
    assert rows[1]["gradingResult"]["reason"] == "min of a+b"


def test_conversation_relevance_with_a_stub_judge(project: Project) -> None:
    def judge(body: dict[str, Any]) -> str:
        last = body["messages"][-1]["content"]
        verdict = "no" if "Last assistant reply: The stock market" in last else "yes"
        return json.dumps({"verdict": verdict, "reason": "checked"})

    project.stub.add_model("judge-model", judge)
    config = {"apiBaseUrl": project.stub.base_url, "apiKeyEnvar": KEY_ENV}
    judge_ref = {"id": "openai:chat:judge-model", "config": config}
    tests = """\
  - vars:
      word: hi
      _conversation:
        - {input: "Plan my wedding", output: "Gladly! What is your vision?"}
        - {input: "What about flowers?", output: "The stock market is volatile."}
        - {input: "Wedding flowers!", output: "Peonies and roses."}
    assert:
      - type: conversation-relevance
        threshold: 0.6
"""
    extra = f"defaultTest:\n  options:\n    provider: {json.dumps(judge_ref)}\n"
    project.config(tests, providers="  - echo\n", extra=extra)
    result = project.eval("-o", "out.json")
    assert result.returncode == 0, str(result)
    (row,) = _rows(project)
    component = row["gradingResult"]["componentResults"][0]
    assert component["score"] == pytest.approx(2 / 3) and component["pass"]
    assert "turn 2" in component["reason"]


def test_store_output_as_with_a_bad_name_is_refused_before_any_call(project: Project) -> None:
    tests = "  - vars: {word: a}\n    options: {storeOutputAs: an answer}\n"
    project.config(tests)
    result = project.eval()
    assert result.returncode == 1, str(result)
    assert "storeOutputAs" in result.stderr and "Traceback" not in result.stderr
    assert project.stub.request_count == 0


def test_max_score_over_one_output_selects_it(project: Project) -> None:
    tests = "  - vars: {word: hi}\n    assert:\n      - {type: contains, value: hi}\n" \
            "      - {type: max-score}\n"  # fmt: skip
    project.config(tests)
    result = project.eval("-o", "out.json")
    assert result.returncode == 0, str(result)
    (row,) = _rows(project)
    assert _components(row) == {"contains": True, "max-score": True}
