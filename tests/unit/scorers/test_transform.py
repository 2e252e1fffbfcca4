"""CodeRunner.transform: inline JS, JS and Python files, errors naming the transform."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptyard.core.types import GradingContext, TestCase
from promptyard.errors import SandboxLimitError, ScorerError
from promptyard.scorers.code import CodeRunner
from promptyard.trust import TrustPolicy

MB = 1024 * 1024


def make_ctx(output: Any = "x", **vars_: Any) -> GradingContext:
    return GradingContext(
        output=output,
        prompt="Tell me",
        vars=dict(vars_),
        test=TestCase(vars=dict(vars_)),
        provider_id="echo",
    )


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodeRunner]:
    base = tmp_path_factory.mktemp("transforms")
    r = CodeRunner(
        base_dir=str(base), trust=TrustPolicy(), js_timeout_ms=400, js_max_memory_bytes=48 * MB
    )
    yield r
    r.close()


@pytest.fixture
def base(runner: CodeRunner) -> Path:
    return Path(runner.base_dir)


async def test_inline_expression(runner: CodeRunner) -> None:
    assert await runner.transform("output.toUpperCase()", "abc", make_ctx()) == "ABC"
    assert await runner.transform("output.trim()\n", "  a  ", make_ctx()) == "a"


async def test_inline_body_with_context(runner: CodeRunner) -> None:
    code = "const n = context.vars.n;\nreturn output.repeat(n) + context.prompt.raw.length;"
    assert await runner.transform(code, "ab", make_ctx(n=2)) == "abab7"


async def test_returns_structured_values(runner: CodeRunner) -> None:
    parsed = await runner.transform("JSON.parse(output)", '{"a": [1, 2], "b": "é"}', make_ctx())
    assert parsed == {"a": [1, 2], "b": "é"}
    assert await runner.transform("output.a.length", {"a": [1, 2, 3]}, make_ctx()) == 3
    assert await runner.transform("output === 'x'", "x", make_ctx()) is True
    assert await runner.transform("''", "x", make_ctx()) == ""
    assert await runner.transform("0", "x", make_ctx()) == 0


async def test_unicode_round_trip(runner: CodeRunner) -> None:
    text = "naïve 🌍 \u2028 文字"
    assert await runner.transform("output + '!'", text, make_ctx()) == text + "!"


async def test_undefined_or_null_result_is_an_error(runner: CodeRunner) -> None:
    with pytest.raises(ScorerError, match=r"did not return a value \(inline transform: null\)"):
        await runner.transform("null", "x", make_ctx())
    with pytest.raises(ScorerError, match="did not return a value"):
        await runner.transform("output.missing", "x", make_ctx())


async def test_thrown_and_syntax_errors_name_the_transform(runner: CodeRunner) -> None:
    with pytest.raises(ScorerError) as info:
        await runner.transform("JSON.parse(output)", "not json", make_ctx())
    msg = str(info.value)
    assert msg.startswith("Transform failed (inline transform: JSON.parse(output)): SyntaxError")
    with pytest.raises(ScorerError, match=r"SyntaxError"):
        await runner.transform("output.(", "x", make_ctx())


async def test_limits_raise_sandbox_limit_error(runner: CodeRunner) -> None:
    with pytest.raises(SandboxLimitError, match="timed out after 400 ms"):
        await runner.transform("while (true) {}\nreturn output", "x", make_ctx())
    with pytest.raises(SandboxLimitError, match="exceeded 48 MB"):
        await runner.transform(
            "const a = [];\nwhile (true) a.push(new Array(1e5).fill(1));", "x", make_ctx()
        )
    assert await runner.transform("output + 1", "x", make_ctx()) == "x1"


async def test_js_file_default_and_named(runner: CodeRunner, base: Path) -> None:
    (base / "t.js").write_text(
        "module.exports = (output, context) => output + ':' + context.vars.tag;\n"
        "module.exports.shout = (output) => output.toUpperCase();\n"
    )
    assert await runner.transform("file://t.js", "a", make_ctx(tag="T")) == "a:T"
    assert await runner.transform("file://t.js:shout", "a", make_ctx()) == "A"
    with pytest.raises(ScorerError, match=r"file transform file://missing\.js"):
        await runner.transform("file://missing.js", "a", make_ctx())


async def test_python_file_transform(runner: CodeRunner, base: Path) -> None:
    (base / "t.py").write_text(
        "def get_transform(output, context):\n"
        "    return output[::-1] + context['vars']['s']\n\n"
        "def as_dict(output, context):\n"
        "    return {'len': len(output)}\n\n"
        "def fails(output, context):\n"
        "    raise ValueError('no good')\n"
    )
    assert await runner.transform("file://t.py", "abc", make_ctx(s="!")) == "cba!"
    assert await runner.transform("file://t.py:as_dict", "abcd", make_ctx()) == {"len": 4}
    with pytest.raises(
        ScorerError, match=r"file transform file://t\.py:fails.*ValueError: no good"
    ):
        await runner.transform("file://t.py:fails", "a", make_ctx())


async def test_python_transform_disabled(tmp_path: Path) -> None:
    (tmp_path / "t.py").write_text("def get_transform(output, context):\n    return output\n")
    r = CodeRunner(
        base_dir=str(tmp_path),
        trust=TrustPolicy(allow_python=False),
        js_timeout_ms=400,
        js_max_memory_bytes=48 * MB,
    )
    try:
        with pytest.raises(ScorerError, match="python transforms are disabled on this server"):
            await r.transform("file://t.py", "a", make_ctx())
        assert await r.transform("output + '?'", "a", make_ctx()) == "a?"
    finally:
        r.close()
