"""The optimization loop end to end: the task answered by `echo` (it returns the rendered
prompt), the proposer by the local stub over HTTP, a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from bench.stub_server import StubServer

from promptyard.errors import ConfigError
from promptyard.library import optimize_async
from promptyard.optimize.loop import Outcome, Settings


def config(n: int = 30) -> dict[str, Any]:
    return {
        "prompts": ["Answer: {{q}}"],
        "providers": ["echo"],
        "tests": [{"vars": {"q": f"question {i}"},
                   "assert": [{"type": "icontains", "value": "please"}]}
                  for i in range(n)],
    }  # fmt: skip


def proposer(stub: StubServer) -> dict[str, Any]:
    return {"id": "openai:chat:gpt-4o-mini",
            "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test"}}  # fmt: skip


def reply(text: str) -> dict[str, Any]:
    return {"body": {"id": "x", "object": "chat.completion", "model": "gpt-4o-mini",
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text}}],
                     "usage": {"prompt_tokens": 200, "completion_tokens": 20,
                               "total_tokens": 220}}}  # fmt: skip


EVENTS: list[tuple[str, dict[str, Any]]] = []  # the last run's notifications


def run(stub: StubServer, tmp_path: Path, cfg: dict[str, Any], **kw: Any) -> Outcome:
    db = f"sqlite:///{tmp_path / 'opt.db'}"
    EVENTS.clear()

    async def notify(kind: str, payload: dict[str, Any]) -> None:
        EVENTS.append((kind, payload))

    return asyncio.run(optimize_async(cfg, proposer=proposer(stub), base_dir=tmp_path,
                                      database_url=db, notify=notify, **kw))  # fmt: skip


def test_a_better_prompt_is_accepted_and_scored_on_test(
    stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.script(reply("Here you go:\n<prompt>Please answer: {{q}}</prompt>"))
    out = run(stub_server, tmp_path, config(), options=Settings(max_cycles=2, patience=1))
    assert out.best_prompt == "Please answer: {{q}}"
    seed, best = out.iterations[0], out.iterations[1]
    assert (seed.val_score, best.val_score, best.accepted) == (0.0, 1.0, True)
    assert best.decision is not None and best.decision.interval[0] > 0
    assert (out.seed_test, out.best_test) == (0.0, 1.0)
    assert out.val_test_gap == 0.0
    # The proposer saw the incumbent, its train score and its failures; never val or test.
    sent = stub_server.requests[0]["body"]["messages"][-1]["content"]
    assert "Answer: {{q}}" in sent and "Training score: 0.000" in sent
    assert 'Expected output to contain "please"' in sent
    assert out.spent_usd > 0  # the proposer's call is priced (gpt-4o-mini); echo is free
    kinds = [k for k, _ in EVENTS]
    assert kinds[0] == "step" and "proposal" in kinds and kinds[-1] == "step"


def test_no_gain_is_rejected_and_patience_stops(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.script(reply("<prompt>Answer now: {{q}}</prompt>"),
                       reply("<prompt>Answer again: {{q}}</prompt>"))  # fmt: skip
    out = run(stub_server, tmp_path, config(), options=Settings(max_cycles=5, patience=2))
    assert [i.accepted for i in out.iterations] == [True, False, False]
    assert out.best_prompt == "Answer: {{q}}"
    assert out.stopped == "no accepted candidate in 2 cycles"
    assert out.iterations[1].decision is not None
    assert "not above" in out.iterations[1].decision.reason


def test_a_candidate_that_drops_a_variable_is_not_evaluated(
    stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.script(reply("<prompt>Please answer the question.</prompt>"))
    out = run(stub_server, tmp_path, config(), options=Settings(max_cycles=1, patience=1))
    assert len(out.iterations) == 1 and out.best_prompt == "Answer: {{q}}"


def test_one_text_prompt_only(stub_server: StubServer, tmp_path: Path) -> None:
    cfg = config()
    cfg["prompts"] = ["a {{q}}", "b {{q}}"]
    with pytest.raises(ConfigError, match="one text prompt"):
        run(stub_server, tmp_path, cfg)


def test_kpis_are_the_objective_when_the_config_has_them(
    stub_server: StubServer, tmp_path: Path
) -> None:
    """Every case passes its assertion either way; only the KPI (short outputs) can improve."""
    cfg = {
        **config(),
        "prompts": ["Please give an answer to this one: {{q}}"],
        "kpis": [{"name": "short", "expression": "1 if output_length < 20 else 0"}],
    }
    stub_server.script(reply("<prompt>Please: {{q}}</prompt>"))
    out = run(stub_server, tmp_path, cfg, options=Settings(max_cycles=1, patience=1))
    assert (out.iterations[0].val_score, out.iterations[1].val_score) == (0.0, 1.0)
    assert out.best_prompt == "Please: {{q}}" and out.best_step == 1
