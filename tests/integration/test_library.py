"""The library API, `promptyard.evaluate` and `evaluate_async`, against the local stub over
HTTP and a real SQLite store in a temp dir."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from bench.stub_server import StubServer

import promptyard
from promptyard import EvalRequest, EvalResult
from promptyard.core.plan import plan_trials
from promptyard.core.types import TrialResult
from promptyard.errors import ConfigError, ProviderAuthError, TemplateError
from promptyard.library import load_spec
from promptyard.settings import Settings
from promptyard.store import Store

WORDS = ["apple", "banana", "cherry", "damson"]


def provider(stub: StubServer, **config: Any) -> dict[str, Any]:
    return {
        "id": "openai:gpt-4o-mini",
        "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test", **config},
    }


def config(stub: StubServer, **over: Any) -> dict[str, Any]:
    """Four cases; the stub echoes the prompt, so "Say X" contains X and every case passes."""
    base: dict[str, Any] = {
        "description": "library test",
        "prompts": ["Say {{word}}"],
        "providers": [provider(stub)],
        "tests": [
            {"vars": {"word": w}, "assert": [{"type": "contains", "value": w}]} for w in WORDS
        ],
    }
    base.update(over)
    return base


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lib.db'}"


def run(cfg: dict[str, Any], tmp_path: Path, db: str, **kw: Any) -> EvalResult:
    return promptyard.evaluate(cfg, base_dir=tmp_path, database_url=db, **kw)


def stored(db: str, run_id: str) -> list[TrialResult]:
    with Store.open(db) as store:
        return list(store.iter_trials(run_id))


# -- results and the store ---------------------------------------------------------------


def test_evaluate_returns_summary_and_trials_and_stores_them(
    stub_server: StubServer, tmp_path: Path, db: str
) -> None:
    cfg = config(stub_server)
    # one case fails: the stub says "Say cherry", which does not contain "plum"
    cfg["tests"][2]["assert"] = [{"type": "contains", "value": "plum"}]
    result = run(cfg, tmp_path, db)

    assert result.status == "succeeded"
    assert result.database_url == db
    s = result.summary
    assert (s["total"], s["passed"], s["failed"], s["errors"]) == (4, 3, 1, 0)
    assert result.pass_rate == pytest.approx(0.75) and not result.all_passed
    (pair,) = s["pairs"]
    assert pair["provider_id"] == "openai:gpt-4o-mini"
    assert pair["prompt_label"] == "Say {{word}}"
    assert (pair["total"], pair["passed"], pair["failed"], pair["errors"]) == (4, 3, 1, 0)
    assert pair["pass_rate"] == pytest.approx(0.75)
    assert pair["mean_score"] == pytest.approx(0.75)
    # the stub counts words as tokens: "Say X" is 2 words + 1 role marker, the reply 2 words
    assert pair["tokens"] == {"prompt": 12, "completion": 8, "total": 20}
    assert s["tokens"] == 20
    assert pair["cost"] > 0 and s["cost"] == pytest.approx(pair["cost"])
    assert pair["cost"] == pytest.approx(sum(t.cost or 0 for t in result.trials))
    lat = pair["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"]
    assert s["planned"] == 4 and s["status"] == "succeeded"

    assert [t.index for t in result.trials] == [0, 1, 2, 3]
    assert [t.output for t in result.trials] == [f"Say {w}" for w in WORDS]
    assert [t.success for t in result.trials] == [True, True, False, True]

    with Store.open(db) as store:
        record = store.get_run(result.run_id)
        assert record.status == "succeeded"
        assert record.description == "library test"
        assert record.trial_count == 4
        assert record.summary is not None and record.summary["passed"] == 3
        trials = list(store.iter_trials(result.run_id))
    assert [t.index for t in trials] == [0, 1, 2, 3]
    for mine, back in zip(result.trials, trials, strict=True):
        assert back.run_id == result.run_id
        assert (back.output, back.success, back.score, back.prompt) == (
            mine.output,
            mine.success,
            mine.score,
            mine.prompt,
        )
        assert back.usage == mine.usage and back.cost == pytest.approx(mine.cost)
        assert mine.grading is not None and back.grading is not None
        assert back.grading.to_dict() == mine.grading.to_dict()
    assert "plum" in trials[2].grading.component_results[0].reason  # type: ignore[union-attr]


async def test_evaluate_async_with_a_config_file(
    stub_server: StubServer, tmp_path: Path, db: str
) -> None:
    import json

    (tmp_path / "promptyard.yaml").write_text(json.dumps(config(stub_server)))
    seen: list[int] = []
    result = await promptyard.evaluate_async(
        tmp_path, database_url=db, on_trial=lambda t: seen.append(t.index)
    )
    assert result.status == "succeeded" and result.all_passed
    assert sorted(seen) == [0, 1, 2, 3]
    assert [t.index for t in stored(db, result.run_id)] == [0, 1, 2, 3]


def test_trial_indexes_match_the_plan(stub_server: StubServer, tmp_path: Path, db: str) -> None:
    cfg = config(
        stub_server,
        prompts=["Say {{word}}", "Please say {{word}}"],
        providers=[provider(stub_server), provider(stub_server, temperature=0.5)],
        evaluateOptions={"repeat": 2, "maxConcurrency": 16},
    )
    result = run(cfg, tmp_path, db)
    plan = list(plan_trials(load_spec(cfg, base_dir=tmp_path)))
    trials = stored(db, result.run_id)
    assert len(trials) == len(plan) == 4 * 2 * 2 * 2
    for t, p in zip(trials, plan, strict=True):
        assert t.index == p.index
        assert (t.case_index, t.prompt_id, t.sample) == (p.case_index, p.prompt.id, p.sample)
    # the same model twice (different settings) stays two columns, with distinct labels
    assert [t.provider_label for t in trials[:4]] == [
        "openai:gpt-4o-mini",
        "openai:gpt-4o-mini",
        "openai:gpt-4o-mini #2",
        "openai:gpt-4o-mini #2",
    ]
    pairs = result.summary["pairs"]
    assert len(pairs) == 4 and {p["total"] for p in pairs} == {8}
    with Store.open(db) as store:
        labels = [p["label"] for p in store.get_run(result.run_id).providers]
    assert labels == ["openai:gpt-4o-mini", "openai:gpt-4o-mini #2"]


def test_request_overrides_and_filters(stub_server: StubServer, tmp_path: Path, db: str) -> None:
    request = EvalRequest(filter_pattern="^keep", repeat=2, description="filtered")
    cfg = config(stub_server)
    for i, t in enumerate(cfg["tests"]):
        t["description"] = "keep" if i % 2 == 0 else "drop"
    result = run(cfg, tmp_path, db, request=request)
    assert result.summary["total"] == 4  # 2 cases x 2 samples
    assert stub_server.request_count == 4
    with Store.open(db) as store:
        assert store.get_run(result.run_id).description == "filtered"


def test_bad_concurrency_override_names_the_field(tmp_path: Path, stub_server: StubServer) -> None:
    with pytest.raises(ConfigError, match="max_concurrency"):
        load_spec(config(stub_server), base_dir=tmp_path, request=EvalRequest(max_concurrency=0))


# -- cache ---------------------------------------------------------------------------------


def test_unchanged_rerun_is_served_from_the_cache(
    stub_server: StubServer, tmp_path: Path, db: str
) -> None:
    first = run(config(stub_server), tmp_path, db)
    assert stub_server.request_count == 4
    assert first.summary["pairs"][0]["cached"] == 0
    assert first.summary["cost"] > 0

    second = run(config(stub_server), tmp_path, db)
    assert stub_server.request_count == 4  # no provider call at all
    pair = second.summary["pairs"][0]
    assert pair["cached"] == 4 and pair["passed"] == 4
    assert second.summary["cost"] == 0 and pair["cost"] == 0  # cached answers cost nothing
    assert all(t.cached for t in stored(db, second.run_id))
    assert [t.output for t in second.trials] == [t.output for t in first.trials]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"prompts": ["Now say {{word}}"]}, id="prompt"),
        pytest.param({"params": {"temperature": 0.3}}, id="model-params"),
        pytest.param({"params": {"max_tokens": 50}}, id="max-tokens"),
    ],
)
def test_changed_prompt_or_params_miss_the_cache(
    stub_server: StubServer, tmp_path: Path, db: str, change: dict[str, Any]
) -> None:
    run(config(stub_server), tmp_path, db)
    assert stub_server.request_count == 4
    cfg = config(stub_server)
    if "prompts" in change:
        cfg["prompts"] = change["prompts"]
    else:
        cfg["providers"] = [provider(stub_server, **change["params"])]
    result = run(cfg, tmp_path, db)
    assert stub_server.request_count == 8
    assert result.summary["pairs"][0]["cached"] == 0


def test_settings_that_cannot_change_the_answer_keep_the_cache(
    stub_server: StubServer, tmp_path: Path, db: str
) -> None:
    run(config(stub_server), tmp_path, db)
    cfg = config(stub_server, providers=[provider(stub_server, max_retries=1, timeout=30)])
    result = run(cfg, tmp_path, db)
    assert stub_server.request_count == 4
    assert result.summary["pairs"][0]["cached"] == 4


def test_new_sample_index_misses_the_cache(
    stub_server: StubServer, tmp_path: Path, db: str
) -> None:
    run(config(stub_server), tmp_path, db)
    result = run(config(stub_server), tmp_path, db, request=EvalRequest(repeat=2))
    assert stub_server.request_count == 8  # samples 1 are new; samples 0 come from the cache
    assert [(t.sample, t.cached) for t in result.trials[:2]] == [(0, True), (1, False)]


def test_cache_off_calls_again(stub_server: StubServer, tmp_path: Path, db: str) -> None:
    run(config(stub_server), tmp_path, db)
    cfg = config(stub_server, evaluateOptions={"cache": False})
    result = run(cfg, tmp_path, db)
    assert stub_server.request_count == 8
    assert result.summary["pairs"][0]["cached"] == 0
    # the EvalRequest override does the same
    run(config(stub_server), tmp_path, db, request=EvalRequest(cache=False))
    assert stub_server.request_count == 12


def test_cache_setting_off_calls_again(stub_server: StubServer, tmp_path: Path, db: str) -> None:
    run(config(stub_server), tmp_path, db)
    result = run(config(stub_server), tmp_path, db, settings=Settings(cache=False))
    assert stub_server.request_count == 8
    assert result.summary["pairs"][0]["cached"] == 0
    # an explicit request wins over the setting
    run(
        config(stub_server),
        tmp_path,
        db,
        settings=Settings(cache=False),
        request=EvalRequest(cache=True),
    )
    assert stub_server.request_count == 8


def test_errors_are_not_cached(stub_server: StubServer, tmp_path: Path, db: str) -> None:
    stub_server.script({"status": 400})  # fatal: recorded, not retried
    cfg = config(stub_server, evaluateOptions={"maxConcurrency": 1})
    first = run(cfg, tmp_path, db)
    assert first.summary["errors"] == 1
    second = run(cfg, tmp_path, db)
    assert stub_server.request_count == 5  # only the failed case is asked again
    assert second.summary["errors"] == 0 and second.all_passed


# -- provider errors -------------------------------------------------------------------------


def _one_at_a_time(stub: StubServer, retries: int = 1) -> dict[str, Any]:
    # one call at a time, so scripted stub replies land on the first case
    return config(stub, evaluateOptions={"maxConcurrency": 1, "maxRetries": retries})


def test_server_errors_past_max_retries_are_recorded_on_the_trial(
    stub_server: StubServer, tmp_path: Path, db: str
) -> None:
    stub_server.script(
        {"status": 500, "headers": {"Retry-After": "0"}},
        {"status": 500, "headers": {"Retry-After": "0"}},
    )
    result = run(_one_at_a_time(stub_server, retries=1), tmp_path, db)
    assert stub_server.request_count == 5  # two tries for the first case, one for the others
    trials = stored(db, result.run_id)
    assert trials[0].error is not None and "500" in trials[0].error
    assert not trials[0].success and trials[0].grading is None
    assert [t.success for t in trials[1:]] == [True, True, True]
    s = result.summary
    assert (s["passed"], s["errors"], s["failed"]) == (3, 1, 0)
    assert s["pairs"][0]["latency_ms"]["p50"] > 0  # from the three answered calls


def test_a_retry_that_succeeds_is_not_an_error(
    stub_server: StubServer, tmp_path: Path, db: str
) -> None:
    stub_server.script({"status": 503, "headers": {"Retry-After": "0"}})
    result = run(_one_at_a_time(stub_server, retries=1), tmp_path, db)
    assert result.all_passed and stub_server.request_count == 5


@pytest.mark.parametrize(
    ("reply", "expect"),
    [
        pytest.param({"status": 401}, "401", id="auth"),
        pytest.param({"malformed": True}, "", id="malformed-body"),
        pytest.param({"body": {"choices": []}}, "", id="no-choices"),
    ],
)
def test_fatal_provider_errors_are_recorded_on_one_trial(
    stub_server: StubServer, tmp_path: Path, db: str, reply: dict[str, Any], expect: str
) -> None:
    stub_server.script(reply)
    result = run(_one_at_a_time(stub_server, retries=3), tmp_path, db)
    assert stub_server.request_count == 4  # fatal: never retried
    trials = stored(db, result.run_id)
    assert trials[0].error is not None and expect in trials[0].error
    assert trials[0].output is None and not trials[0].success
    assert [t.success for t in trials[1:]] == [True, True, True]
    assert result.summary["errors"] == 1 and result.status == "succeeded"


def test_missing_api_key_fails_before_the_run(
    stub_server: StubServer, tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = config(
        stub_server,
        providers=[{"id": "openai:gpt-4o-mini", "config": {"apiBaseUrl": stub_server.base_url}}],
    )
    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY"):
        run(cfg, tmp_path, db)
    assert stub_server.request_count == 0


def test_preflight_template_error_names_variable_and_test(
    stub_server: StubServer, tmp_path: Path, db: str
) -> None:
    cfg = config(stub_server, prompts=["Say {{ wrd }}"])
    with pytest.raises(TemplateError) as info:
        run(cfg, tmp_path, db)
    assert info.value.variable == "wrd"
    assert "wrd" in str(info.value) and "tests[0]" in str(info.value)
    assert stub_server.request_count == 0


# -- cancellation ------------------------------------------------------------------------------


async def test_evaluate_async_cancel_event(
    stub_server: StubServer, tmp_path: Path, db: str
) -> None:
    stub_server.set_latency(40)
    cfg = config(stub_server, tests=[{"vars": {"word": f"w{i}"}} for i in range(100)])
    cancel = asyncio.Event()
    seen: list[int] = []

    def on_trial(t: TrialResult) -> None:
        seen.append(t.index)
        if len(seen) == 5:
            cancel.set()

    result = await promptyard.evaluate_async(
        cfg,
        base_dir=tmp_path,
        database_url=db,
        request=EvalRequest(max_concurrency=2),
        cancel=cancel,
        on_trial=on_trial,
    )
    assert result.status == "cancelled"
    trials = stored(db, result.run_id)
    assert len(trials) == result.summary["total"] == len(seen) == len(result.trials)
    assert 5 <= len(trials) < 20
    assert all(t.output is not None for t in trials)
