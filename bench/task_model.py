"""A seeded, noisy scripted task model and a scripted proposer, served by the stub over HTTP.

For the optimizer's tests and benchmark: the task model's accuracy on a case depends on
measurable features of the rendered prompt, and every answer is a deterministic draw, so a
reworded prompt re-draws its answers (the noise a naive "the score went up" rule takes for gain).

The task (`make_task`): case i asks `[topic: T] Case i: what is the code word?` in the var
`question`; its one assertion is `equals` its answer (`answer_for(i)`, e.g. "cedar-7", unique per
case), so a case scores 0 or 1; `metadata` holds topic, case id and `expected` (the label
few-shot demos use). No `split` is set: the loop assigns splits.

The task model (`TaskModel`, model name "task-model") reads the whole prompt (all messages),
finds the case (the last `[topic: T] Case i:` whose answer does not appear as often as its
question, so demonstrations are told apart from the question asked) and, with signal=True:
- phrase: the prompt contains "think step by step" (any case)        -> +phrase_bonus (0.3)
- demo: the case's tag `[topic: T]` appears at least twice (its own question and a
  demonstration of the same topic, e.g. in an "Examples" section)     -> +demo_bonus (0.2)
- the answer is right with p = min(1, base + bonuses), base 0.35; else a wrong code word;
- format rule: without "answer with the answer only" (any case) the output is wrapped as
  "The answer is X." with probability `wrap` (0.5), which fails `equals`; with it, the output
  is the bare answer.
So the pass rate is p * (1 - wrap) without the format rule and p with it: 0.175 with no
feature, 0.35 with the rule alone, 0.85 with all three (`TaskModel.expected`). With
signal=False the pass rate is `base` whatever the prompt (never wrapped): pure noise.
Each draw is sha256(seed, full prompt text, case id, sample index, purpose): the same request
gets the same answer. The sample index is 0 (the wire carries none), or with fresh_samples=True
the number of times the same prompt was seen before, so repeated samples disagree.

The proposer (`ScriptedProposer`, model name "proposer-model") answers a request holding
`<current>PROMPT</current>` with `<prompt>EDIT\nPROMPT</prompt>`: one edit prepended, chosen by
a hash of (seed, last user message) among the edits not already in PROMPT (useful: the phrase
and the format rule; neutral: rewordings), preferring those not elsewhere in the message either
(the rejected attempts it lists); it keeps every `{{ var }}`. Nothing left: PROMPT as is.

Prices: a provider config `cost: {input: USD per 1M tokens, output: ...}` prices the calls
(providers/config.py `price_override`); tokens are the stub's whitespace word counts (+1 per
message). `task_provider` / `proposer_provider` build the provider dicts.

In a test (the `stub_server` fixture is reset before each test, which removes the models):

    from bench.task_model import install, make_task, proposer_provider, task_provider

    def test_the_loop_finds_the_features(stub_server, tmp_path):
        task, proposer = install(stub_server, signal=True, seed=0)
        cfg = {**make_task(60, seed=0), "providers": [task_provider(stub_server)]}
        out = asyncio.run(optimize_async(cfg, proposer=proposer_provider(stub_server),
                                         base_dir=tmp_path, database_url=..., options=...))
        assert "step by step" in out.best_prompt.lower()
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.stub_server import StubServer

TASK_MODEL = "task-model"
PROPOSER_MODEL = "proposer-model"
TOPICS = ("geography", "history", "science", "music", "sports", "art")
PHRASE = "think step by step"
FORMAT_RULE = "answer with the answer only"
DEFAULT_PROMPT = "Answer the question.\n\n{{ question }}"
DEFAULT_EDITS = (
    "Think step by step.",  # useful: the phrase
    "Answer with the answer only.",  # useful: the format rule
    "Be concise.",  # the rest: neutral rewordings
    "You are a careful assistant.",
    "Read the question carefully.",
    "Double-check your work.",
)
TASK_PRICE = (0.5, 1.5)  # USD per 1M input / output tokens
PROPOSER_PRICE = (2.0, 8.0)

_WORDS = ("amber", "basil", "cedar", "delta", "ember", "flint", "garnet", "harbor", "indigo")
_CASE = re.compile(r"\[topic: ([\w-]+)\] Case (\d+):")
_CURRENT = re.compile(r"<current>\n?(.*?)\n?</current>", re.DOTALL)


def _unit(*parts: Any) -> float:
    """A deterministic draw in [0, 1) from the parts."""
    digest = hashlib.sha256(json.dumps(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _has(text: str, phrase: str) -> bool:
    return " ".join(phrase.lower().split()) in " ".join(text.lower().split())


# -- the task ---------------------------------------------------------------------------------


def answer_for(case_id: int, word: int = 0) -> str:
    """Case `case_id`'s answer (word=0), or a wrong one (word > 0)."""
    base = int(hashlib.sha256(str(case_id).encode()).hexdigest(), 16)
    return f"{_WORDS[(base + word) % len(_WORDS)]}-{case_id}"


def question_for(case_id: int, topic: str) -> str:
    return f"[topic: {topic}] Case {case_id}: what is the code word?"


def make_cases(
    n_cases: int, *, seed: int = 0, topics: Sequence[str] = TOPICS
) -> list[dict[str, Any]]:
    """`n_cases` test cases (ids 0..n-1), topics drawn from `topics` by (seed, id)."""
    cases = []
    for i in range(n_cases):
        topic = topics[int(_unit(seed, "topic", i) * len(topics))]
        cases.append(
            {
                "vars": {"question": question_for(i, topic)},
                "assert": [{"type": "equals", "value": answer_for(i)}],
                "metadata": {"topic": topic, "case": i, "expected": answer_for(i)},
            }
        )
    return cases


def make_task(
    n_cases: int, *, seed: int = 0, topics: Sequence[str] = TOPICS, prompt: str = DEFAULT_PROMPT
) -> dict[str, Any]:
    """A config fragment: {"prompts": [prompt], "tests": make_cases(...)}; add "providers"."""
    return {"prompts": [prompt], "tests": make_cases(n_cases, seed=seed, topics=topics)}


# -- the models ---------------------------------------------------------------------------------


def prompt_text(body: dict[str, Any]) -> str:
    """All the text a chat request shows the model: system, then every message's content."""
    parts = [body["system"]] if isinstance(body.get("system"), str) else []
    for m in body.get("messages") or []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        parts.append(str(content or ""))
    return "\n".join(parts)


def find_case(prompt: str) -> tuple[int, str] | None:
    """(case id, topic) of the case asked: the last one whose answer appears fewer times than
    its question (a demonstration shows both); else the last case mentioned; None if none."""
    found = [(int(m.group(2)), m.group(1)) for m in _CASE.finditer(prompt)]
    if not found:
        return None
    seen = Counter(case for case, _ in found)
    for case, topic in reversed(found):
        answers = len(re.findall(rf"(?<![\w-]){re.escape(answer_for(case))}(?![\w-])", prompt))
        if seen[case] > answers:
            return case, topic
    return found[-1]


@dataclass(frozen=True, slots=True)
class Features:
    phrase: bool = False
    demo: bool = False
    format_rule: bool = False


@dataclass
class TaskModel:
    """The scripted task model; `__call__(body)` is a stub responder (see the module doc)."""

    signal: bool = True
    seed: int = 0
    base: float = 0.35
    phrase_bonus: float = 0.3
    demo_bonus: float = 0.2
    wrap: float = 0.5  # share of outputs wrapped in a sentence without the format rule
    phrase: str = PHRASE
    format_rule: str = FORMAT_RULE
    fresh_samples: bool = False
    _seen: Counter[str] = field(default_factory=Counter, init=False, repr=False)

    def features(self, prompt: str, topic: str) -> Features:
        return Features(
            phrase=_has(prompt, self.phrase),
            demo=prompt.count(f"[topic: {topic}]") >= 2,
            format_rule=_has(prompt, self.format_rule),
        )

    def p_correct(self, f: Features) -> float:
        """The chance of the right code word (before any wrapping)."""
        if not self.signal:
            return self.base
        return min(1.0, self.base + self.phrase_bonus * f.phrase + self.demo_bonus * f.demo)

    def expected(self, f: Features = Features()) -> float:
        """The expected pass rate (`equals`) of a prompt with these features."""
        wrapped = self.signal and not f.format_rule
        return self.p_correct(f) * (1.0 - self.wrap if wrapped else 1.0)

    def answer(self, prompt: str, sample: int = 0) -> str:
        case = find_case(prompt)
        if case is None:
            return "I cannot find a question."
        case_id, topic = case
        f = self.features(prompt, topic)
        draw = (self.seed, prompt, case_id, sample)
        if _unit(*draw, "correct") < self.p_correct(f):
            out = answer_for(case_id)
        else:
            out = answer_for(case_id, 1 + int(_unit(*draw, "wrong") * (len(_WORDS) - 1)))
        if self.signal and not f.format_rule and _unit(*draw, "wrap") < self.wrap:
            return f"The answer is {out}."
        return out

    def __call__(self, body: dict[str, Any]) -> str:
        prompt = prompt_text(body)
        sample = 0
        if self.fresh_samples:
            key = hashlib.sha256(prompt.encode()).hexdigest()
            sample = self._seen[key]
            self._seen[key] += 1
        return self.answer(prompt, sample)


@dataclass
class ScriptedProposer:
    """The scripted proposer; `__call__(body)` is a stub responder (see the module doc)."""

    seed: int = 0
    edits: Sequence[str] = DEFAULT_EDITS

    def propose(self, request: str) -> str:
        match = _CURRENT.search(request)
        if match is None:
            return "There is no <current> prompt to improve."
        current = match.group(1).strip()
        left = [e for e in self.edits if not _has(current, e)]
        if not left:
            return f"<prompt>\n{current}\n</prompt>"
        fresh = [e for e in left if not _has(request, e)]  # not in a rejected attempt either
        pool = fresh or left
        edit = pool[int(_unit(self.seed, request) * len(pool))]
        return f"<prompt>\n{edit}\n{current}\n</prompt>"

    def __call__(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return self.propose(prompt_text({"messages": users[-1:]}))


# -- wiring -----------------------------------------------------------------------------------


def _provider(stub: StubServer | str, model: str, price: tuple[float, float]) -> dict[str, Any]:
    base_url = stub.base_url if isinstance(stub, StubServer) else stub
    return {
        "id": f"openai:chat:{model}",
        "config": {
            "apiBaseUrl": base_url,
            "apiKey": "sk-test",
            "cost": {"input": price[0], "output": price[1]},  # USD per 1M tokens
        },
    }


def task_provider(
    stub: StubServer | str, model: str = TASK_MODEL, price: tuple[float, float] = TASK_PRICE
) -> dict[str, Any]:
    """The provider dict for the task model (`stub` or its base URL ".../v1")."""
    return _provider(stub, model, price)


def proposer_provider(
    stub: StubServer | str,
    model: str = PROPOSER_MODEL,
    price: tuple[float, float] = PROPOSER_PRICE,
) -> dict[str, Any]:
    """The provider dict for the scripted proposer."""
    return _provider(stub, model, price)


def install(
    stub: StubServer,
    *,
    signal: bool = True,
    seed: int = 0,
    task_model: str = TASK_MODEL,
    proposer_model: str = PROPOSER_MODEL,
    **task_options: Any,
) -> tuple[TaskModel, ScriptedProposer]:
    """Register both models on a running stub (task_options go to TaskModel); returns them."""
    task = TaskModel(signal=signal, seed=seed, **task_options)
    proposer = ScriptedProposer(seed=seed)
    stub.add_model(task_model, task)
    stub.add_model(proposer_model, proposer)
    return task, proposer


def please_proposer() -> Callable[[dict[str, Any]], str]:
    """A stub responder for tests whose task is `echo` and whose cases need "please": the
    first rewrite prepends "Please" (a real gain), later ones add a numbered variant (none)."""
    variants = itertools.count(1)

    def reply(body: dict[str, Any]) -> str:
        match = _CURRENT.search(body["messages"][-1]["content"])
        assert match is not None, body
        current = match.group(1)
        if "please" not in current.lower():
            return f"<prompt>Please {current}</prompt>"
        return f"<prompt>{current} (variant {next(variants)})</prompt>"

    return reply
