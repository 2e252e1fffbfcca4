"""The scripted task model and proposer (bench/task_model.py), over real HTTP to the stub."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bench.stub_server import StubServer
from bench.task_model import (
    DEFAULT_EDITS,
    DEFAULT_PROMPT,
    PROPOSER_MODEL,
    TASK_MODEL,
    TASK_PRICE,
    Features,
    answer_for,
    install,
    make_cases,
    make_task,
    question_for,
    task_provider,
)

from promptyard.core.templates import template_variables
from promptyard.core.types import CompletionRequest, ProviderSpec
from promptyard.providers import create_provider
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


N = 400  # cases per accuracy measure: the standard error is at most 0.025
TOL = 0.06  # well under half the smallest feature effect (0.175)
CASES = make_cases(N, seed=3)
PHRASE = "Think step by step.\n"
RULE = "Answer with the answer only.\n"
QUESTIONS = [c["vars"]["question"] for c in CASES[:60]]


@pytest.fixture
def client(stub_server: StubServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stub_server.base_url, timeout=10) as c:
        yield c


def chat(client: httpx.Client, model: str, text: str) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    r = client.post("/chat/completions", json=body, headers={"Authorization": "Bearer sk-test"})
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def reply(client: httpx.Client, model: str, text: str) -> str:
    return str(chat(client, model, text)["choices"][0]["message"]["content"])


def demo(topic: str) -> str:
    """An "Examples" section with one demonstration of `topic` (a case outside the task), as
    optimize/demos.py appends it after the prompt."""
    return f"\n\nExamples:\n\nquestion: {question_for(9000, topic)}\nAnswer: {answer_for(9000)}"


def accuracy(client: httpx.Client, head: str = "", with_demo: bool = False) -> float:
    right = 0
    for case in CASES:
        examples = demo(case["metadata"]["topic"]) if with_demo else ""
        text = head + DEFAULT_PROMPT.replace("{{ question }}", case["vars"]["question"]) + examples
        right += reply(client, TASK_MODEL, text) == case["assert"][0]["value"]
    return right / N


def test_same_request_same_answer_with_usage(stub_server: StubServer, client: httpx.Client) -> None:
    install(stub_server, seed=1)
    text = DEFAULT_PROMPT.replace("{{ question }}", question_for(5, "art"))
    first, again = chat(client, TASK_MODEL, text), chat(client, TASK_MODEL, text)
    assert first["choices"][0]["message"] == again["choices"][0]["message"]
    assert first["model"] == TASK_MODEL
    usage = first["usage"]
    assert usage["prompt_tokens"] == len(text.split()) + 1 and usage["completion_tokens"] >= 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_a_reworded_prompt_redraws(stub_server: StubServer, client: httpx.Client) -> None:
    install(stub_server, signal=False)
    a = [reply(client, TASK_MODEL, f"Answer the question.\n{q}") for q in QUESTIONS]
    b = [reply(client, TASK_MODEL, f"Answer this question.\n{q}") for q in QUESTIONS]
    assert sum(x != y for x, y in zip(a, b, strict=True)) > len(a) // 2  # same cases, new draws


def test_each_feature_raises_accuracy(stub_server: StubServer, client: httpx.Client) -> None:
    task, _ = install(stub_server, seed=0)
    measured = {
        "none": accuracy(client),
        "rule": accuracy(client, RULE),
        "phrase": accuracy(client, PHRASE),
        "rule+phrase": accuracy(client, RULE + PHRASE),
        "rule+demo": accuracy(client, RULE, with_demo=True),
        "all": accuracy(client, RULE + PHRASE, with_demo=True),
    }
    expected = {
        "none": task.expected(),
        "rule": task.expected(Features(format_rule=True)),
        "phrase": task.expected(Features(phrase=True)),
        "rule+phrase": task.expected(Features(phrase=True, format_rule=True)),
        "rule+demo": task.expected(Features(demo=True, format_rule=True)),
        "all": task.expected(Features(True, True, True)),
    }
    assert expected == pytest.approx(
        {"none": 0.175, "rule": 0.35, "phrase": 0.325, "rule+phrase": 0.65,
         "rule+demo": 0.55, "all": 0.85}
    )  # fmt: skip
    for name, value in measured.items():
        assert value == pytest.approx(expected[name], abs=TOL), name
    # Each feature alone moves the rate beyond the tolerance.
    assert measured["rule"] > measured["none"] + 2 * TOL
    assert measured["phrase"] > measured["none"] + 2 * TOL
    assert measured["rule+phrase"] > measured["rule"] + 2 * TOL
    assert measured["rule+demo"] > measured["rule"] + 2 * TOL


def test_without_signal_features_change_nothing(
    stub_server: StubServer, client: httpx.Client
) -> None:
    install(stub_server, signal=False, seed=0)
    for head, with_demo in [("", False), (RULE, False), (RULE + PHRASE, True)]:
        assert accuracy(client, head, with_demo) == pytest.approx(0.35, abs=TOL)


def test_wrapped_answers_and_demos_are_told_apart(
    stub_server: StubServer, client: httpx.Client
) -> None:
    install(stub_server, base=0.0, phrase_bonus=0.0, demo_bonus=1.0, wrap=1.0)
    q = question_for(7, "music")
    assert reply(client, TASK_MODEL, demo("music") + q) == f"The answer is {answer_for(7)}."
    assert reply(client, TASK_MODEL, RULE + demo("music") + q) == answer_for(7)
    # The demonstration is of another topic: no bonus, a wrong bare code word.
    wrong = reply(client, TASK_MODEL, RULE + demo("art") + q)
    assert wrong != answer_for(7) and wrong.endswith("-7") and " " not in wrong


def test_fresh_samples_redraw_repeats(stub_server: StubServer, client: httpx.Client) -> None:
    install(stub_server, signal=False, fresh_samples=True)
    text = question_for(1, "art")
    assert len({reply(client, TASK_MODEL, text) for _ in range(12)}) > 1


def proposer_request(current: str, score: str = "0.250") -> str:
    return f"<current>\n{current}\n</current>\n\nTraining score: {score}"


def new_prompt(answer: str) -> str:
    assert answer.startswith("<prompt>") and answer.endswith("</prompt>")
    return answer.removeprefix("<prompt>").removesuffix("</prompt>").strip()


def test_the_proposer_adds_one_edit_and_keeps_variables(
    stub_server: StubServer, client: httpx.Client
) -> None:
    install(stub_server)
    current = "Answer the question about {{ topic }}.\n\n{{ question }}"
    seen = set()
    for score in ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8"):
        text = proposer_request(current, score)
        out = reply(client, PROPOSER_MODEL, text)
        assert reply(client, PROPOSER_MODEL, text) == out  # deterministic
        edit, _, rest = new_prompt(out).partition("\n")
        assert edit in DEFAULT_EDITS and rest == current
        assert template_variables(new_prompt(out)) == {"topic", "question"}
        seen.add(edit)
    assert len(seen) > 1  # the request text picks the edit


def test_the_proposer_never_repeats_an_edit(stub_server: StubServer, client: httpx.Client) -> None:
    install(stub_server)
    current = "\n".join(DEFAULT_EDITS[1:]) + "\n{{ question }}"
    out = new_prompt(reply(client, PROPOSER_MODEL, proposer_request(current)))
    assert out == DEFAULT_EDITS[0] + "\n" + current
    full = DEFAULT_EDITS[0] + "\n" + current
    assert new_prompt(reply(client, PROPOSER_MODEL, proposer_request(full))) == full
    # An edit in a rejected attempt is avoided while another is left.
    current = "\n".join(DEFAULT_EDITS[2:]) + "\n{{ question }}"
    rejected = f"Rejected earlier attempts (do not repeat them):\n{DEFAULT_EDITS[0]}\n{current}"
    for score in ("0.1", "0.2", "0.3", "0.4"):
        text = proposer_request(current, score) + "\n\n" + rejected
        assert new_prompt(reply(client, PROPOSER_MODEL, text)) == DEFAULT_EDITS[1] + "\n" + current


def test_models_are_listed_and_reset_removes_them(
    stub_server: StubServer, client: httpx.Client
) -> None:
    install(stub_server)
    ids = {m["id"] for m in client.get("/models").json()["data"]}
    assert {TASK_MODEL, PROPOSER_MODEL, "gpt-4o-mini"} <= ids
    assert reply(client, "gpt-4o-mini", "echo me") == "echo me"  # other models: unchanged
    stub_server.reset()
    assert reply(client, TASK_MODEL, question_for(1, "art")) == question_for(1, "art")


async def test_a_provider_prices_the_task_model(stub_server: StubServer) -> None:
    install(stub_server)
    spec = task_provider(stub_server)
    provider = create_provider(
        ProviderSpec(id=spec["id"], config=spec["config"]), trust=LOCAL_TRUST
    )
    text = make_task(1)["tests"][0]["vars"]["question"]
    try:
        c = await provider.complete(
            CompletionRequest(prompt=text, messages=[{"role": "user", "content": text}])
        )
    finally:
        await provider.aclose()
    assert c.usage.prompt and c.usage.completion
    price_in, price_out = TASK_PRICE
    expected = (c.usage.prompt * price_in + c.usage.completion * price_out) / 1e6
    assert c.cost == pytest.approx(expected)
