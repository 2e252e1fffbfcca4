"""LLM-as-judge: promptfoo's model-graded assertion types, graded through a judge model.

Types: llm-rubric, g-eval (also the named `metrics` of a config), factuality (and its alias
model-graded-factuality), model-graded-closedqa, context-faithfulness, context-recall,
context-relevance, answer-relevance and similar. Verdicts follow promptfoo's readings of the
replies (judge_parse.py); the prompts are our packaged files, overridable per test.

The judge model comes from the assertion's `provider`, else the test's `options.provider`
(defaultTest's, or the config's `judge_profile`, merged in by the loader), else the default
judge of the composition root. Calls are cached like the task's (a reply is stored only once it
has been read), retried by the call policy, and their tokens and cost are recorded on the
verdict, apart from the task's. A reply that breaks its contract is asked for once more; if the
second one fails too, the verdict is an error carrying the raw reply, never a silent zero.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from promptyard.core.hashing import content_hash
from promptyard.core.types import (
    Assertion,
    Completion,
    CompletionRequest,
    GradingContext,
    GradingResult,
)
from promptyard.errors import ConfigError, PromptyardError
from promptyard.scorers.base import CheckInput
from promptyard.scorers.classifier import classifier_ref, expected_class, grade_classifier
from promptyard.scorers.embedding import cosine_similarity, similar_verdict
from promptyard.scorers.judge_base import JudgeCache as JudgeCache  # re-exported
from promptyard.scorers.judge_base import JudgeModel as JudgeModel
from promptyard.scorers.judge_base import JudgeModels as JudgeModels
from promptyard.scorers.judge_base import JudgeUnreadable as JudgeUnreadable
from promptyard.scorers.judge_base import Spend as Spend
from promptyard.scorers.judge_base import chat_ref as chat_ref
from promptyard.scorers.judge_base import embedding_ref as embedding_ref
from promptyard.scorers.judge_parse import (
    JudgeParseError,
    JudgePrompt,
    context_text,
    first_json_object,
    prompt_for,
    read_closedqa,
    read_factuality,
    read_faithfulness,
    read_index,
    read_recall,
    read_relevance,
    read_rubric,
    read_score,
    read_steps,
    split_sentences,
    weighted_score,
)
from promptyard.scorers.moderation import categories, grade_moderation, moderation_ref
from promptyard.scorers.values import coerce_string

T = TypeVar("T")

GEVAL_MAX_SCORE = 10
GEVAL_DEFAULT_THRESHOLD = 0.7
ANSWER_RELEVANCE_QUESTIONS = 3
# Types graded here, with the packaged prompt each uses first.
CHAT_TYPES = frozenset(
    {
        "llm-rubric", "g-eval", "factuality", "model-graded-factuality",
        "model-graded-closedqa", "context-faithfulness", "context-recall",
        "context-relevance", "answer-relevance", "conversation-relevance",
    }
)  # fmt: skip
CONVERSATION_WINDOW = 5  # promptfoo's default config.windowSize
EMBEDDING_TYPES = frozenset({"answer-relevance"})  # and similar, similar:dot, ...
UNSUPPORTED: dict[str, str] = {}  # refused at load, naming the assertion
_RETRY_NOTE = (
    "Your reply could not be read: {why}. Reply again, following the required format exactly."
)


@dataclass(slots=True)
class _Call:
    """One judge conversation: its model, its spend, and the replies seen so far."""

    model: JudgeModel
    spend: Spend
    prompts: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)


class Judge:
    """Grades the model-graded types. One per run, like the Grader that owns it."""

    def __init__(
        self,
        models: JudgeModels,
        *,
        cache: JudgeCache | None = None,
        base_dir: str = ".",
    ) -> None:
        self._models = models
        self._cache = cache
        self._base_dir = base_dir

    def validate(self, assertion: Assertion, name: str, options: dict[str, Any]) -> None:
        """Fail before any call: unsupported types, missing keys, bad judge prompts."""
        if name in UNSUPPORTED:
            raise ConfigError(f"{name!r} {UNSUPPORTED[name]}", field=assertion.where or None)
        # The field that names the model, for errors: the assertion's own, else the test's.
        at = assertion.where
        where = f"{at}.provider" if assertion.provider is not None else "options.provider"
        if at and assertion.provider is None:
            where = f"{at}: {where}"
        if name in CHAT_TYPES or name == "select-best":
            self._models.check(chat_ref(assertion, options), "chat", where)
        if name in EMBEDDING_TYPES or name.startswith("similar"):
            self._models.check(embedding_ref(assertion, options), "embedding", where)
        if name == "moderation":
            categories(assertion.value, assertion.where)
            self._models.check(moderation_ref(assertion, options), "moderation", where)
        if name == "classifier":
            expected_class(assertion.value, assertion.where)
            self._models.check(classifier_ref(assertion, options), "classification", where)
        override = options.get("rubricPrompt")
        if override is not None and name in ("llm-rubric", "factuality", "model-graded-closedqa"):
            prompt_for(name, override, self._base_dir)

    async def grade(
        self, name: str, inverse: bool, assertion: Assertion, value: Any, output: Any,
        ctx: GradingContext,
    ) -> GradingResult:  # fmt: skip
        options = ctx.test.options
        spend = Spend()
        try:
            if name.startswith("similar"):
                result = await self._similar(assertion, value, output, ctx, spend)
            elif name == "classifier":
                classifier = self._models.classifier(classifier_ref(assertion, options))
                text = coerce_string(output)
                result = await grade_classifier(
                    classifier, self._cache, assertion, value, text, inverse
                )
            elif name == "moderation":
                moderator = self._models.moderator(moderation_ref(assertion, options))
                text = coerce_string(output)
                result = await grade_moderation(
                    moderator, self._cache, assertion, value, text, inverse
                )
            else:
                call = _Call(self._models.chat(chat_ref(assertion, options)), spend)
                result = await self._dispatch(name, inverse, assertion, value, output, ctx, call)
                result.metadata.setdefault("judge", call.model.id)
        except JudgeUnreadable as exc:
            msg = str(exc)
            result = GradingResult(False, 0.0, msg, assertion, error=msg)
        except PromptyardError as exc:
            msg = f"{name} judge failed: {exc}"
            result = GradingResult(False, 0.0, msg, assertion, error=msg)
        result.assertion = assertion
        return spend.apply(result)

    async def select_best(
        self, assertion: Assertion, criteria: Any, outputs: list[Any], ctx: GradingContext
    ) -> list[GradingResult]:
        """promptfoo's select-best over one case's outputs (one per prompt x provider): the
        chosen output passes with score 1, the others fail with 0. The comparison's spend is
        put on the first result only, so that summing trials counts it once."""
        n = len(outputs)
        spend = Spend()
        try:
            call = _Call(self._models.chat(chat_ref(assertion, ctx.test.options)), spend)
            prompt = self._prompt("select-best", ctx)
            texts = [_maybe_json(coerce_string(o)) for o in outputs]
            messages = prompt.render({**ctx.vars, "criteria": criteria, "outputs": texts})
            best, _ = await self._ask(call, messages, lambda t: read_index(t, n))
            results = [
                GradingResult(True, 1.0, f"Output selected as the best: {criteria}", assertion)
                if i == best
                else GradingResult(False, 0.0, f"Output not selected: {criteria}", assertion)
                for i in range(n)
            ]
        except PromptyardError as exc:
            msg = f"select-best judge failed: {exc}"
            results = [GradingResult(False, 0.0, msg, assertion, error=msg) for _ in range(n)]
        spend.apply(results[0])
        return results

    async def _dispatch(
        self, name: str, inverse: bool, assertion: Assertion, value: Any, output: Any,
        ctx: GradingContext, call: _Call,
    ) -> GradingResult:  # fmt: skip
        text = coerce_string(output)
        if name == "llm-rubric":
            return await self._rubric(inverse, assertion, value, output, ctx, call)
        if name == "g-eval":
            return await self._geval(assertion, value, text, ctx, call)
        if name in ("factuality", "model-graded-factuality"):
            return await self._factuality(value, text, ctx, call)
        if name == "model-graded-closedqa":
            return await self._closedqa(value, text, ctx, call)
        if name == "context-recall":
            return await self._context_recall(assertion, value, ctx, call)
        if name == "context-faithfulness":
            return await self._faithfulness(assertion, text, ctx, call)
        if name == "context-relevance":
            return await self._context_relevance(assertion, ctx, call)
        if name == "answer-relevance":
            return await self._answer_relevance(assertion, text, ctx, call)
        if name == "conversation-relevance":
            return await self._conversation_relevance(assertion, text, ctx, call)
        raise ConfigError(f"{name!r} is not a judged assertion type")

    # ------------------------------------------------------------------ calls

    def _prompt(self, name: str, ctx: GradingContext, key: str | None = None) -> JudgePrompt:
        override = ctx.test.options.get("rubricPrompt")
        if key is not None:  # g-eval's {steps, evaluate}; context-faithfulness's [first, second]
            if isinstance(override, dict):
                override = override.get(key)
            elif isinstance(override, list) and len(override) == 2 and key in ("0", "1"):
                item = override[int(key)]
                override = item.get("content") if isinstance(item, dict) else item
            else:
                override = None
        return prompt_for(name, override, self._base_dir)

    async def _ask(
        self, call: _Call, messages: list[dict[str, str]], read: Callable[[str], T]
    ) -> tuple[T, Completion]:
        """Ask, read the reply; on a broken contract ask once more with a note; cache only
        replies that read."""
        for attempt in (1, 2):
            completion, key = await self._complete(call, messages)
            text = coerce_string(completion.output)
            call.replies.append(text)
            try:
                value = read(text)
                break
            except JudgeParseError as why:
                if attempt == 2:
                    raise JudgeUnreadable(str(why), text) from None
                messages = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": _RETRY_NOTE.format(why=why)},
                ]
        if key is not None and not completion.cached and self._cache is not None:
            await self._cache.put(key, completion.to_dict())
        return value, completion

    async def _complete(
        self, call: _Call, messages: list[dict[str, str]]
    ) -> tuple[Completion, str | None]:
        call.prompts.append(messages[-1]["content"])
        key = None
        if self._cache is not None:
            key = content_hash({"judge": call.model.cache_identity(), "m": messages}, size=20)
            hit = await self._cache.get(key)
            if hit is not None:
                completion = Completion.from_dict(hit, cached=True)
                call.spend.add(completion.usage, completion.cost, cached=True)
                return completion, key
        prompt = "\n\n".join(m["content"] for m in messages)
        completion = await call.model.complete(CompletionRequest(prompt, messages))
        call.spend.add(completion.usage, completion.cost, cached=False)
        return completion, key

    # ------------------------------------------------------------------ types

    async def _rubric(
        self, inverse: bool, assertion: Assertion, value: Any, output: Any,
        ctx: GradingContext, call: _Call,
    ) -> GradingResult:  # fmt: skip
        prompt = self._prompt("llm-rubric", ctx)
        rubric = value if value is not None else ""
        messages = prompt.render({**ctx.vars, "output": _maybe_json(output), "rubric": rubric})
        threshold = assertion.threshold
        verdict, _ = await self._ask(call, messages, lambda t: read_rubric(t, threshold))
        score = verdict.score
        if inverse:
            score = min(1.0, max(0.0, 1.0 - score))
        return GradingResult(
            verdict.passed != inverse, score, verdict.reason, metadata={"prompt": prompt.name}
        )

    async def _geval(
        self, assertion: Assertion, value: Any, text: str, ctx: GradingContext, call: _Call
    ) -> GradingResult:
        threshold = assertion.threshold or GEVAL_DEFAULT_THRESHOLD
        criteria = value if isinstance(value, list) else [value]
        scores, reasons, details = [], [], []
        for criterion in criteria:
            score, reason, detail = await self._geval_one(
                str(criterion), assertion.config.get("evaluation_steps"), text, ctx, call
            )
            scores.append(score)
            reasons.append(reason)
            details.append(detail)
        mean = sum(scores) / len(scores)
        return GradingResult(
            mean >= threshold, mean, "\n\n".join(reasons), metadata={"g_eval": details}
        )

    async def _geval_one(
        self, criteria: str, given_steps: Any, text: str, ctx: GradingContext, call: _Call
    ) -> tuple[float, str, dict[str, Any]]:
        if isinstance(given_steps, list) and given_steps:
            steps = [str(s) for s in given_steps]
        else:
            steps_prompt = self._prompt("g-eval-steps", ctx, "steps").render({"criteria": criteria})
            steps, _ = await self._ask(call, steps_prompt, read_steps)
        prompt = self._prompt("g-eval", ctx, "evaluate")
        messages = prompt.render(
            {
                "criteria": criteria,
                "steps": "\n- ".join(steps),
                "maxScore": str(GEVAL_MAX_SCORE),
                "input": _maybe_json(ctx.prompt),
                "output": _maybe_json(text),
            }
        )
        (raw_score, reason), completion = await self._ask(
            call, messages, lambda t: read_score(t, GEVAL_MAX_SCORE)
        )
        detail: dict[str, Any] = {"criteria": criteria, "steps": steps, "score": raw_score}
        weighted = weighted_score(completion.raw, GEVAL_MAX_SCORE)
        if weighted is not None:
            raw_score, detail["score_distribution"] = weighted
            detail["weighted_score"] = raw_score
        return raw_score / GEVAL_MAX_SCORE, reason, detail

    async def _factuality(
        self, value: Any, text: str, ctx: GradingContext, call: _Call
    ) -> GradingResult:
        prompt = self._prompt("factuality", ctx)
        messages = prompt.render(
            {**ctx.vars, "input": ctx.prompt, "ideal": value, "completion": _maybe_json(text)}
        )
        (option, reason), _ = await self._ask(call, messages, read_factuality)
        weights = ctx.test.options.get("factuality") or {}
        lookup = {
            "A": weights.get("subset", 1), "B": weights.get("superset", 1),
            "C": weights.get("agree", 1), "D": weights.get("disagree", 0),
            "E": weights.get("differButFactual", 1),
        }  # fmt: skip
        score = float(lookup[option])
        return GradingResult(score > 0, score, reason, metadata={"category": option})

    async def _closedqa(
        self, value: Any, text: str, ctx: GradingContext, call: _Call
    ) -> GradingResult:
        prompt = self._prompt("model-graded-closedqa", ctx)
        messages = prompt.render(
            {**ctx.vars, "input": ctx.prompt, "criteria": value, "completion": _maybe_json(text)}
        )
        meets, _ = await self._ask(call, messages, read_closedqa)
        reply = call.replies[-1]
        verb = "meets" if meets else "does not meet"
        return GradingResult(meets, 1.0 if meets else 0.0, f"The submission {verb} the "
                             f"criterion:\n{reply}")  # fmt: skip

    async def _context_recall(
        self, assertion: Assertion, value: Any, ctx: GradingContext, call: _Call
    ) -> GradingResult:
        threshold = assertion.threshold or 0.0
        prompt = self._prompt("context-recall", ctx)
        context = context_text(_context(ctx, "context-recall"))
        messages = prompt.render({**ctx.vars, "context": context, "groundTruth": value})
        (attributed, total), _ = await self._ask(call, messages, read_recall)
        score = attributed / total
        passed = score >= threshold - 1e-12
        op = ">=" if passed else "<"
        return GradingResult(passed, score, f"Recall {score:.2f} is {op} {threshold:g}")

    async def _faithfulness(
        self, assertion: Assertion, text: str, ctx: GradingContext, call: _Call
    ) -> GradingResult:
        threshold = assertion.threshold or 0.0
        query = _query(ctx, "context-faithfulness")
        context = context_text(_context(ctx, "context-faithfulness"))
        first = self._prompt("context-faithfulness-statements", ctx, "0")
        messages = first.render({**ctx.vars, "question": query, "answer": _maybe_json(text)})
        statements, _ = await self._ask(call, messages, _statements)
        second = self._prompt("context-faithfulness-nli", ctx, "1")
        messages = second.render({**ctx.vars, "context": context, "statements": statements})
        score, _ = await self._ask(call, messages, lambda t: read_faithfulness(t, len(statements)))
        passed = score >= threshold - 1e-12
        op = ">=" if passed else "<"
        return GradingResult(passed, score, f"Faithfulness {score:.2f} is {op} {threshold:g}")

    async def _context_relevance(
        self, assertion: Assertion, ctx: GradingContext, call: _Call
    ) -> GradingResult:
        threshold = assertion.threshold or 0.0
        query = _query(ctx, "context-relevance")
        context = _context(ctx, "context-relevance")
        chunks = context if isinstance(context, list) else context_text(context)
        prompt = self._prompt("context-relevance", ctx)
        messages = prompt.render({"query": query, "context": context_text(context)})
        (relevant, total), _ = await self._ask(call, messages, lambda t: read_relevance(t, chunks))
        score = relevant / total if total else 0.0
        passed = score >= threshold - 1e-12
        op = ">=" if passed else "<"
        return GradingResult(passed, score, f"Context relevance {score:.2f} is {op} {threshold:g}")

    async def _answer_relevance(
        self, assertion: Assertion, text: str, ctx: GradingContext, call: _Call
    ) -> GradingResult:
        threshold = assertion.threshold or 0.0
        query = ctx.vars.get("query")
        query = query if isinstance(query, str) else ctx.prompt
        prompt = self._prompt("answer-relevance", ctx)
        base = prompt.render({"answer": _maybe_json(text)})
        questions = []
        for sample in range(ANSWER_RELEVANCE_QUESTIONS):
            # A distinct conversation per sample, so the cache keeps each question apart.
            messages = [*base, {"role": "user", "content": f"(question {sample + 1})"}]
            question, _ = await self._ask(call, messages, _non_empty)
            questions.append(question)
        embedder = self._models.embedder(embedding_ref(assertion, ctx.test.options))
        embedded = await embedder.embed([query, *questions])
        call.spend.add(embedded.usage, embedded.cost, cached=False)
        sims = [cosine_similarity(embedded.vectors[0], v) for v in embedded.vectors[1:]]
        score = sum(sims) / len(sims)
        passed = score >= threshold - 1e-12
        word = "greater" if passed else "less"
        return GradingResult(
            passed, score, f"Relevance {score:.2f} is {word} than threshold {threshold:g}",
            metadata={"questions": [{"question": q, "similarity": s}
                                    for q, s in zip(questions, sims, strict=True)]},
        )  # fmt: skip

    async def _conversation_relevance(
        self, assertion: Assertion, text: str, ctx: GradingContext, call: _Call
    ) -> GradingResult:
        """promptfoo's conversation-relevance: the turns are the `_conversation` var (a list of
        {input, output}) or else this prompt and output; each turn is judged in a sliding window
        of `config.windowSize` turns (default 5) ending at it; score = relevant share."""
        turns = _turns(ctx, text)
        size = assertion.config.get("windowSize") or CONVERSATION_WINDOW
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"conversation-relevance windowSize must be a whole number >= 1, "
                              f"got {size!r}")  # fmt: skip
        threshold = assertion.threshold or 0.0
        prompt = self._prompt("conversation-relevance", ctx)
        relevant = 0
        reasons: list[str] = []
        for i in range(len(turns)):
            window = turns[max(0, i - size + 1) : i + 1]
            conversation = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in window)
            last = {"last_input": window[-1][0], "last_output": window[-1][1]}
            messages = prompt.render({**ctx.vars, "conversation": conversation, **last})
            (ok, why), _ = await self._ask(call, messages, _read_verdict)
            if ok:
                relevant += 1
            else:
                reasons.append(f"turn {i + 1}: {why}" if why else f"turn {i + 1}")
        score = relevant / len(turns)
        passed = score >= threshold - 1e-12
        reason = f"{relevant} of {len(turns)} replies relevant (score {score:.2f}"
        reason += f", threshold {threshold:g})"
        if reasons:
            reason += "; not relevant: " + "; ".join(reasons)
        return GradingResult(passed, score, reason, metadata={"prompt": prompt.name})

    async def _similar(
        self, assertion: Assertion, value: Any, output: Any, ctx: GradingContext, spend: Spend
    ) -> GradingResult:
        embedder = self._models.embedder(embedding_ref(assertion, ctx.test.options))
        name = assertion.type.removeprefix("not-")
        inp = CheckInput(
            assertion, value, output, coerce_string(output), assertion.type != name, ctx
        )
        result, embedded = await similar_verdict(inp, embedder)
        if embedded is not None:
            spend.add(embedded.usage, embedded.cost, cached=False)
        return result


def _maybe_json(value: Any) -> Any:
    """promptfoo's tryParse: JSON text is handed to judge prompts as the parsed value."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "["):
            try:
                return json.loads(stripped)
            except ValueError:
                return value
    return value


def _query(ctx: GradingContext, name: str) -> str:
    query = ctx.vars.get("query")
    if not isinstance(query, str):
        raise ConfigError(f'{name} needs a "query" variable holding the user question')
    return query


def _context(ctx: GradingContext, name: str) -> Any:
    context = ctx.vars.get("context")
    if context is None or context == "" or context == []:
        raise ConfigError(f'{name} needs a "context" variable (text or a list of chunks)')
    return context


def _statements(text: str) -> list[str]:
    statements = split_sentences(text)
    if not statements:
        raise JudgeParseError("no statements in the reply")
    return statements


def _turns(ctx: GradingContext, output: str) -> list[tuple[str, str]]:
    """(input, output) pairs of the conversation: promptfoo's `_conversation` var when it is a
    non-empty list, else this call's prompt and output."""
    conversation = ctx.vars.get("_conversation")
    if isinstance(conversation, list) and conversation:
        turns = []
        for item in conversation:
            if not isinstance(item, dict) or "input" not in item or "output" not in item:
                raise ConfigError("_conversation must be a list of {input, output} mappings")
            turns.append((coerce_string(item["input"]), coerce_string(item["output"])))
        return turns
    return [(ctx.prompt, output)]


def _read_verdict(text: str) -> tuple[bool, str]:
    """{"verdict": "yes"|"no", "reason"}: relevant unless the verdict is "no" (promptfoo)."""
    parsed = first_json_object(text)
    verdict = parsed.get("verdict")
    if not isinstance(verdict, str) or verdict.strip().lower() not in ("yes", "no"):
        raise JudgeParseError('the JSON object needs "verdict": "yes" or "no"')
    reason = parsed.get("reason")
    return verdict.strip().lower() != "no", reason if isinstance(reason, str) else ""


def _non_empty(text: str) -> str:
    if not text.strip():
        raise JudgeParseError("the reply is empty")
    return text.strip()
