"""Tool-call assertions: is-valid-function-call, is-valid-openai-function-call,
is-valid-openai-tools-call (the call's arguments checked against the provider config's JSON
schemas, as promptfoo does) and tool-call-f1 (the called tools' names against the expected ones).

The grader hands each check the provider's tool definitions (`CheckInput.tools`: `functions`
and `tools` of the provider config, `file://` references loaded, templates in them rendered
with the test vars). Without definitions only the shape of the calls is checked.
"""

from __future__ import annotations

import json
from typing import Any

from promptyard.core.types import GradingResult
from promptyard.scorers.base import CheckInput
from promptyard.scorers.values import coerce_string


class ToolCallError(ValueError):
    pass


def _parse(output: Any) -> Any:
    if isinstance(output, str):
        try:
            return json.loads(output)
        except ValueError:
            return output
    return output


def _schemas(tools: dict[str, Any] | None) -> dict[str, Any] | None:
    """Function name -> parameters schema, from OpenAI `functions`, OpenAI `tools`
    (`{type: function, function: {...}}`), Anthropic tools (`input_schema`) and Google's
    `functionDeclarations`; None when the provider defines none."""
    if not tools:
        return None
    found: dict[str, Any] = {}

    def add(fn: Any) -> None:
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            found[fn["name"]] = fn.get("parameters", fn.get("input_schema", {})) or {}

    for fn in tools.get("functions") or ():
        add(fn)
    for tool in tools.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        if isinstance(tool.get("function"), dict):
            add(tool["function"])
        elif isinstance(tool.get("functionDeclarations"), list):
            for fn in tool["functionDeclarations"]:
                add(fn)
        else:
            add(tool)
    return found if found or tools.get("functions") or tools.get("tools") else None


def validate_call(name: Any, arguments: Any, schemas: dict[str, Any] | None) -> None:
    """promptfoo's validateFunctionCall: a named call whose arguments (JSON text or an object)
    match the parameters schema of the function with that name."""
    if not isinstance(name, str) or not name:
        raise ToolCallError("a function call has no function name")
    args = arguments
    if args is None:
        args = {}
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            raise ToolCallError(f"arguments of {name} are not valid JSON") from None
    if not isinstance(args, dict):
        raise ToolCallError(f"arguments of {name} are not a JSON object")
    if schemas is None:
        return
    if name not in schemas:
        raise ToolCallError(f'Called "{name}", but there is no function with that name')
    from promptyard.scorers.structured import _schema_for

    problem = _schema_for(schemas[name]).errors(args)
    if problem:
        raise ToolCallError(f'Call to "{name}" does not match schema: {problem}')


def _function_call(output: Any) -> tuple[Any, Any]:
    output = _parse(output)
    if isinstance(output, dict) and isinstance(output.get("function_call"), dict):
        output = output["function_call"]
    if not isinstance(output, dict) or not isinstance(output.get("name"), str):
        raise ToolCallError(
            f"output is not a valid-looking function call: {coerce_string(output)[:200]}"
        )
    return output["name"], output.get("arguments")


def _tool_calls(output: Any) -> list[Any]:
    output = _parse(output)
    if isinstance(output, dict) and isinstance(output.get("tool_calls"), list):
        output = output["tool_calls"]
    if not isinstance(output, list) or not output:
        raise ToolCallError("output is not a list of tool calls")
    return output


def _openai_tool(call: Any) -> tuple[Any, Any]:
    if not isinstance(call, dict):
        raise ToolCallError("a tool call is not an object")
    fn = call.get("function")
    if call.get("type", "function") != "function" or not isinstance(fn, dict):
        raise ToolCallError("a tool call has no function")
    return fn.get("name"), fn.get("arguments", "{}")


def _any_calls(output: Any) -> list[tuple[Any, Any]]:
    """Every call in an output of any provider's shape: OpenAI tool calls or function_call,
    Anthropic tool_use blocks, Google functionCall parts, or one {name, arguments|args|input}."""
    output = _parse(output)
    if isinstance(output, dict):
        if isinstance(output.get("tool_calls"), list):
            return [_openai_tool(c) for c in output["tool_calls"]]
        if isinstance(output.get("function_call"), dict):
            return [_function_call(output)]
        if isinstance(output.get("functionCall"), dict):
            fc = output["functionCall"]
            return [(fc.get("name"), fc.get("args"))]
        if isinstance(output.get("name"), str):
            return [(output["name"], _args_of(output))]
        raise ToolCallError("output holds no function call")
    if isinstance(output, list) and output:
        calls: list[tuple[Any, Any]] = []
        for item in output:
            if isinstance(item, dict) and isinstance(item.get("function"), dict):
                calls.append(_openai_tool(item))
            elif isinstance(item, dict) and item.get("type") == "tool_use":
                calls.append((item.get("name"), item.get("input")))
            elif isinstance(item, dict) and isinstance(item.get("functionCall"), dict):
                calls.append((item["functionCall"].get("name"), item["functionCall"].get("args")))
            elif isinstance(item, dict) and isinstance(item.get("name"), str):
                calls.append((item["name"], _args_of(item)))
        if calls:
            return calls
    raise ToolCallError("output holds no function call")


def _args_of(call: dict[str, Any]) -> Any:
    for key in ("arguments", "args", "input"):
        if key in call:
            return call[key]
    return None


def _verdict(inp: CheckInput, problem: str | None, what: str) -> GradingResult:
    holds = problem is None
    if holds != inp.inverse:
        return inp.result(True, "Assertion passed" if holds else f"{what} is invalid: {problem}")
    if inp.inverse:
        return inp.result(False, f"Expected output to not be a valid {what}")
    return inp.result(False, f"Invalid {what}: {problem}")


def check_openai_function_call(inp: CheckInput) -> GradingResult:
    schemas = _schemas(inp.tools)
    try:
        name, args = _function_call(inp.output)
        if not isinstance(args, str):
            raise ToolCallError("a function call's arguments must be JSON text")
        validate_call(name, args, schemas)
        problem = None
    except ToolCallError as exc:
        problem = str(exc)
    return _verdict(inp, problem, "OpenAI function call")


def check_openai_tools_call(inp: CheckInput) -> GradingResult:
    schemas = _schemas(inp.tools)
    try:
        for call in _tool_calls(inp.output):
            validate_call(*_openai_tool(call), schemas)
        problem = None
    except ToolCallError as exc:
        problem = str(exc)
    return _verdict(inp, problem, "list of OpenAI tool calls")


def check_function_call(inp: CheckInput) -> GradingResult:
    schemas = _schemas(inp.tools)
    try:
        for name, args in _any_calls(inp.output):
            validate_call(name, args, schemas)
        problem = None
    except ToolCallError as exc:
        problem = str(exc)
    return _verdict(inp, problem, "function call")


def _expected_names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        names = []
        for item in value:
            if isinstance(item, dict):
                item = item.get("name") or (item.get("function") or {}).get("name")
            if isinstance(item, str) and item:
                names.append(item)
        return names
    raise ValueError("tool-call-f1 needs a list of expected tool names (or a comma string)")


def check_tool_call_f1(inp: CheckInput) -> GradingResult:
    """F1 of the set of called tool names against the expected set; passes at >= threshold
    (default 1: exactly the expected tools)."""
    expected = set(_expected_names(inp.value))
    try:
        actual = {n for n, _ in _any_calls(inp.output) if isinstance(n, str)}
    except ToolCallError:
        actual = set()
    hits = len(expected & actual)
    precision = hits / len(actual) if actual else 0.0
    recall = hits / len(expected) if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    if not expected and not actual:
        f1 = 1.0
    threshold = inp.assertion.threshold if inp.assertion.threshold is not None else 1.0
    passed = (f1 >= threshold) != inp.inverse
    score = 1.0 - f1 if inp.inverse else f1
    reason = (
        f"Tool call F1 {f1:.2f} (precision {precision:.2f}, recall {recall:.2f}; expected "
        f"[{', '.join(sorted(expected))}], called [{', '.join(sorted(actual))}]) is "
        f"{'at least' if f1 >= threshold else 'below'} threshold {threshold:g}"
    )
    return inp.result(passed, reason, score=score)
