"""The evaluation engine end to end: a real SQLite store, real providers (`scripted` for exact
control, the local stub over HTTP), the real grader. Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.stub_server import StubServer
from tests.integration.enginetools import Harness

from promptyard.core.plan import plan_trials
from promptyard.core.types import TrialResult
from promptyard.errors import ProviderServerError, TemplateError
from promptyard.store import Store


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s


def stored(store: Store, run_id: str) -> list[TrialResult]:
    return list(store.iter_trials(run_id))


def stub_provider(stub: StubServer, **config: Any) -> dict[str, Any]:
    return {
        "id": "openai:gpt-4o-mini",
        "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test", **config},
    }


# -- order and indexes --------------------------------------------------------------------


async def test_trials_are_stored_in_plan_order_with_stable_indexes(h: Harness) -> None:
    # Varying delays make trials finish out of order; the store must still be in plan order.
    delays = [{"output": "ok", "delay_ms": d} for d in (9, 1, 5, 0, 7, 3, 2)]
    spec = h.spec(
        {
            "prompts": ["A {{n}}", "B {{n}}"],
            "providers": [
                {"id": "scripted:one", "config": {"responses": delays}},
                {"id": "scripted:two", "config": {"responses": delays[::-1]}},
            ],
            "tests": [
                {"vars": {"n": i}, "assert": [{"type": "equals", "value": "ok"}]} for i in range(3)
            ],
            "evaluateOptions": {"repeat": 2, "maxConcurrency": 8},
        }
    )
    out = await h.run(spec)

    assert out.status == "succeeded"
    trials = stored(h.store, out.run_id)
    plan = list(plan_trials(spec))
    assert len(trials) == len(plan) == 3 * 2 * 2 * 2
    assert [t.index for t in trials] == list(range(24))
    for t, p in zip(trials, plan, strict=True):
        assert (t.case_index, t.prompt_id, t.provider_id, t.sample) == (
            p.case_index,
            p.prompt.id,
            p.provider.id,
            p.sample,
        )
        assert t.case_id == p.case_id
        assert t.prompt == f"{p.prompt.text[0]} {p.case_index}"
        assert t.success and t.output == "ok" and t.error is None
    # the case id pairs the same case across prompts, providers and samples
    assert len({t.case_id for t in trials}) == 3
    # what the runner kept (for the library) is in plan order too
    assert [t.index for t in out.trials] == list(range(24))
    # the same spec planned again gives the same indexes
    assert [p.index for p in plan_trials(h.spec(spec.raw_config))] == list(range(24))


async def test_flaky_cases_are_listed(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": [{"id": "scripted", "config": {"responses": ["yes", "yes", "yes", "no"]}}],
            "tests": [
                {"vars": {"n": i}, "assert": [{"type": "equals", "value": "yes"}]} for i in range(2)
            ],
            # one at a time: the cycling answers then land on known samples
            "evaluateOptions": {"repeat": 2, "maxConcurrency": 1},
        }
    )
    out = await h.run(spec)

    assert [(t.case_index, t.sample, t.success) for t in stored(h.store, out.run_id)] == [
        (0, 0, True),
        (0, 1, True),
        (1, 0, True),
        (1, 1, False),
    ]
    assert out.summary["flaky"] == [
        {"case_index": 1, "prompt_id": spec.prompts[0].id, "provider": "scripted"}
    ]
    assert (out.summary["passed"], out.summary["failed"]) == (3, 1)


# -- cache ---------------------------------------------------------------------------------


async def test_repeat_samples_get_distinct_cache_keys(h: Harness, stub_server: StubServer) -> None:
    config = {
        "prompts": ["hello {{n}}"],
        "providers": [stub_provider(stub_server)],
        "tests": [{"vars": {"n": i}} for i in range(3)],
        "evaluateOptions": {"repeat": 3},
    }
    first = await h.run(h.spec(config))
    # each sample is its own call, not a cache hit of sample 0
    assert stub_server.request_count == 9
    assert first.summary["pairs"][0]["cached"] == 0

    again = await h.run(h.spec(config))
    assert stub_server.request_count == 9
    assert all(t.cached for t in stored(h.store, again.run_id))

    more = await h.run(h.spec({**config, "evaluateOptions": {"repeat": 4}}))
    assert stub_server.request_count == 12  # only sample 3 of each case is new
    fresh = [t.sample for t in stored(h.store, more.run_id) if not t.cached]
    assert fresh == [3, 3, 3]


async def test_scripted_cache_is_per_provider_instance(h: Harness) -> None:
    spec = h.spec(
        {"prompts": ["p {{n}}"], "providers": ["scripted"], "tests": [{"vars": {"n": 1}}]}
    )
    providers = h.providers(spec)
    await h.run(spec, providers)
    second = await h.run(spec, providers)
    assert len(providers[0].calls) == 1
    assert stored(h.store, second.run_id)[0].cached
    # a new scripted provider never reads another one's answers
    fresh = h.providers(spec)
    await h.run(spec, fresh)
    assert len(fresh[0].calls) == 1


# -- errors --------------------------------------------------------------------------------


async def test_provider_error_on_one_trial_is_recorded_and_the_rest_pass(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": [
                {
                    "id": "scripted",
                    "config": {
                        "var": "n",
                        "responses": {
                            "0": "fine",
                            "1": {"error": "upstream exploded", "status": 503},
                            "2": "fine",
                        },
                    },
                }
            ],
            "tests": [
                {"vars": {"n": i}, "assert": [{"type": "equals", "value": "fine"}]}
                for i in range(3)
            ],
            "evaluateOptions": {"maxRetries": 2},
        }
    )
    providers = h.providers(spec)
    out = await h.run(spec, providers)

    trials = stored(h.store, out.run_id)
    assert [t.success for t in trials] == [True, False, True]
    bad = trials[1]
    assert bad.error is not None and "upstream exploded" in bad.error and "503" in bad.error
    assert bad.grading is None and bad.output is None
    # retried: one first try and two retries for the failing case
    assert [c.vars["n"] for c in providers[0].calls].count(1) == 3
    assert out.summary["errors"] == 1 and out.summary["passed"] == 2
    assert out.summary["pairs"][0]["errors"] == 1


async def test_undefined_variable_in_a_later_case_stops_the_run_before_any_call(
    h: Harness,
) -> None:
    spec = h.spec(
        {
            # `detail` is read only when `long` is set, which only the second case does
            "prompts": ["Q: {{q}}{% if long %} ({{ detail }}){% endif %}"],
            "providers": ["scripted"],
            "tests": [
                {"vars": {"q": "a", "long": False}},
                {"description": "the long one", "vars": {"q": "b", "long": True}},
                {"vars": {"q": "c", "long": False}},
            ],
        }
    )
    providers = h.providers(spec)
    with pytest.raises(TemplateError) as info:
        await h.run(spec, providers)
    assert info.value.variable == "detail"
    assert "the long one" in str(info.value)
    assert providers[0].calls == []
    assert h.store.list_runs() == []


async def test_variable_read_only_in_an_unrendered_branch_is_not_an_error(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["Q: {{q}}{% if long %} ({{ detail }}){% endif %}"],
            "providers": ["scripted"],
            "tests": [{"vars": {"q": "a", "long": False}}, {"vars": {"q": "b"}}],
        }
    )
    providers = h.providers(spec)
    out = await h.run(spec, providers)
    assert out.status == "succeeded"
    assert [c.prompt for c in providers[0].calls] == ["Q: a", "Q: b"]


async def test_preflight_names_variable_and_test_before_any_call(
    h: Harness, stub_server: StubServer
) -> None:
    spec = h.spec(
        {
            "prompts": ["Hello {{ name }}"],
            "providers": [stub_provider(stub_server)],
            "tests": [{"description": "greets", "vars": {"nme": "x"}}, {"vars": {"name": "y"}}],
        }
    )
    with pytest.raises(TemplateError) as info:
        await h.run(spec)
    assert info.value.variable == "name"
    assert "name" in str(info.value) and "greets" in str(info.value)
    assert stub_server.request_count == 0
    assert h.store.list_runs() == []


async def test_grading_failure_of_a_users_scorer_does_not_stop_the_run(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": ["scripted"],
            "tests": [
                {
                    "vars": {"n": 1},
                    "assert": [
                        {"type": "javascript", "value": "(() => { throw new Error('boom') })()"}
                    ],
                },
                {"vars": {"n": 2}, "assert": [{"type": "equals", "value": "2"}]},
            ],
        }
    )
    out = await h.run(spec)
    trials = stored(h.store, out.run_id)
    assert not trials[0].success and trials[0].grading is not None
    assert "boom" in trials[0].grading.reason
    assert trials[1].success


# -- concurrency ---------------------------------------------------------------------------


async def test_max_concurrency_bounds_requests_in_flight(
    h: Harness, stub_server: StubServer
) -> None:
    stub_server.set_latency(30)
    spec = h.spec(
        {
            "prompts": ["q {{n}}"],
            "providers": [stub_provider(stub_server)],
            "tests": [{"vars": {"n": i}} for i in range(40)],
            "evaluateOptions": {"maxConcurrency": 5, "cache": False},
        }
    )
    out = await h.run(spec)
    assert out.summary["total"] == 40
    # never more than 5, and the engine does keep 5 busy
    assert stub_server.stats()["max_in_flight"] == 5


async def test_many_calls_in_flight_across_two_providers(
    h: Harness, stub_server: StubServer
) -> None:
    stub_server.set_latency(40)
    spec = h.spec(
        {
            "prompts": ["q {{n}}"],
            "providers": [stub_provider(stub_server), stub_provider(stub_server, temperature=0)],
            "tests": [{"vars": {"n": i}} for i in range(100)],
            "evaluateOptions": {"maxConcurrency": 32, "cache": False},
        }
    )
    t0 = time.perf_counter()
    out = await h.run(spec)
    wall = time.perf_counter() - t0
    assert out.summary["total"] == 200
    assert stub_server.stats()["max_in_flight"] == 32
    # 200 calls x 40 ms / 32 = 0.25 s of pure waiting; allow generous slack, not serial (8 s)
    assert wall < 2.0


async def test_delay_makes_calls_sequential(h: Harness, stub_server: StubServer) -> None:
    stub_server.set_latency(5)
    spec = h.spec(
        {
            "prompts": ["q {{n}}"],
            "providers": [stub_provider(stub_server)],
            "tests": [{"vars": {"n": i}} for i in range(6)],
            "evaluateOptions": {"maxConcurrency": 8, "delay": 40, "cache": False},
        }
    )
    t0 = time.perf_counter()
    await h.run(spec)
    assert stub_server.stats()["max_in_flight"] == 1
    assert time.perf_counter() - t0 >= 5 * 0.040


async def test_delay_is_skipped_for_cached_answers(h: Harness, stub_server: StubServer) -> None:
    config = {
        "prompts": ["q {{n}}"],
        "providers": [stub_provider(stub_server)],
        "tests": [{"vars": {"n": i}} for i in range(5)],
        "evaluateOptions": {"delay": 100},
    }
    await h.run(h.spec(config))
    t0 = time.perf_counter()
    out = await h.run(h.spec(config))
    assert out.summary["pairs"][0]["cached"] == 5
    assert time.perf_counter() - t0 < 0.3


# -- persist, then notify ------------------------------------------------------------------


async def test_every_notified_trial_is_already_durable(h: Harness, db_url: str) -> None:
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": [
                {"id": "scripted", "config": {"responses": [{"output": "x", "delay_ms": 1}]}}
            ],
            "tests": [{"vars": {"n": i}} for i in range(60)],
            "evaluateOptions": {"maxConcurrency": 8},
        }
    )
    seen: list[int] = []
    missing: list[int] = []
    with Store.open(db_url) as reader:

        def on_trial(trial: TrialResult) -> None:
            # a second connection sees the committed row: the event came after the commit
            seen.append(trial.index)
            if trial.index not in reader.finished_indexes(trial.run_id):
                missing.append(trial.index)

        out = await h.run(spec, on_trial=on_trial)
    assert missing == []
    assert sorted(seen) == list(range(60))
    assert out.summary["total"] == 60


# -- cancellation --------------------------------------------------------------------------


async def test_cancel_stops_promptly_and_keeps_finished_work(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": [
                {"id": "scripted", "config": {"responses": [{"output": "x", "delay_ms": 50}]}}
            ],
            "tests": [
                {"vars": {"n": i}, "assert": [{"type": "equals", "value": "x"}]} for i in range(200)
            ],
            "evaluateOptions": {"maxConcurrency": 4},
        }
    )
    cancel = asyncio.Event()
    notified: list[int] = []

    def on_trial(trial: TrialResult) -> None:
        notified.append(trial.index)
        if len(notified) >= 10:
            cancel.set()

    t0 = time.perf_counter()
    out = await h.run(spec, on_trial=on_trial, cancel=cancel)
    elapsed = time.perf_counter() - t0

    assert out.status == "cancelled"
    assert elapsed < 1.0  # the whole run would take 200 x 50 ms / 4 = 2.5 s
    trials = stored(h.store, out.run_id)
    assert 10 <= len(trials) < 40
    # nothing half-written: every stored trial is complete and was reported
    assert all(t.output == "x" and t.success and t.grading is not None for t in trials)
    assert sorted(t.index for t in trials) == sorted(notified)
    assert out.summary["total"] == out.summary["passed"] == len(trials)
    assert out.summary["planned"] == 200
    run = h.store.get_run(out.run_id)
    assert run.status == "cancelled"
    assert run.trial_count == len(trials)
    assert run.summary is not None and run.summary["total"] == len(trials)


async def test_cancel_during_retry_wait_stops_promptly(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": ["scripted"],
            "tests": [{"vars": {"n": 1}}],
            "evaluateOptions": {"maxRetries": 3},
        }
    )
    providers = h.providers(spec)
    # a server error asking to come back in 30 s: the run must not sit out the wait
    providers[0].queue(ProviderServerError("busy", status=503, retry_after=30))
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, cancel.set)
    t0 = time.perf_counter()
    out = await h.run(spec, providers, cancel=cancel)
    assert time.perf_counter() - t0 < 1.0
    assert out.status == "cancelled"
    assert stored(h.store, out.run_id) == []
    assert out.summary["total"] == 0


async def test_outer_task_cancellation_records_a_cancelled_run(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": [
                {"id": "scripted", "config": {"responses": [{"output": "x", "delay_ms": 30}]}}
            ],
            "tests": [{"vars": {"n": i}} for i in range(100)],
        }
    )
    ids: list[str] = []
    task = asyncio.create_task(h.run(spec, on_trial=lambda t: ids.append(t.run_id)))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run = h.store.get_run(ids[0])
    assert run.status == "cancelled"
    assert run.trial_count == len(ids) == h.store.count_trials(ids[0])


async def test_cancel_before_start_makes_no_calls(h: Harness) -> None:
    spec = h.spec({"prompts": ["{{n}}"], "providers": ["scripted"], "tests": [{"vars": {"n": 1}}]})
    providers = h.providers(spec)
    cancel = asyncio.Event()
    cancel.set()
    out = await h.run(spec, providers, cancel=cancel)
    assert out.status == "cancelled" and out.summary["total"] == 0
    assert providers[0].calls == []
    assert h.store.get_run(out.run_id).status == "cancelled"


async def test_a_failing_on_trial_fails_the_run_without_hanging(h: Harness) -> None:
    # More trials than the finished-trials queue holds: workers must not wait forever on a
    # writer that has died.
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": ["scripted"],
            "tests": [{"vars": {"n": i}} for i in range(3000)],
            "evaluateOptions": {"maxConcurrency": 16},
        }
    )
    runs: list[str] = []

    def on_trial(trial: TrialResult) -> None:
        runs.append(trial.run_id)
        raise ValueError("the progress display broke")

    with pytest.raises(ValueError, match="progress display"):
        await asyncio.wait_for(h.run(spec, on_trial=on_trial), 20)
    run = h.store.get_run(runs[0])
    assert run.status == "failed"
    assert run.summary is not None and run.summary["status"] == "failed"


# -- memory --------------------------------------------------------------------------------


async def test_large_run_keeps_memory_bounded(h: Harness) -> None:
    n = 20_000
    spec = h.spec(
        {
            "prompts": ["{{n}}"],
            "providers": ["scripted"],
            "tests": [
                {"vars": {"n": i}, "assert": [{"type": "equals", "value": str(i)}]}
                for i in range(n)
            ],
            "evaluateOptions": {"maxConcurrency": 64},
        }
    )
    providers = h.providers(spec)
    providers[0].calls = _Counter()  # keep the provider's call log from growing with N
    tracemalloc.start()
    try:
        out = await h.run(spec, providers, keep_trials=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.summary["total"] == out.summary["passed"] == n
    assert h.store.count_trials(out.run_id) == n
    # Every trial held at once would be well over 40 MB (~2 KB each); the queues hold a few
    # hundred. The bound is generous against noise (SQLite, the summary's latencies).
    assert peak < 12 * 2**20, f"peak traced memory {peak / 2**20:.1f} MB"


class _Counter(list[Any]):
    """A call log that counts calls but keeps none of them."""

    def append(self, item: Any) -> None:
        self.n = getattr(self, "n", 0) + 1


# -- grading -------------------------------------------------------------------------------


async def test_test_transform_is_applied_once(h: Harness) -> None:
    spec = h.spec(
        {
            "prompts": ["hi"],
            "providers": ["scripted"],
            "defaultTest": {"options": {"transform": "output + '!'"}},
            "tests": [
                {"assert": [{"type": "equals", "value": "hi!"}]},
                {
                    "options": {"transform": "output.toUpperCase()"},
                    "assert": [{"type": "equals", "value": "HI"}],
                },
            ],
        }
    )
    out = await h.run(spec)
    trials = stored(h.store, out.run_id)
    assert [t.success for t in trials] == [True, True], [t.grading for t in trials]
    assert trials[0].output == "hi"  # the stored output is the provider's, untransformed


async def test_assert_set_and_thresholds_flow_to_the_trial(h: Harness) -> None:
    one_of_two = {
        "type": "assert-set",
        "threshold": 0.5,
        "assert": [{"type": "contains", "value": "apple"}, {"type": "contains", "value": "kiwi"}],
    }
    spec = h.spec(
        {
            "prompts": ["{{text}}"],
            "providers": ["scripted"],
            "tests": [
                # the set passes at 0.5; the plain assertion fails: score (0.5 + 0) / 2
                {
                    "vars": {"text": "apple pie"},
                    "assert": [one_of_two, {"type": "contains", "value": "cake"}],
                },
                # same, but a test threshold of 0.2 lets that score pass
                {
                    "vars": {"text": "apple pie"},
                    "threshold": 0.2,
                    "assert": [one_of_two, {"type": "contains", "value": "cake"}],
                },
                {"vars": {"text": "nothing"}, "assert": [one_of_two]},
            ],
        }
    )
    out = await h.run(spec)
    trials = stored(h.store, out.run_id)
    assert [t.success for t in trials] == [False, True, False]
    assert trials[0].score == pytest.approx(0.25)
    assert trials[1].score == pytest.approx(0.25)
    grading = trials[0].grading
    assert grading is not None
    set_result = grading.component_results[0]
    assert set_result.passed and set_result.score == pytest.approx(0.5)
    assert [c.passed for c in set_result.component_results] == [True, False]
    assert trials[2].score == 0.0
    # the stored grading is what the runner produced
    assert [t.grading.to_dict() for t in trials if t.grading] == [
        t.grading.to_dict() for t in out.trials if t.grading
    ]
