"""The engine under a config that tries to hang or exhaust it (finding 5): templates render off
the event loop and stop at their limits, failing the run with an error naming the test and the
limit; concurrency is clamped; outputs and reasons are capped before they are stored, and both
stores write the same capped rows. A real SQLite store, real providers and grader."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.enginetools import Harness
from tests.integration.test_store import trial
from tests.integration.test_store_lite import fresh_db, table_rows

from promptyard.core.templates import RenderLimitError
from promptyard.core.types import Completion, CompletionRequest, GradingResult
from promptyard.store import Store
from promptyard.store.lite import LiteStore
from promptyard.trust.limits import TRUNCATED
from promptyard.trust.policy import Limits

RUN = "7f1c2d3e-0000-4000-8000-00000000aaaa"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s


class Counting:
    """A provider that answers after a short wait and counts its calls in flight."""

    id = "counting:model"
    label = "counting"

    def __init__(self, output: str = "ok", raw: Any = None) -> None:
        self.output, self.raw = output, raw
        self.in_flight = self.peak = self.calls = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.005)
        self.in_flight -= 1
        return Completion(output=self.output, raw=self.raw)

    def cache_identity(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        pass


def config(prompt: str = "Q {{ n }}", n: int = 3, **extra: Any) -> dict[str, Any]:
    return {"prompts": [prompt], "providers": ["echo"],
            "tests": [{"vars": {"n": i}} for i in range(n)], **extra}  # fmt: skip


class LoopWatch:
    """The longest the event loop went without running this ticker (a blocked loop)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.worst = max(self.worst, now - last)
            last = now

    def __enter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


# -- concurrency ------------------------------------------------------------------------------


async def test_max_concurrency_of_10_to_the_30_is_clamped(h: Harness) -> None:
    spec = h.spec(config(n=40, evaluateOptions={"maxConcurrency": 10**30}))
    provider = Counting()
    t0 = time.monotonic()
    outcome = await h.run(spec, [provider], limits=Limits(max_concurrency=8))
    assert outcome.status == "succeeded" and provider.calls == 40
    assert provider.peak <= 8
    assert time.monotonic() - t0 < 10


async def test_workers_are_never_more_than_the_trials(h: Harness) -> None:
    spec = h.spec(config(n=2, evaluateOptions={"maxConcurrency": 10**30}))
    before = len(asyncio.all_tasks())
    seen: list[int] = []
    provider = Counting()
    outcome = await h.run(
        spec, [provider], on_trial=lambda t: seen.append(len(asyncio.all_tasks()))
    )
    assert outcome.status == "succeeded"
    # The run's tasks: a producer, a writer, the run's waits, and a worker per trial at most.
    assert max(seen) - before < 12


# -- templates ---------------------------------------------------------------------------------


async def test_a_runaway_prompt_fails_the_run_naming_test_and_limit(
    h: Harness, store: Store
) -> None:
    spec = h.spec(config(prompt='{{ "x" * 300000000 }}', n=50))
    with pytest.raises(RenderLimitError) as info:
        await h.run(spec)
    assert "PROMPTYARD_RENDER_MAX_CHARS" in str(info.value)
    assert "tests[0]" in str(info.value)  # the test's label
    runs = store.list_runs()
    assert [r.status for r in runs] == ["failed"]


async def test_a_slow_prompt_stops_at_its_deadline_off_the_loop(h: Harness) -> None:
    slow = (
        "{% macro f(n) %}{% if n > 0 %}{% set a = f(n - 1) %}{% set b = f(n - 1) %}{% endif %}"
        "{% endmacro %}{{ f(60) }}"
    )
    spec = h.spec(config(prompt=slow, n=20))
    t0 = time.monotonic()
    with LoopWatch() as watch, pytest.raises(RenderLimitError, match=r"longer than 0\.5 s"):
        await h.run(spec, limits=Limits(render_timeout_s=0.5))
    assert time.monotonic() - t0 < 5  # one render's deadline, not one per test
    assert watch.worst < 0.3  # the loop kept serving while the template ran


async def test_a_runaway_assertion_value_fails_the_run(h: Harness) -> None:
    # The grader renders assertion values on the loop and turns errors into failed verdicts:
    # the run's trip stops it anyway, at a short deadline.
    slow = (
        "{% macro f(n) %}{% if n > 0 %}{% set a = f(n - 1) %}{% set b = f(n - 1) %}{% endif %}"
        "{% endmacro %}{{ f(60) }}"
    )
    cfg = config(n=30)
    for t in cfg["tests"]:
        t["assert"] = [{"type": "contains", "value": slow}]
    spec = h.spec(cfg)
    t0 = time.monotonic()
    with LoopWatch() as watch, pytest.raises(RenderLimitError) as info:
        await h.run(spec)
    assert "on the event loop" in str(info.value) and "(test: " in str(info.value)
    assert time.monotonic() - t0 < 5
    assert watch.worst < 1.0


# -- caps -------------------------------------------------------------------------------------


async def test_outputs_and_reasons_are_capped_before_they_are_stored(
    h: Harness, store: Store
) -> None:
    huge = "o" * 3_000_000
    cfg = config(n=2)
    reason = "({pass: false, score: 0, reason: 'r'.repeat(100000)})"
    for t in cfg["tests"]:
        t["assert"] = [{"type": "javascript", "value": reason}]
    spec = h.spec(cfg)
    limits = Limits(max_output_chars=1000, max_reason_chars=300, max_stored_value_chars=5000)
    outcome = await h.run(spec, [Counting(huge, raw={"content": huge})], limits=limits)
    assert outcome.status == "succeeded"
    for t in [*outcome.trials, *store.iter_trials(outcome.run_id)]:
        assert isinstance(t.output, str) and len(t.output) == 1000
        assert TRUNCATED in t.output and "PROMPTYARD_MAX_OUTPUT_CHARS" in t.output
        assert len(t.raw) <= 5000 and TRUNCATED in t.raw
        assert t.grading is not None
        for g in [t.grading, *t.grading.component_results]:
            assert len(g.reason) <= 300
        assert "PROMPTYARD_MAX_REASON_CHARS" in t.grading.component_results[0].reason


def test_both_stores_write_the_same_capped_rows(tmp_path: Path) -> None:
    big = "b" * 3_000_000
    verdict = GradingResult(passed=False, score=0.0, reason="why " * 100_000)
    trials = [
        trial(RUN, 0, output=big, raw={"body": big}, error="e" * 2_000_000,
              vars={"doc": big, "q": "small"},
              grading=GradingResult(passed=False, score=0.0, reason="r" * 50_000,
                                    component_results=[verdict])),
        trial(RUN, 1, output={"list": [big]}),
    ]  # fmt: skip
    urls = {"full": fresh_db(tmp_path / "full.db"), "lite": fresh_db(tmp_path / "lite.db")}
    for name, url in urls.items():
        s: Any = Store.open(url) if name == "full" else LiteStore.open(url)
        try:
            s.create_run(run_id=RUN, description="caps", config={}, created_at="t",
                         prompts=[], providers=[])  # fmt: skip
            s.add_trials(trials)
            s.cache_put_many({"k": {"output": big, "raw": {"body": big}}})
        finally:
            s.close()
    full, lite = table_rows(tmp_path / "full.db"), table_rows(tmp_path / "lite.db")
    assert full == lite
    for path in (tmp_path / "full.db", tmp_path / "lite.db"):
        # Seven values of 3 MB (21 MB uncapped), each stored at 1 MB at most.
        assert path.stat().st_size < 8_000_000
    with Store.open(urls["full"]) as s:
        got = {t.index: t for t in s.iter_trials(RUN)}
    assert len(got[0].output) == 1_000_000 and TRUNCATED in got[0].output
    assert isinstance(got[1].output, str) and TRUNCATED in got[1].output  # a structure's JSON
    assert got[0].error is not None and len(got[0].error) == 1_000_000
    assert got[0].vars["q"] == "small" and TRUNCATED in got[0].vars["doc"]
    assert got[0].grading is not None and len(got[0].grading.reason) == 20_000
    assert len(got[0].grading.component_results[0].reason) == 20_000
