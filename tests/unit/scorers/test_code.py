"""javascript / python assertions through CodeRunner: real V8 sandbox, real in-process Python."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptyard.core.types import (
    Assertion,
    Completion,
    GradingContext,
    TestCase,
    TokenUsage,
)
from promptyard.errors import ScorerError
from promptyard.scorers.code import CodeRunner, build_function_body, parse_file_ref
from promptyard.trust import TrustPolicy

MB = 1024 * 1024


def make_ctx(output: Any = "Hello World", **vars_: Any) -> GradingContext:
    test = TestCase(vars=dict(vars_), description="case one", metadata={"tag": "t1"})
    completion = Completion(
        output=output,
        usage=TokenUsage(prompt=3, completion=4, total=7),
        cost=0.001,
        logprobs=[-0.1, -0.2],
        finish_reason="stop",
    )
    return GradingContext(
        output=output,
        prompt="Say hello",
        vars=dict(vars_),
        test=test,
        provider_id="echo",
        completion=completion,
    )


def js(value: str, *, type_: str = "javascript", threshold: float | None = None) -> Assertion:
    return Assertion(
        type=type_, value=value, threshold=threshold, where="promptyard.yaml: tests[0].assert[0]"
    )


def py(value: str, *, type_: str = "python", threshold: float | None = None) -> Assertion:
    return js(value, type_=type_, threshold=threshold)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodeRunner]:
    base = tmp_path_factory.mktemp("project")
    r = CodeRunner(
        base_dir=str(base), trust=TrustPolicy(), js_timeout_ms=1000, js_max_memory_bytes=64 * MB
    )
    yield r
    r.close()


@pytest.fixture
def base(runner: CodeRunner) -> Path:
    return Path(runner.base_dir)


async def check_js(
    runner: CodeRunner, a: Assertion, output: Any = "Hello World", **vars_: Any
) -> Any:
    return await runner.check_javascript(a, output, make_ctx(output, **vars_))


async def check_py(
    runner: CodeRunner, a: Assertion, output: Any = "Hello World", **vars_: Any
) -> Any:
    return await runner.check_python(a, output, make_ctx(output, **vars_))


# ---- building code -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "body"),
    [
        ("output === 'x'", "return output === 'x'"),
        ("output.length > 3;;  ", "return output.length > 3"),
        ("const s = output; s === 'a;b'", "const s = output; return s === 'a;b'"),
        (
            "const n = JSON.parse(output).n; let m = {a: 1}; n > m.a",
            "const n = JSON.parse(output).n; let m = {a: 1}; return n > m.a",
        ),
        ("const r = /;/; r.test(output)", "const r = /;/; return r.test(output)"),
        ("const t = `x;${output};y`; t.length", "const t = `x;${output};y`; return t.length"),
        ("const x = 1", "const x = 1"),
    ],
)
def test_build_function_body_follows_promptfoo(code: str, body: str) -> None:
    assert build_function_body(code) == body


def test_parse_file_ref() -> None:
    assert parse_file_ref("output.length") is None
    assert parse_file_ref("file://a/b.js") == ("a/b.js", None)
    assert parse_file_ref("file://a/b.js:check") == ("a/b.js", "check")
    assert parse_file_ref("file://a/b.py:get_score") == ("a/b.py", "get_score")
    assert parse_file_ref("file://C:/x/b.mjs") == ("C:/x/b.mjs", None)
    assert parse_file_ref("file://dir:with/colon.txt") == ("dir:with/colon.txt", None)


# ---- javascript: result shapes -------------------------------------------------------------


async def test_js_boolean_true_and_false(runner: CodeRunner) -> None:
    ok = await check_js(runner, js("output.toLowerCase().includes('hello')"))
    assert (ok.passed, ok.score, ok.reason, ok.error) == (True, 1.0, "Assertion passed", None)
    bad = await check_js(runner, js("output.includes('bye')"))
    assert (bad.passed, bad.score) == (False, 0.0)
    assert bad.reason == "Custom function returned false\noutput.includes('bye')"
    assert bad.assertion is not None and bad.assertion.type == "javascript"


async def test_js_number_is_score_and_passes_above_zero(runner: CodeRunner) -> None:
    r = await check_js(runner, js("output.length / 100"))
    assert r.passed and r.score == pytest.approx(0.11)
    zero = await check_js(runner, js("0"))
    assert not zero.passed and zero.score == 0.0


async def test_js_number_threshold(runner: CodeRunner) -> None:
    assert (await check_js(runner, js("0.5", threshold=0.5))).passed
    low = await check_js(runner, js("0.49", threshold=0.5))
    assert not low.passed and low.score == pytest.approx(0.49)
    assert low.reason.startswith("Custom function returned false")


async def test_js_grading_result_object(runner: CodeRunner) -> None:
    code = "({pass: output.length > 5, score: 0.7, reason: 'long enough', namedScores: {len: 1}})"
    r = await check_js(runner, js(code))
    assert (r.passed, r.score, r.reason) == (True, 0.7, "long enough")
    assert r.named_scores == {"len": 1.0}


async def test_js_object_without_required_keys_is_an_error(runner: CodeRunner) -> None:
    r = await check_js(runner, js("({pass: true})"))
    assert not r.passed and r.score == 0.0
    assert r.error is not None and "Got type object" in r.error
    assert r.reason.startswith("promptyard.yaml: tests[0].assert[0]: Custom function threw error")


@pytest.mark.parametrize(("code", "kind"), [("'yes'", "string"), ("undefined", "undefined")])
async def test_js_other_results_are_errors(runner: CodeRunner, code: str, kind: str) -> None:
    r = await check_js(runner, js(code))
    assert not r.passed and r.error is not None and f"Got type {kind}" in r.error


async def test_js_nan_is_not_a_score(runner: CodeRunner) -> None:
    r = await check_js(runner, js("NaN"))
    assert not r.passed and r.error is not None


async def test_js_multiline_body_and_declarations(runner: CodeRunner) -> None:
    body = "const words = output.split(' ');\nif (words.length < 2) return false;\nreturn 1;\n"
    assert (await check_js(runner, js(body))).passed
    assert (await check_js(runner, js("const w = output.split(' '); w.length === 2"))).passed


async def test_js_async_function_is_awaited(runner: CodeRunner) -> None:
    code = "const f = async () => ({pass: true, score: 0.25, reason: 'a'});\nreturn f();"
    r = await check_js(runner, js(code))
    assert (r.passed, r.score, r.reason) == (True, 0.25, "a")


# ---- javascript: negation ------------------------------------------------------------------


async def test_not_javascript_inverts_boolean_and_score(runner: CodeRunner) -> None:
    r = await check_js(runner, js("output.includes('bye')", type_="not-javascript"))
    assert (r.passed, r.score, r.reason) == (True, 1.0, "Assertion passed")
    r = await check_js(runner, js("output.includes('Hello')", type_="not-javascript"))
    assert (r.passed, r.score) == (False, 0.0)
    assert r.reason.startswith("Custom function returned true")


async def test_not_javascript_number_keeps_score(runner: CodeRunner) -> None:
    r = await check_js(runner, js("0.8", type_="not-javascript", threshold=0.5))
    assert (r.passed, r.score) == (False, 0.8)


async def test_not_javascript_object_keeps_score_and_reason(runner: CodeRunner) -> None:
    r = await check_js(
        runner, js("({pass: false, score: 0.1, reason: 'nope'})", type_="not-javascript")
    )
    assert (r.passed, r.score, r.reason) == (True, 0.1, "nope")


# ---- javascript: context and values --------------------------------------------------------


async def test_js_context_has_promptfoo_fields(runner: CodeRunner) -> None:
    code = (
        "context.vars.city === 'Paris' && context.prompt === 'Say hello' && "
        "context.test.description === 'case one' && context.test.metadata.tag === 't1' && "
        "context.provider.id === 'echo' && context.logProbs.length === 2 && "
        "context.providerResponse.tokenUsage.total === 7 && "
        "context.providerResponse.finishReason === 'stop' && context.config.min === 2"
    )
    a = js(code)
    a.config = {"min": 2}
    r = await runner.check_javascript(a, "Hello World", make_ctx(city="Paris"))
    assert r.passed, r.reason


async def test_js_unicode_output_round_trips(runner: CodeRunner) -> None:
    text = 'Grüße, 世界 🌍 \u2028 "quoted" \\ back'
    code = f"output === {json.dumps(text)} && [...output].length === {len(text)}"
    r = await check_js(runner, js(code), text)
    assert r.passed, r.reason


async def test_js_non_string_output_is_a_json_value(runner: CodeRunner) -> None:
    output = {"answer": 42, "items": [1, 2, {"k": None}], "__proto__": {"x": 1}}
    code = (
        "typeof output === 'object' && output.answer === 42 && output.items[2].k === null "
        "&& Object.getPrototypeOf(output) === Object.prototype && output.__proto__.x === 1"
    )
    assert (await check_js(runner, js(code), output)).passed
    assert (await check_js(runner, js("Array.isArray(output) && output[1] === 2"), [1, 2])).passed
    assert (await check_js(runner, js("output === 3.5"), 3.5)).passed
    assert (await check_js(runner, js("output === null"), None)).passed


# ---- javascript: errors --------------------------------------------------------------------


async def test_js_syntax_error_names_assertion(runner: CodeRunner) -> None:
    r = await check_js(runner, js("output.includes('x'"))
    assert not r.passed and r.score == 0.0
    assert r.error is not None and "SyntaxError" in r.error
    assert "promptyard.yaml: tests[0].assert[0]" in r.reason and "SyntaxError" in r.reason


async def test_js_thrown_error_has_message_and_line(runner: CodeRunner) -> None:
    r = await check_js(runner, js("const x = 1;\nreturn output.missing.deeper;\n"))
    assert not r.passed
    assert r.error is not None
    assert r.error.startswith("TypeError: Cannot read properties of undefined")
    assert "(line 2)" in r.error
    thrown = await check_js(runner, js("if (output) throw 'plain string';\nreturn 1"))
    assert thrown.error == "threw plain string"


async def test_js_has_no_require_process_or_io(runner: CodeRunner) -> None:
    code = (
        "[typeof require, typeof process, typeof fetch, typeof XMLHttpRequest, "
        "typeof Deno, typeof Bun].every(t => t === 'undefined')"
    )
    assert (await check_js(runner, js(code))).passed


async def test_js_cannot_break_the_sandbox_internals(runner: CodeRunner) -> None:
    r = await check_js(runner, js("globalThis.__pyCall = null;\nJSON.parse = null;\nreturn true"))
    assert r.passed
    assert (await check_js(runner, js("output.length === 11"))).passed


async def test_js_value_must_be_string(runner: CodeRunner) -> None:
    r = await runner.check_javascript(Assertion(type="javascript", value=None), "x", make_ctx("x"))
    assert not r.passed and r.error is not None and "string value" in r.error
    assert "javascript assertion" in r.reason


# ---- javascript: files ---------------------------------------------------------------------


async def test_js_file_module_exports_function(runner: CodeRunner, base: Path) -> None:
    (base / "check.js").write_text(
        "function helper(s) { return s.length; }\n"
        "module.exports = (output, context) => ({\n"
        "  pass: helper(output) === 11 && context.vars.n === 3, score: 0.9, reason: 'file ok'\n"
        "});\n"
    )
    r = await check_js(runner, js("file://check.js"), n=3)
    assert (r.passed, r.score, r.reason) == (True, 0.9, "file ok")


async def test_js_file_named_function_and_esm(runner: CodeRunner, base: Path) -> None:
    (base / "named.cjs").write_text(
        "exports.short = (o) => o.length < 5;\nexports.long = (o) => o.length > 5;\n"
    )
    assert (await check_js(runner, js("file://named.cjs:long"))).passed
    assert not (await check_js(runner, js("file://named.cjs:short"))).passed
    (base / "esm.mjs").write_text(
        "const limit = 3;\n"
        "export function words(output) { return output.split(' ').length; }\n"
        "export default function (output) { return words(output) < limit; }\n"
    )
    assert (await check_js(runner, js("file://esm.mjs"))).passed
    r = await check_js(runner, js("file://esm.mjs:words"))
    assert r.passed and r.score == 2.0


async def test_js_file_errors(runner: CodeRunner, base: Path) -> None:
    missing = await check_js(runner, js("file://nope.js"))
    assert not missing.passed and missing.error is not None and "nope.js" in missing.error
    (base / "noexport.js").write_text("const x = 1;\n")
    r = await check_js(runner, js("file://noexport.js"))
    assert r.error is not None and "must export a function" in r.error
    r = await check_js(runner, js("file://named.cjs:absent"))
    assert r.error is not None and '"absent"' in r.error
    (base / "req.js").write_text("const fs = require('fs');\nmodule.exports = () => true;\n")
    r = await check_js(runner, js("file://req.js"))
    assert r.error is not None and 'require("fs") is not available' in r.error
    (base / "bad.js").write_text("module.exports = (o) => {\n  return o +;\n};\n")
    r = await check_js(runner, js("file://bad.js"))
    assert r.error is not None and r.error.startswith("SyntaxError")
    assert "file" in r.reason or "promptyard.yaml" in r.reason


async def test_confined_runner_refuses_files_outside_base(tmp_path: Path) -> None:
    (tmp_path / "outside.js").write_text("module.exports = () => true;\n")
    inner = tmp_path / "proj"
    inner.mkdir()
    r = CodeRunner(
        base_dir=str(inner),
        trust=TrustPolicy(allow_python=False, confine_files=True),
        js_timeout_ms=1000,
        js_max_memory_bytes=64 * MB,
    )
    try:
        res = await r.check_javascript(js("file://../outside.js"), "x", make_ctx("x"))
        assert not res.passed and res.error is not None and "outside the project" in res.error
    finally:
        r.close()


async def test_confined_runner_runs_python_only_from_inside_the_project(tmp_path: Path) -> None:
    code = "import pathlib\ndef get_assert(output, context):\n"
    code += "    pathlib.Path(__file__ + '.ran').touch()\n    return True\n"
    (tmp_path / "outside.py").write_text(code)
    inner = tmp_path / "proj"
    inner.mkdir()
    (inner / "inside.py").write_text(code)
    (inner / "link.py").symlink_to(tmp_path / "outside.py")
    r = CodeRunner(
        base_dir=str(inner),
        trust=TrustPolicy(confine_files=True),
        js_timeout_ms=1000,
        js_max_memory_bytes=64 * MB,
    )
    try:
        assert (await r.check_python(py("file://inside.py"), "x", make_ctx("x"))).passed
        for ref in ("file://../outside.py", f"file://{tmp_path / 'outside.py'}", "file://link.py"):
            res = await r.check_python(py(ref), "x", make_ctx("x"))
            assert not res.passed and "outside the project" in (res.error or ""), res
            with pytest.raises(ScorerError, match="outside the project"):
                await r.transform(ref, "x", make_ctx("x"))
        assert not (tmp_path / "outside.py.ran").exists()
    finally:
        r.close()


# ---- javascript: limits --------------------------------------------------------------------


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[CodeRunner]:
    r = CodeRunner(
        base_dir=str(tmp_path),
        trust=TrustPolicy(allow_python=False),
        js_timeout_ms=300,
        js_max_memory_bytes=48 * MB,
    )
    yield r
    r.close()


async def test_infinite_loop_times_out_and_sandbox_recovers(tight: CodeRunner) -> None:
    assert (await check_js(tight, js("output.length === 11"))).passed
    start = time.monotonic()
    r = await check_js(tight, js("while (true) {}\nreturn 1"))
    elapsed = time.monotonic() - start
    assert not r.passed and r.score == 0.0
    assert r.error == "JavaScript timed out after 300 ms"
    assert r.reason == "promptyard.yaml: tests[0].assert[0]: JavaScript timed out after 300 ms"
    assert 0.25 < elapsed < 3.0
    # compiled functions survive; the next call works
    assert (await check_js(tight, js("output.length === 11"))).passed
    caught = await check_js(tight, js("try { for (;;) {} } catch (e) { return true }\nreturn 1"))
    assert caught.error == "JavaScript timed out after 300 ms"


@pytest.mark.parametrize(
    "bomb",
    [
        "const a = [];\nwhile (true) a.push('x' + a.length);",
        "const o = {};\nfor (let i = 0; ; i++) o['k' + i] = [i];",
        "let s = 'ab';\nconst keep = [];\nwhile (true) { s = s + s.length; keep.push(s.slice()); }",
    ],
)
async def test_memory_bomb_fails_cleanly(tight: CodeRunner, bomb: str) -> None:
    r = await check_js(tight, js(bomb))
    assert not r.passed and r.error is not None
    # a string bomb may stop at V8's maximum string length first; both are clean failures
    assert "exceeded 48 MB" in r.error or "timed out" in r.error or "Invalid" in r.error
    assert (await check_js(tight, js("output.length === 11"))).passed


async def test_memory_bomb_reports_limit(tight: CodeRunner) -> None:
    r = await check_js(
        tight, js("const a = [];\nwhile (true) a.push(new Array(100000).fill(1.5));")
    )
    assert r.error is not None and r.error.startswith("JavaScript exceeded 48 MB memory limit")
    assert (await check_js(tight, js("output.length === 11"))).passed


async def test_fatal_v8_allocation_does_not_kill_the_process(tight: CodeRunner) -> None:
    # V8 aborts its process on this one (hash table too big); only the worker dies.
    start = time.monotonic()
    r = await check_js(tight, js("new Array(1e9).fill(0).length"))
    assert not r.passed and r.error is not None
    assert "timed out" in r.error or "exceeded 48 MB" in r.error
    assert time.monotonic() - start < 10
    assert (await check_js(tight, js("output.length === 11"))).passed


# ---- python --------------------------------------------------------------------------------


async def test_python_inline_expression_and_body(runner: CodeRunner) -> None:
    assert (await check_py(runner, py("'hello' in output.lower()"))).passed
    body = "words = output.split()\nif len(words) != 2:\n    return False\nreturn len(words) / 4\n"
    r = await check_py(runner, py(body))
    assert r.passed and r.score == 0.5
    assert (await check_py(runner, py("json.loads(output)['a'] == 1"), '{"a": 1}')).passed


async def test_python_result_shapes(runner: CodeRunner) -> None:
    r = await check_py(
        runner, py("{'pass_': True, 'score': 0.6, 'reason': 'ok', 'named_scores': {'x': 1}}")
    )
    assert (r.passed, r.score, r.reason, r.named_scores) == (True, 0.6, "ok", {"x": 1.0})
    assert (await check_py(runner, py("'true'"))).passed
    assert not (await check_py(runner, py("'FALSE'"))).passed
    js_str = await check_py(runner, py('\'{"pass": true, "score": 1, "reason": "s"}\''))
    assert js_str.passed and js_str.reason == "s"
    num = await check_py(runner, py("'0.75 points'"))
    assert num.passed and num.score == 0.75
    bad = await check_py(runner, py("None"))
    assert not bad.passed and bad.error is not None and "Instead got" in bad.error
    partial = await check_py(runner, py("{'pass': True}"))
    assert not partial.passed and partial.error is not None and "Got instead" in partial.error


async def test_python_thresholds(runner: CodeRunner) -> None:
    assert not (await check_py(runner, py("0.4", threshold=0.5))).passed
    assert (await check_py(runner, py("0.5", threshold=0.5))).passed
    r = await check_py(runner, py("{'pass': True, 'score': 0.3, 'reason': 'meh'}", threshold=0.5))
    assert not r.passed and r.reason == "Python score 0.3 is less than threshold 0.5: meh"


async def test_not_python(runner: CodeRunner) -> None:
    r = await check_py(runner, py("False", type_="not-python"))
    assert (r.passed, r.score) == (True, 1.0)
    r = await check_py(
        runner, py("{'pass': True, 'score': 0.9, 'reason': 'x'}", type_="not-python")
    )
    assert (r.passed, r.score, r.reason) == (False, 0.9, "Python code returned true")


async def test_python_context_and_json_copies(runner: CodeRunner) -> None:
    code = (
        "context['vars']['city'] == 'Rome' and context['prompt'] == 'Say hello' "
        "and context['provider']['id'] == 'echo' and output['k'] == [1, 2]"
    )
    assert (await check_py(runner, py(code), {"k": (1, 2)}, city="Rome")).passed
    ctx = make_ctx("x", city="Rome")
    await runner.check_python(py("context['vars'].update(city='Oslo') or True"), "x", ctx)
    assert ctx.vars["city"] == "Rome"


async def test_python_errors_name_assertion_and_line(runner: CodeRunner) -> None:
    r = await check_py(runner, py("x = 1\nreturn output.nope\n"))
    assert not r.passed and r.score == 0.0
    assert r.error is not None and r.error.startswith("AttributeError") and "(line 2)" in r.error
    assert r.reason.startswith("promptyard.yaml: tests[0].assert[0]: Python code execution failed")
    syn = await check_py(runner, py("output.lower(("))
    assert syn.error is not None and syn.error.startswith("SyntaxError")


async def test_python_file_default_and_named(runner: CodeRunner, base: Path) -> None:
    (base / "helper_mod.py").write_text("LIMIT = 5\n")
    (base / "grade.py").write_text(
        "from helper_mod import LIMIT\n\n"
        "def get_assert(output, context):\n"
        "    return {'pass': len(output) > LIMIT, 'score': 1.0, 'reason': context['vars']['r']}\n\n"
        "def other(output, context):\n"
        "    return 0.25\n\n"
        "def broken(output, context):\n"
        "    return 1 / 0\n"
    )
    r = await check_py(runner, py("file://grade.py"), r="why")
    assert (r.passed, r.reason) == (True, "why")
    assert (await check_py(runner, py("file://grade.py:other"))).score == 0.25
    err = await check_py(runner, py("file://grade.py:broken"))
    assert (
        err.error is not None
        and err.error.startswith("ZeroDivisionError")
        and "line 10" in err.error
    )
    missing = await check_py(runner, py("file://grade.py:absent"))
    assert missing.error is not None and "absent()" in missing.error


async def test_javascript_assertion_may_name_python_file_and_vice_versa(
    runner: CodeRunner, base: Path
) -> None:
    (base / "s.py").write_text("def get_assert(output, context):\n    return 0.75\n")
    r = await check_js(runner, js("file://s.py", threshold=0.7))
    assert r.passed and r.score == 0.75
    (base / "s.js").write_text("module.exports = (o) => o.length === 11;\n")
    assert (await check_py(runner, py("file://s.js"))).passed


async def test_python_disabled(tmp_path: Path) -> None:
    (tmp_path / "s.js").write_text("module.exports = () => true;\n")
    r = CodeRunner(
        base_dir=str(tmp_path),
        trust=TrustPolicy(allow_python=False),
        js_timeout_ms=1000,
        js_max_memory_bytes=64 * MB,
    )
    try:
        res = await r.check_python(py("True"), "x", make_ctx("x"))
        assert not res.passed and res.score == 0.0
        assert res.error == "python assertions are disabled on this server"
        assert res.reason == (
            "promptyard.yaml: tests[0].assert[0]: python assertions are disabled on this server"
        )
        res = await r.check_python(py("file://x.py"), "x", make_ctx("x"))
        assert res.error == "python assertions are disabled on this server"
        res = await r.check_javascript(js("file://x.py"), "x", make_ctx("x"))
        assert not res.passed and res.error == "python assertions are disabled on this server"
        # a JS file under a python assertion still runs: it is not Python
        assert (await r.check_python(py("file://s.js"), "x", make_ctx("x"))).passed
    finally:
        r.close()


async def test_sandbox_process_death_is_survived(tight: CodeRunner) -> None:
    import os
    import signal

    assert (await check_js(tight, js("output.length === 11"))).passed
    worker = tight._js._holder[0]  # the child process running V8
    assert worker is not None
    os.kill(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(5)
    # the next call starts a new sandbox and recompiles what it needs
    assert (await check_js(tight, js("output.length === 11"))).passed
    assert (await check_js(tight, js("output.length === 12"))).passed is False


async def test_unencodable_values_become_error_results(runner: CodeRunner) -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    r = await check_js(runner, js("true"), loop)
    assert not r.passed and r.error is not None and "Circular" in r.error
    r = await check_js(runner, js("true"), {"x": float("nan")})
    assert not r.passed and r.error is not None and "JSON" in r.error
    # a value JSON has no type for is passed as its string
    assert (
        await check_js(
            runner,
            js("output.when === '2024-01-02'"),
            {"when": __import__("datetime").date(2024, 1, 2)},
        )
    ).passed


async def test_python_sys_exit_is_contained(runner: CodeRunner) -> None:
    r = await check_py(runner, py("__import__('sys').exit(3)"))
    assert not r.passed and r.error is not None and r.error.startswith("SystemExit")


async def test_a_heap_filled_by_earlier_calls_does_not_fail_an_innocent_call(
    tight: CodeRunner,
) -> None:
    # Each call keeps ~4 MB alive in the isolate's globals; none is a bomb on its own. When
    # the shared heap reaches the limit, the call that tips it over is retried alone in a
    # fresh isolate and passes there, instead of being reported as a memory failure.
    leak = js(
        "globalThis.keep = globalThis.keep || [];\n"
        "keep.push(new Array(500000).fill(1.5));\n"
        "return output.length === 11"
    )
    results = [await check_js(tight, leak) for _ in range(40)]
    assert all(r.passed for r in results), [r.error for r in results if not r.passed]
