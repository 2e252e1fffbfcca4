"""The JavaScript sandbox under concurrency: many calls in flight on one event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from promptyard.core.types import Assertion, GradingContext, TestCase
from promptyard.errors import SandboxLimitError
from promptyard.scorers.code import CodeRunner
from promptyard.scorers.grader import Grader
from promptyard.trust import TrustPolicy

MB = 1024 * 1024


def make_ctx(output: Any, **vars_: Any) -> GradingContext:
    return GradingContext(
        output=output,
        prompt="p",
        vars=dict(vars_),
        test=TestCase(vars=dict(vars_)),
        provider_id="e",
    )


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[CodeRunner]:
    r = CodeRunner(
        base_dir=str(tmp_path),
        trust=TrustPolicy(allow_python=False),
        js_timeout_ms=300,
        js_max_memory_bytes=48 * MB,
    )
    yield r
    r.close()


async def echo(runner: CodeRunner, i: int) -> Any:
    return await runner.transform(
        "output + ':' + context.vars.i * 2", f"o{i}", make_ctx(f"o{i}", i=i)
    )


async def test_many_concurrent_calls_get_their_own_answers(runner: CodeRunner) -> None:
    results = await asyncio.gather(*(echo(runner, i) for i in range(100)))
    assert results == [f"o{i}:{i * 2}" for i in range(100)]
    checks = [
        runner.check_javascript(
            Assertion(type="javascript", value=f"output.length === {i}"), "x" * n, make_ctx("x" * n)
        )
        for i in range(50)
        for n in (i, i + 1)
    ]
    verdicts = [r.passed for r in await asyncio.gather(*checks)]
    assert verdicts == [True, False] * 50


async def test_an_infinite_loop_does_not_disturb_the_others(runner: CodeRunner) -> None:
    async def spin() -> str:
        try:
            await runner.transform("while (true) {}\nreturn output", "x", make_ctx("x"))
        except SandboxLimitError as exc:
            return str(exc)
        return "no error"

    start = time.monotonic()
    jobs = (
        [echo(runner, i) for i in range(30)] + [spin()] + [echo(runner, i) for i in range(30, 60)]
    )
    results = await asyncio.gather(*jobs)
    assert results[:30] == [f"o{i}:{i * 2}" for i in range(30)]
    assert "timed out after 300 ms" in results[30]
    assert results[31:] == [f"o{i}:{i * 2}" for i in range(30, 60)]
    assert time.monotonic() - start < 3.0
    assert await echo(runner, 7) == "o7:14"


async def test_each_call_in_a_burst_gets_the_full_time_limit(runner: CodeRunner) -> None:
    # Five calls of 200 ms each run back to back in the child (1 s in all, over the 300 ms
    # limit): none of them may be cut short for the others' time.
    code = "const t = Date.now();\nwhile (Date.now() - t < 200) {}\nreturn output"
    results = await asyncio.gather(
        *(runner.transform(code, f"v{i}", make_ctx("x")) for i in range(5))
    )
    assert results == [f"v{i}" for i in range(5)]


async def test_the_event_loop_keeps_running_during_a_long_call(tmp_path: Path) -> None:
    r = CodeRunner(
        base_dir=str(tmp_path),
        trust=TrustPolicy(allow_python=False),
        js_timeout_ms=2000,
        js_max_memory_bytes=48 * MB,
    )
    try:
        await r.transform("output", "warm", make_ctx("x"))  # the child is up
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        code = "const t = Date.now();\nwhile (Date.now() - t < 400) {}\nreturn output"
        assert await r.transform(code, "done", make_ctx("x")) == "done"
        stop.set()
        await task
        assert ticks >= 15  # ~40 possible in 400 ms; a blocked loop would show 0 or 1
    finally:
        r.close()


async def test_a_crash_in_a_burst_is_pinned_on_its_call(runner: CodeRunner) -> None:
    # V8 aborts the child on this one; the calls in flight with it are re-sent.
    async def fatal() -> str:
        try:
            await runner.transform("new Array(1e9).fill(0).length", "x", make_ctx("x"))
        except SandboxLimitError as exc:
            return str(exc)
        return "no error"

    jobs = (
        [echo(runner, i) for i in range(10)] + [fatal()] + [echo(runner, i) for i in range(10, 20)]
    )
    results = await asyncio.gather(*jobs)
    assert results[:10] == [f"o{i}:{i * 2}" for i in range(10)]
    assert "exceeded 48 MB" in results[10] or "timed out" in results[10]
    assert results[11:] == [f"o{i}:{i * 2}" for i in range(10, 20)]


async def test_a_cancelled_call_does_not_shift_the_answers(runner: CodeRunner) -> None:
    slow = "const t = Date.now();\nwhile (Date.now() - t < 100) {}\nreturn output"
    task = asyncio.create_task(runner.transform(slow, "slow", make_ctx("x")))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.gather(*(echo(runner, i) for i in range(5))) == [
        f"o{i}:{i * 2}" for i in range(5)
    ]


async def test_grader_starts_the_sandbox_when_it_validates_javascript() -> None:
    grader = Grader()
    try:
        grader.validate(Assertion(type="contains", value="a"))
        assert grader.sandbox_pid is None
        grader.validate(Assertion(type="javascript", value="output.length > 3"))
        pid = grader.sandbox_pid
        assert pid is not None  # started before any grading, without waiting for it
        test = TestCase(assertions=[Assertion(type="javascript", value="output.length > 3")])
        ctx = GradingContext("abcd", "p", {}, test, "e")
        assert (await grader.grade(ctx)).passed
        assert grader.sandbox_pid == pid
    finally:
        grader.close()
    assert grader.sandbox_pid is None


async def test_grader_grades_concurrently() -> None:
    grader = Grader()
    try:
        shared = [
            Assertion(type="icontains", value="HELLO"),
            Assertion(type="javascript", value="output.endsWith(String(context.vars.i))"),
        ]
        contexts = [
            GradingContext(
                f"hello {i}", "p", {"i": i}, TestCase(vars={"i": i}, assertions=shared), "e"
            )
            for i in range(200)
        ]
        contexts.append(GradingContext("hello", "p", {"i": 5}, TestCase(assertions=shared), "e"))
        results = await asyncio.gather(*(grader.grade(c) for c in contexts))
        assert [r.passed for r in results] == [True] * 200 + [False]
    finally:
        grader.close()


async def test_prepared_cache_is_shared_by_equal_assertions_and_bounded() -> None:
    grader = Grader()
    for i in range(300):
        test = TestCase(
            assertions=[
                Assertion(type="icontains", value="hello"),  # a new object each case
                Assertion(type="contains", value=f"case {i}"),
            ]
        )
        assert (await grader.grade(GradingContext(f"Hello case {i}", "p", {}, test, "e"))).passed
    assert len(grader._prepared) == 301  # one for the shared value, one per distinct value
    for i in range(5000):
        test = TestCase(assertions=[Assertion(type="contains", value=f"v{i}")])
        await grader.grade(GradingContext(f"v{i}", "p", {}, test, "e"))
    assert len(grader._prepared) <= 4096
