"""Tool-call assertions against the provider config's schemas, as promptfoo's
validateFunctionCall: is-valid-function-call, is-valid-openai-function-call,
is-valid-openai-tools-call, and tool-call-f1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.unit.scorers.helpers import grade_one

from promptyard.core.types import ProviderSpec
from promptyard.scorers import Grader

WEATHER = {
    "name": "get_current_weather",
    "description": "Get the current weather",
    "parameters": {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
}


def grader(**config: Any) -> Grader:
    return Grader(providers=[ProviderSpec(id="echo", config=config)])


def call(name: str, args: dict[str, Any] | str) -> dict[str, Any]:
    text = args if isinstance(args, str) else json.dumps(args)
    return {"id": "c1", "type": "function", "function": {"name": name, "arguments": text}}


async def test_openai_function_call_checks_the_schema() -> None:
    g = grader(functions=[WEATHER])
    good = {"name": "get_current_weather", "arguments": '{"location": "Boston, MA"}'}
    assert (await grade_one("is-valid-openai-function-call", None, good, grader=g)).passed
    bad = {"name": "get_current_weather", "arguments": '{"unit": "kelvin"}'}
    result = await grade_one("is-valid-openai-function-call", None, bad, grader=g)
    assert not result.passed and "does not match schema" in result.reason
    assert "location" in result.reason
    other = {"name": "launch", "arguments": "{}"}
    result = await grade_one("is-valid-openai-function-call", None, other, grader=g)
    assert not result.passed and "no function with that name" in result.reason
    assert not (await grade_one("is-valid-openai-function-call", None, "hi", grader=g)).passed
    negated = await grade_one("not-is-valid-openai-function-call", None, bad, grader=g)
    assert negated.passed


async def test_openai_tools_call_checks_the_schema() -> None:
    g = grader(tools=[{"type": "function", "function": WEATHER}])
    good = [call("get_current_weather", {"location": "Oslo"})]
    assert (await grade_one("is-valid-openai-tools-call", None, good, grader=g)).passed
    bad = [call("get_current_weather", {"location": 3})]
    result = await grade_one("is-valid-openai-tools-call", None, bad, grader=g)
    assert not result.passed and "does not match schema" in result.reason
    # the same call passes a grader that knows no schemas (shape only)
    assert (await grade_one("is-valid-openai-tools-call", None, bad)).passed


async def test_tool_definitions_load_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "fns.json").write_text(json.dumps([WEATHER]))
    g = Grader(base_dir=str(tmp_path), providers=[
        ProviderSpec(id="echo", config={"functions": "file://fns.json"})])  # fmt: skip
    bad = {"name": "get_current_weather", "arguments": "{}"}
    result = await grade_one("is-valid-openai-function-call", None, bad, grader=g)
    assert not result.passed and "location" in result.reason


@pytest.mark.parametrize(
    "output",
    [
        [call("get_current_weather", {"location": "Oslo"})],
        {"function_call": {"name": "get_current_weather", "arguments": '{"location": "x"}'}},
        [{"type": "tool_use", "id": "t", "name": "get_current_weather",
          "input": {"location": "x"}}],
        {"functionCall": {"name": "get_current_weather", "args": {"location": "x"}}},
    ],
)  # fmt: skip
async def test_function_call_accepts_each_vendor_shape(output: Any) -> None:
    g = grader(tools=[{"type": "function", "function": WEATHER}])
    assert (await grade_one("is-valid-function-call", None, output, grader=g)).passed


async def test_function_call_google_declarations() -> None:
    g = grader(tools=[{"functionDeclarations": [WEATHER]}])
    bad = {"functionCall": {"name": "get_current_weather", "args": {}}}
    assert not (await grade_one("is-valid-function-call", None, bad, grader=g)).passed


async def test_tool_call_f1() -> None:
    out = [call("search", {}), call("lookup", {})]
    exact = await grade_one("tool-call-f1", ["search", "lookup"], out)
    assert exact.passed and exact.score == 1.0
    half = await grade_one("tool-call-f1", "search, book", out)
    assert not half.passed and half.score == pytest.approx(0.5)
    low = await grade_one("tool-call-f1", ["search", "book"], out, threshold=0.5)
    assert low.passed
    none = await grade_one("tool-call-f1", ["search"], "no tools here")
    assert not none.passed and none.score == 0.0


async def test_templates_in_tool_definitions_are_rendered_with_the_vars() -> None:
    fn = {**WEATHER, "parameters": {"type": "object", "properties": {
        "unit": {"type": "string", "enum": ["{{ unit }}"]}}, "required": ["unit"]}}  # fmt: skip
    g = grader(functions=[fn])
    out = {"name": "get_current_weather", "arguments": '{"unit": "kelvin"}'}
    ok = await grade_one("is-valid-openai-function-call", None, out, grader=g,
                         vars={"unit": "kelvin"})  # fmt: skip
    assert ok.passed
    bad = await grade_one("is-valid-openai-function-call", None, out, grader=g,
                          vars={"unit": "celsius"})  # fmt: skip
    assert not bad.passed
