"""LLM-as-judge assertions end to end: `evaluate()` with the task answered by `echo` and the
judge by the local OpenAI-compatible stub over HTTP, scripted per test; a real SQLite store."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from bench.stub_server import StubServer

import promptyard
from promptyard import EvalResult
from promptyard.core.types import GradingResult
from promptyard.errors import ConfigError, ProviderAuthError
from promptyard.settings import Settings


def judge(stub: StubServer, **config: Any) -> dict[str, Any]:
    return {
        "id": "openai:gpt-4o-mini",
        "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test", **config},
    }


def cfg(stub: StubServer, asserts: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "prompts": ["Answer: {{question}}"],
        "providers": ["echo"],
        "defaultTest": {"options": {"provider": judge(stub)}},
        "tests": [{"vars": {"question": "What is 2+2?"}, "assert": asserts}],
    }
    base.update(over)
    return base


def run(config: dict[str, Any], tmp_path: Path, **kw: Any) -> EvalResult:
    db = f"sqlite:///{tmp_path / 'judge.db'}"
    return promptyard.evaluate(config, base_dir=tmp_path, database_url=db, **kw)


def component(result: EvalResult, i: int = 0) -> GradingResult:
    grading = result.trials[0].grading
    assert grading is not None
    return grading.component_results[i]


def reply(text: str) -> dict[str, Any]:
    """A scripted 200 whose assistant message is `text` (the stub fills usage)."""
    return {
        "body": {
            "id": "chatcmpl-judge",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text},
                 "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
    }  # fmt: skip


# -- llm-rubric ------------------------------------------------------------------------------


def test_rubric_pass_with_spend_kept_apart(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(reply('Sure. {"reason": "mentions 2+2", "pass": true, "score": 0.9}'))
    result = run(cfg(stub_server, [{"type": "llm-rubric", "value": "answers the sum"}]), tmp_path)
    c = component(result)
    assert (c.passed, c.score, c.reason) == (True, 0.9, "mentions 2+2")
    assert c.tokens_used is not None and c.tokens_used.total == 120
    # gpt-4o-mini's price from genai-prices: a real, positive number; echo (the task) is free.
    assert c.cost is not None and c.cost > 0
    summary = result.summary
    assert summary["cost"] == 0.0
    assert summary["judge_cost"] == pytest.approx(c.cost)
    assert summary["total_cost"] == pytest.approx(c.cost)
    assert summary["judge_tokens"] == 120
    # The judge saw the output and the rubric, in our packaged prompt.
    sent = stub_server.requests[-1]["body"]["messages"]
    assert "Answer: What is 2+2?" in sent[-1]["content"]
    assert "answers the sum" in sent[-1]["content"]
    assert c.metadata["prompt"] == "llm-rubric@v1"


def test_rubric_threshold_and_inverse(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(
        reply('{"reason": "partly", "pass": true, "score": 0.4}'),
        reply('{"reason": "partly", "pass": true, "score": 0.4}'),
    )
    asserts = [
        {"type": "llm-rubric", "value": "a", "threshold": 0.5},
        {"type": "not-llm-rubric", "value": "b"},
    ]
    result = run(cfg(stub_server, asserts, evaluateOptions={"maxConcurrency": 1}), tmp_path)
    first, second = component(result, 0), component(result, 1)
    assert (first.passed, first.score) == (False, 0.4)  # pass && score >= threshold
    assert second.passed is False and second.score == pytest.approx(0.6)  # inverted
    assert result.trials[0].success is False


def test_prose_reply_is_asked_again_once(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(
        reply("I think it is fine."), reply('{"pass": false, "score": 0, "reason": "wrong"}')
    )
    result = run(cfg(stub_server, [{"type": "llm-rubric", "value": "x"}]), tmp_path)
    c = component(result)
    assert (c.passed, c.reason, c.error) == (False, "wrong", None)
    assert stub_server.stats()["by_path"]["/v1/chat/completions"] == 2
    retry = stub_server.requests[-1]["body"]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "I think it is fine."}
    assert "could not be read" in retry[-1]["content"]
    assert c.tokens_used is not None and c.tokens_used.total == 240  # both calls counted


def test_unreadable_twice_is_an_error_with_the_raw_reply(
    stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.script(reply("no idea"), reply("still { not json"))
    result = run(cfg(stub_server, [{"type": "llm-rubric", "value": "x"}]), tmp_path)
    c = component(result)
    assert c.passed is False
    assert c.error is not None and "still { not json" in c.error
    assert "not readable" in c.reason
    assert result.summary["grading_errors"] == 1
    # Nothing unreadable was cached: a re-run asks the judge again.
    stub_server.script(reply('{"pass": true, "reason": "fine now"}'))
    again = run(cfg(stub_server, [{"type": "llm-rubric", "value": "x"}]), tmp_path)
    assert component(again).passed is True


def test_judge_replies_are_cached(stub_server: StubServer, tmp_path: Path) -> None:
    config = cfg(stub_server, [{"type": "llm-rubric", "value": "x"}])
    stub_server.script(reply('{"pass": true, "score": 1, "reason": "ok"}'))
    first = run(config, tmp_path)
    calls = stub_server.request_count
    second = run(config, tmp_path)
    assert stub_server.request_count == calls  # no judge call the second time
    assert component(second).reason == "ok"
    assert component(first).cost and component(first).cost > 0  # type: ignore[operator]
    assert component(second).cost == 0.0  # a cached verdict costs nothing this time
    assert component(second).tokens_used.cached == 120  # type: ignore[union-attr]
    stub_server.script(reply('{"pass": true, "score": 1, "reason": "ok"}'))
    third = run(config, tmp_path, request=promptyard.EvalRequest(cache=False))
    assert stub_server.request_count == calls + 1
    assert component(third).passed


def test_judge_provider_failure_is_recorded_and_run_goes_on(
    stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.script({"status": 400, "body": {"error": {"message": "bad judge request"}}})
    config = cfg(
        stub_server, [{"type": "llm-rubric", "value": "x"}, {"type": "contains", "value": "2+2"}]
    )
    result = run(config, tmp_path)
    c = component(result)
    assert c.passed is False and c.error and "bad judge request" in c.error
    assert component(result, 1).passed is True  # the other assertion still graded
    assert result.status == "succeeded"


# -- g-eval and named metrics ------------------------------------------------------------------


def logprob_reply(text: str, score_token: str, alternatives: dict[str, float]) -> dict[str, Any]:
    body = reply(text)["body"]
    head, _, tail = text.partition(score_token)
    tokens = [
        {"token": head, "logprob": -0.01, "top_logprobs": []},
        {"token": score_token, "logprob": math.log(alternatives[score_token]),
         "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in alternatives.items()]},
        {"token": tail, "logprob": -0.01, "top_logprobs": []},
    ]  # fmt: skip
    body["choices"][0]["logprobs"] = {"content": tokens}
    return {"body": body}


def test_geval_steps_then_score(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(
        reply('```json\n{"steps": ["Check the sum", "Check brevity"]}\n```'),
        reply('{"reason": "correct and brief", "score": 8}'),
    )
    result = run(cfg(stub_server, [{"type": "g-eval", "value": "Correct arithmetic"}]), tmp_path)
    c = component(result)
    assert c.score == pytest.approx(0.8) and c.passed  # default threshold 0.7
    assert c.metadata["g_eval"][0]["steps"] == ["Check the sum", "Check brevity"]
    evaluate = stub_server.requests[-1]["body"]["messages"]
    assert "- Check the sum\n- Check brevity" in evaluate[0]["content"]


def test_geval_score_is_probability_weighted_with_logprobs(
    stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.script(
        logprob_reply('{"reason": "ok", "score": 7}', "7", {"7": 0.5, "8": 0.3, "6": 0.2})
    )
    metric = {"name": "correctness", "criteria": "Correct arithmetic", "threshold": 0.7,
              "evaluation_steps": ["Check the sum"]}  # fmt: skip
    config = cfg(stub_server, [], metrics=[metric])
    config["defaultTest"]["options"]["provider"] = judge(stub_server, logprobs=True,
                                                         top_logprobs=5)  # fmt: skip
    result = run(config, tmp_path)
    c = component(result)
    expected = (7 * 0.5 + 8 * 0.3 + 6 * 0.2) / 10  # 0.71, not the sampled 0.7
    assert c.score == pytest.approx(expected)
    assert c.passed is True  # 0.71 >= 0.7
    assert result.trials[0].grading.named_scores == {"correctness": pytest.approx(expected)}  # type: ignore[union-attr]
    assert stub_server.request_count == 1  # evaluation steps given: no steps call
    assert stub_server.requests[-1]["body"]["top_logprobs"] == 5


# -- factuality, closed QA, RAG metrics ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "passed", "category"),
    [
        ('{"category": "B", "reason": "adds detail"}', True, "B"),
        ('{"category": "d", "reason": "says 5"}', False, "D"),
        ("(E) style differs only", True, "E"),
    ],
)
def test_factuality(
    stub_server: StubServer, tmp_path: Path, text: str, passed: bool, category: str
) -> None:
    stub_server.script(reply(text))
    result = run(cfg(stub_server, [{"type": "factuality", "value": "4"}]), tmp_path)
    c = component(result)
    assert (c.passed, c.metadata["category"]) == (passed, category)
    sent = stub_server.requests[-1]["body"]["messages"][-1]["content"]
    assert "[Expert answer]: 4" in sent and "[Question]: Answer: What is 2+2?" in sent


def test_factuality_custom_scores(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(reply('{"category": "A", "reason": "subset"}'))
    config = cfg(stub_server, [{"type": "factuality", "value": "4"}])
    config["defaultTest"]["options"]["factuality"] = {"subset": 0}
    assert component(run(config, tmp_path)).passed is False


def test_closedqa(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(reply("It answers the sum.\nY"))
    c = component(run(cfg(stub_server, [{"type": "model-graded-closedqa", "value": "ok"}]),
                      tmp_path))  # fmt: skip
    assert c.passed and c.reason.startswith("The submission meets the criterion")


def test_context_recall_and_faithfulness(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(
        reply("1. Paris is the capital. [Attributed]\n2. It has 3M people. [Not attributed]"),
        reply("The capital of France is Paris.\nParis is big."),
        reply("1. ok. Verdict: Yes.\n2. no. Verdict: No."),
    )
    config = cfg(
        stub_server,
        [
            {"type": "context-recall", "value": "Paris is the capital. It has 3M people.",
             "threshold": 0.5},
            {"type": "context-faithfulness", "threshold": 0.6},
        ],
        evaluateOptions={"maxConcurrency": 1},
    )  # fmt: skip
    config["tests"][0]["vars"].update(query="Capital of France?", context="Paris is the capital.")
    result = run(config, tmp_path)
    recall, faith = component(result, 0), component(result, 1)
    assert (recall.passed, recall.score, recall.reason) == (True, 0.5, "Recall 0.50 is >= 0.5")
    assert (faith.passed, faith.score) == (False, 0.5)
    assert faith.reason == "Faithfulness 0.50 is < 0.6"


def test_context_assertions_name_missing_vars(stub_server: StubServer, tmp_path: Path) -> None:
    result = run(cfg(stub_server, [{"type": "context-faithfulness"}]), tmp_path)
    c = component(result)
    assert c.error and '"query" variable' in c.error
    assert stub_server.request_count == 0


# -- which judge, and failing early -------------------------------------------------------------


def test_default_judge_without_key_fails_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = {
        "prompts": ["hi"],
        "providers": ["echo"],
        "tests": [{"assert": [{"type": "llm-rubric", "value": "polite"}]}],
    }
    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY"):
        run(config, tmp_path, settings=Settings())


def test_judge_profile_names_the_judge(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(reply('{"pass": true, "reason": "fine"}'))
    config = cfg(stub_server, [{"type": "llm-rubric", "value": "x"}])
    del config["defaultTest"]
    config["profiles"] = {"grader": judge(stub_server)}
    config["judge_profile"] = "grader"
    result = run(config, tmp_path)
    assert component(result).passed
    assert component(result).metadata["judge"] == "openai:gpt-4o-mini"


def test_bad_metric_config_names_the_field(stub_server: StubServer, tmp_path: Path) -> None:
    config = cfg(stub_server, [], metrics=[{"name": "m", "criteria": "", "threshold": 0.5}])
    with pytest.raises(ConfigError, match=r"metrics\[0\]\.criteria"):
        run(config, tmp_path)


def test_unsupported_model_type_is_refused_at_load(stub_server: StubServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="classifier"):
        run(cfg(stub_server, [{"type": "classifier", "value": "x"}]), tmp_path)


def test_rubric_prompt_override(stub_server: StubServer, tmp_path: Path) -> None:
    (tmp_path / "rubric.json").write_text(
        json.dumps([{"role": "user", "content": "JUDGE {{ output }} BY {{ rubric }}"}])
    )
    stub_server.script(reply('{"pass": true, "reason": "ok"}'))
    config = cfg(stub_server, [{"type": "llm-rubric", "value": "the rubric"}])
    config["defaultTest"]["options"]["rubricPrompt"] = "file://rubric.json"
    result = run(config, tmp_path)
    sent = stub_server.requests[-1]["body"]["messages"]
    assert sent == [{"role": "user", "content": "JUDGE Answer: What is 2+2? BY the rubric"}]
    assert component(result).metadata["prompt"] == "file://rubric.json"


# -- similar, through the judge's embedding models -------------------------------------------


def test_similar_through_an_embeddings_api(stub_server: StubServer, tmp_path: Path) -> None:
    emb = {"id": "openai:embedding:text-embedding-3-small",
           "config": {"apiBaseUrl": stub_server.base_url, "apiKey": "sk-test"}}  # fmt: skip
    config = cfg(stub_server, [
        {"type": "similar", "value": "Answer: What is 2+2?", "threshold": 0.99},
        {"type": "not-similar", "value": "something else entirely", "threshold": 0.99},
    ])  # fmt: skip
    config["defaultTest"]["options"]["provider"] = {"embedding": emb}
    result = run(config, tmp_path)
    same, other = component(result, 0), component(result, 1)
    assert same.passed and same.score == pytest.approx(1.0)  # the stub embeds text identically
    assert other.passed
    assert same.tokens_used is not None and same.tokens_used.total > 0
    assert result.summary["judge_tokens"] > 0


def test_similar_offline_with_minilm(tmp_path: Path) -> None:
    config = {
        "prompts": ["A cat sits on the mat"],
        "providers": ["echo"],
        "defaultTest": {"options": {"provider": {"embedding": "local:all-MiniLM-L6-v2"}}},
        "tests": [{"assert": [
            {"type": "similar", "value": "A kitten is on the rug", "threshold": 0.5},
            {"type": "similar", "value": "Stock markets fell sharply", "threshold": 0.5},
        ]}],
    }  # fmt: skip
    result = run(config, tmp_path)
    near, far = component(result, 0), component(result, 1)
    assert near.passed and near.score > 0.5
    assert not far.passed and far.score < 0.2
    assert result.summary["judge_cost"] == 0.0  # a local model is free


# -- KPIs ---------------------------------------------------------------------------------------


def test_kpis_per_trial_and_run_gate(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(reply('{"pass": true, "score": 0.8, "reason": "ok"}'))
    config = cfg(
        stub_server,
        [{"type": "llm-rubric", "value": "x", "metric": "quality"},
         {"type": "contains", "value": "2+2"}],
        kpis=[
            {"name": "q", "expression": "quality", "weight": 3},
            {"name": "short", "expression": "1 if output_length < 10 else 0", "weight": 1},
            {"name": "broken", "expression": "score / (cached - cached)", "weight": 0},
        ],
        kpi_threshold=0.7,
    )  # fmt: skip
    result = run(config, tmp_path)
    kpis = result.trials[0].kpis
    assert kpis is not None
    assert kpis["values"]["q"] == pytest.approx(0.8)
    assert kpis["values"]["short"] == 0.0  # "Answer: What is 2+2?" is 20 characters
    assert kpis["score"] == pytest.approx((3 * 0.8 + 0) / 4)
    assert "broken" in kpis["errors"]
    run_kpi = result.summary["kpi"]
    assert run_kpi["score"] == pytest.approx(0.6) and run_kpi["passed"] is False
    assert run_kpi["threshold"] == 0.7
    assert result.summary["pairs"][0]["kpi"]["values"]["q"] == pytest.approx(0.8)
    # Kept in the store, as each trial completes.
    from promptyard.store import Store

    with Store.open(result.database_url) as store:
        (trial,) = list(store.iter_trials(result.run_id))
    assert trial.kpis == kpis


def test_hostile_kpi_is_refused_at_load(stub_server: StubServer, tmp_path: Path) -> None:
    config = cfg(stub_server, [], kpis=[{"name": "x", "expression": "().__class__"}])
    with pytest.raises(ConfigError, match=r"kpis\[0\]\.expression"):
        run(config, tmp_path)


def test_answer_relevance_compares_generated_questions_with_the_query(
    stub_server: StubServer, tmp_path: Path
) -> None:
    query = "What is 2+2?"
    stub_server.script(reply(query), reply(query), reply("Who won the cup in 1966?"))
    emb = {"id": "openai:embedding:text-embedding-3-small",
           "config": {"apiBaseUrl": stub_server.base_url, "apiKey": "sk-test"}}  # fmt: skip
    config = cfg(stub_server, [{"type": "answer-relevance", "threshold": 0.9}])
    config["defaultTest"]["options"]["provider"] = {"text": judge(stub_server), "embedding": emb}
    config["tests"][0]["vars"]["query"] = query
    result = run(config, tmp_path)
    c = component(result)
    sims = [q["similarity"] for q in c.metadata["questions"]]
    assert sims[0] == pytest.approx(1.0) and sims[1] == pytest.approx(1.0) and sims[2] < 0.9
    assert c.score == pytest.approx(sum(sims) / 3)
    assert c.passed is (c.score >= 0.9)
    assert c.reason.startswith("Relevance ")
    paths = stub_server.stats()["by_path"]
    assert paths["/v1/chat/completions"] == 3 and paths["/v1/embeddings"] == 1


# -- select-best: one verdict across a case's outputs -----------------------------------------


def test_select_best_picks_one_output_per_case_and_sample(
    stub_server: StubServer, tmp_path: Path
) -> None:
    config = cfg(
        stub_server,
        [{"type": "select-best", "value": "the most {{ tone }} answer"},
         {"type": "contains", "value": "2"}],
        prompts=["Short: {{question}}", "Long: {{question}}", "Other: {{question}}"],
        evaluateOptions={"repeat": 2},
    )  # fmt: skip
    config["tests"][0]["vars"]["tone"] = "formal"
    stub_server.script(reply("Index 1 fits best"), reply("2"))  # one call per sample
    result = run(config, tmp_path)
    assert len(result.trials) == 6  # 3 prompts x 2 samples
    by_sample: dict[int, list[Any]] = {}
    for t in sorted(result.trials, key=lambda t: t.index):
        by_sample.setdefault(t.sample, []).append(t)
    assert stub_server.stats()["by_path"]["/v1/chat/completions"] == 2
    chosen = {s: [t.prompt_label for t in ts if t.success] for s, ts in by_sample.items()}
    # The two samples' judge calls race; each gets one of the scripted verdicts.
    assert sorted(chosen.values()) == [["Long: {{question}}"], ["Other: {{question}}"]]
    loser = by_sample[0][0]
    assert loser.success is False and loser.score == 0.0
    assert loser.grading is not None
    assert loser.grading.reason == "Output not selected: the most formal answer"
    kinds = [c.assertion.type for c in loser.grading.component_results if c.assertion]
    assert kinds == ["contains", "select-best"]
    sent = stub_server.requests[0]["body"]["messages"][0]["content"]
    assert "the most formal answer" in sent and '<Text index="2">' in sent
    # The comparison's spend is counted once per group.
    assert result.summary["judge_tokens"] == 240
    assert result.summary["passed"] == 2


def test_select_best_needs_several_outputs(stub_server: StubServer, tmp_path: Path) -> None:
    config = cfg(stub_server, [{"type": "select-best", "value": "best"}])
    with pytest.raises(ConfigError, match="select-best compares"):
        run(config, tmp_path)
