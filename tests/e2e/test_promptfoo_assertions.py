"""promptfoo assertion types through the CLI, against the loopback stub LLM (which echoes the
prompt, or answers with a tool call when a tool is required)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.clitools import Project, provider_yaml, read_json

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
