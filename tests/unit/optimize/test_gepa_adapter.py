"""The `gepa` optimizer on a synthetic task: a case scores 1 when the prompt mentions the
phrase the case needs. The proposer is a tiny model that reads the failure feedback and adds
the first missing phrase to the text between <current> tags."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from promptyard.core.types import Completion, CompletionRequest, TestCase
from promptyard.optimize.base import BudgetExhausted, CaseResult, Evaluation, Iteration
from promptyard.optimize.gepa_adapter import GepaOptimizer, info

SEED_PROMPT = "Answer {{ x }}."
TRAIN = [f"c{n}" for n in range(6)]
HELD_OUT = ["val-1", "test-1"]  # the task knows them; the optimizer must never ask for them
PHRASES = ("ALPHA", "BETA", "GAMMA", "DELTA", "EPSILON", "ZETA")


def needs(*phrases: str) -> dict[str, str]:
    """Case id -> the phrase it needs, cycling through `phrases` (held-out cases too); "!X":
    the case fails when the prompt mentions X."""
    ids = TRAIN + HELD_OUT
    return {cid: phrases[n % len(phrases)] for n, cid in enumerate(ids)}


class Model:
    """Adds the first phrase the feedback asks for that <current> lacks; `drop_vars` loses
    the template variable instead; `refuse_from` raises `error` (BudgetExhausted) from that
    call on (0 = the first)."""

    id = "test:model"

    def __init__(self, log: list[str], *, drop_vars: bool = False,
                 refuse_from: int | None = None,
                 error: type[Exception] = BudgetExhausted) -> None:  # fmt: skip
        self.log = log
        self.drop_vars = drop_vars
        self.refuse_from = refuse_from
        self.error = error
        self.requests: list[CompletionRequest] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        if self.refuse_from is not None and len(self.requests) > self.refuse_from:
            self.log.append("chat refused")
            raise self.error("budget exhausted: max_calls")
        self.log.append("chat")
        match = re.search(r"<current>\n(.*?)\n</current>", request.prompt, re.DOTALL)
        current = match.group(1) if match else ""
        wanted = [p for p in re.findall(r"must mention (\w+)", request.prompt) if p not in current]
        if self.drop_vars:
            new = "Answer the question. Mention ALPHA."
        else:
            new = f"{current} Mention {wanted[0]}." if wanted else current
        return Completion(output=f"Here you go:\n<prompt>{new}</prompt>")


@dataclass
class Ctx:
    """A ProposeContext over the synthetic task; logs every evaluate and chat call."""

    need: dict[str, str]
    chat: Model | None = None
    seed: int = 7
    refuse_from: int | None = None  # evaluate calls allowed before BudgetExhausted
    incumbent: str = SEED_PROMPT
    history: Sequence[Iteration] = ()
    case_ids: Sequence[str] = tuple(TRAIN)
    log: list[str] = field(default_factory=list)
    asked: list[tuple[str, tuple[str, ...] | None]] = field(default_factory=list)
    rng: random.Random = field(init=False)
    cases: Sequence[TestCase] = field(init=False)
    train: Evaluation = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.cases = [TestCase(vars={"x": n}) for n, _ in enumerate(self.case_ids)]
        self.train = Evaluation([self.result(self.incumbent, c) for c in self.case_ids])

    def result(self, prompt: str, cid: str) -> CaseResult:
        phrase = self.need[cid].lstrip("!")
        avoid = self.need[cid].startswith("!")
        ok = (phrase in prompt) != avoid
        reason = "" if ok else f"the answer must {'not ' if avoid else ''}mention {phrase}"
        return CaseResult(cid, (1.0 if ok else 0.0,), (ok,), reason, f"out-{cid}")

    async def evaluate(self, prompt: str, case_ids: Sequence[str] | None = None) -> Evaluation:
        self.asked.append((prompt, None if case_ids is None else tuple(case_ids)))
        if self.refuse_from is not None and len(self.asked) > self.refuse_from:
            self.log.append("evaluate refused")
            raise BudgetExhausted("budget exhausted: max_calls")
        self.log.append("evaluate")
        return Evaluation([self.result(prompt, c) for c in case_ids or self.case_ids])

    def require_chat(self, optimizer: str) -> Model:
        assert self.chat is not None
        return self.chat

    @property
    def case_evaluations(self) -> int:
        return sum(len(ids or self.case_ids) for _, ids in self.asked)


def make_ctx(need: dict[str, str], **kwargs: Any) -> Ctx:
    model_args = kwargs.pop("model", {})
    ctx = Ctx(need, **kwargs)
    ctx.chat = Model(ctx.log, **model_args)
    return ctx


def optimizer(**params: Any) -> GepaOptimizer:
    built = info().build(params)  # coerced and range-checked like a user's hyperparameters
    assert isinstance(built, GepaOptimizer)
    return built


@pytest.mark.parametrize(
    "params", [{}, {"candidate_selection_strategy": "current_best"}, {"use_merge": True}]
)
async def test_finds_the_phrases_and_returns_the_best_first(params: dict[str, Any]) -> None:
    ctx = make_ctx(needs("ALPHA", "BETA"))
    proposals = await optimizer(top_k=2, **params).propose(ctx)
    assert len(proposals) == 2
    best, second = proposals
    assert "ALPHA" in best and "BETA" in best  # right on every case
    assert ("ALPHA" in second) != ("BETA" in second)  # right on half of them
    assert best.startswith(SEED_PROMPT) and SEED_PROMPT not in proposals


async def test_reflection_request_follows_the_instruct_convention() -> None:
    ctx = make_ctx(needs("ALPHA"))
    await optimizer().propose(ctx)
    assert ctx.chat is not None and ctx.chat.requests
    first = ctx.chat.requests[0]
    user = first.messages[-1]["content"]
    assert user == first.prompt
    assert user.startswith(f"<current>\n{SEED_PROMPT}\n</current>")
    assert "Feedback: the answer must mention ALPHA" in user
    assert re.search(r'Inputs: \{"x": \d\}', user) and "Output: out-c" in user
    assert "between <prompt> and </prompt>" in first.messages[0]["content"]


async def test_search_uses_only_the_train_case_ids() -> None:
    ctx = make_ctx(needs("ALPHA", "BETA"))
    await optimizer().propose(ctx)
    assert ctx.asked  # it did evaluate candidates
    asked_ids = [ids for _, ids in ctx.asked]
    assert None not in asked_ids  # always names its cases
    assert {c for ids in asked_ids for c in ids or ()} <= set(TRAIN)


async def test_max_metric_calls_bounds_the_case_evaluations() -> None:
    # Many cases and phrases: candidates keep improving, and gepa's own count (checked
    # between its steps) would let the last step go over the cap.
    ids = tuple(f"c{n}" for n in range(40))
    need = {cid: PHRASES[n % len(PHRASES)] for n, cid in enumerate(ids)}
    evaluated = {16: 0, 40: 0}
    for seed in range(5):
        for cap in evaluated:
            ctx = make_ctx(need, case_ids=ids, seed=seed)
            await optimizer(max_metric_calls=cap).propose(ctx)
            assert 0 < ctx.case_evaluations <= cap
            evaluated[cap] += ctx.case_evaluations
    assert evaluated[16] < evaluated[40]  # the cap, not something else, ended the searches


async def test_a_reply_that_drops_a_variable_keeps_the_old_text() -> None:
    ctx = make_ctx(needs("ALPHA"), model={"drop_vars": True})
    assert await optimizer(max_metric_calls=20).propose(ctx) == []
    assert ctx.chat is not None and ctx.chat.requests  # it asked...
    assert ctx.asked == []  # ...but never scored the unusable reply


async def test_budget_stop_in_evaluate_ends_the_search_and_is_reraised() -> None:
    ctx = make_ctx(needs("ALPHA"), refuse_from=0)
    with pytest.raises(BudgetExhausted):
        await optimizer().propose(ctx)
    assert ctx.log == ["chat", "evaluate refused"]  # no call after the refusal


async def test_budget_stop_in_the_proposer_ends_the_search_and_is_reraised() -> None:
    ctx = make_ctx(needs("ALPHA"), model={"refuse_from": 0})
    with pytest.raises(BudgetExhausted):
        await optimizer().propose(ctx)
    assert ctx.log == ["chat refused"]  # gepa catches it, yet asks nothing more


async def test_a_proposer_error_ends_the_search_and_is_reraised() -> None:
    ctx = make_ctx(needs("ALPHA", "BETA"), model={"refuse_from": 1, "error": ConnectionError})
    with pytest.raises(ConnectionError):  # gepa would log it and go on
        await optimizer().propose(ctx)
    assert ctx.log == ["chat", "evaluate", "evaluate", "chat refused"]


async def test_budget_stop_after_an_improvement_returns_it() -> None:
    ctx = make_ctx(needs("ALPHA", "BETA"), refuse_from=2)
    proposals = await optimizer().propose(ctx)
    assert len(proposals) == 1 and proposals[0].startswith(f"{SEED_PROMPT} Mention ")
    assert ctx.log[-1] == "evaluate refused" and ctx.log.count("evaluate refused") == 1


async def test_budget_stop_keeps_only_what_beats_the_seed() -> None:
    # Mentioning ALPHA fixes half the cases and breaks the other half: no better than the seed.
    ctx = make_ctx(needs("ALPHA", "!ALPHA"), model={"refuse_from": 2})
    with pytest.raises(BudgetExhausted):
        await optimizer().propose(ctx)
    assert ctx.log == ["chat", "evaluate", "chat", "evaluate", "chat refused"]


async def test_same_seed_same_proposals() -> None:
    runs = []
    for _ in range(2):
        ctx = make_ctx(needs("ALPHA", "BETA", "GAMMA"))  # gepa scores on 5 of the 6 cases
        runs.append((await optimizer(top_k=3, max_metric_calls=20).propose(ctx), ctx.asked))
    assert runs[0] == runs[1]
    assert runs[0][0]


async def test_gepa_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    ctx = make_ctx(needs("ALPHA", "BETA"))
    assert await optimizer().propose(ctx)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_info_lists_the_parameters() -> None:
    described = info()
    assert described.name == "gepa" and described.needs_proposer
    defaults = {p.name: p.default for p in described.params}
    assert defaults == {"max_metric_calls": 60, "reflection_minibatch_size": 3,
                        "candidate_selection_strategy": "pareto", "top_k": 2,
                        "use_merge": False}  # fmt: skip
    built = optimizer(candidate_selection_strategy="current_best", top_k=1)
    assert (built.pareto, built.top_k) == (False, 1)
