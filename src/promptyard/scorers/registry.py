"""The assertion table: every type's name, whether it needs a model or takes a threshold, what it
does, and the check function. The grader, the CLI, the API and docs/scorers.md all read this.

Variants are options of shared checks (functools.partial), not near-duplicate handlers; the
`not-` prefix is parsed here, once, for every type that allows it.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from functools import partial

from promptyard.core.types import GradingResult
from promptyard.errors import UnknownAssertionError
from promptyard.scorers import markup, response, similarity, structured, text, tools
from promptyard.scorers.base import AssertionType, CheckFn, CheckInput

ASSERT_SET = "assert-set"
SELECT_BEST = "select-best"  # graded across a case's outputs (Grader.compare)
MAX_SCORE = "max-score"  # likewise, from the outputs' own scores (no model)
COMPARE_TYPES = frozenset({SELECT_BEST, MAX_SCORE})

_T = AssertionType


def _flip(inp: CheckInput, check: CheckFn) -> GradingResult:
    """`not-` for checks that judge only the plain form: run it plain, then flip the verdict
    (score becomes 1 - score), as promptfoo does for every type it negates."""
    plain = CheckInput(inp.assertion, inp.value, inp.output, inp.text, False, inp.ctx)
    result = check(plain)
    assert isinstance(result, GradingResult)  # the checks wrapped here are synchronous
    if not inp.inverse:
        return result
    if result.passed:
        reason = f"Expected the opposite (not-): {result.reason}"
    else:
        reason = f"Passes negated: {result.reason}"
    return replace(result, passed=not result.passed, score=1.0 - result.score, reason=reason)


def negatable(check: CheckFn) -> CheckFn:
    """A check that also means something under `not-` (the plain verdict, flipped)."""
    return partial(_flip, check=check)


_BUILTIN: list[AssertionType] = [
    _T("equals", "output equals the value (objects and lists compare as parsed JSON)",
       text.check_equals, value_kind="required"),
    _T("contains", "output contains the value", text.check_contains, value_kind="text"),
    _T("icontains", "output contains the value, ignoring case (JavaScript toLowerCase)",
       partial(text.check_contains, fold=True), value_kind="text"),
    _T("contains-any", "output contains at least one of the values (list or comma string)",
       partial(text.check_contains, mode="any"), value_kind="texts"),
    _T("contains-all", "output contains every one of the values (list or comma string)",
       partial(text.check_contains, mode="all"), value_kind="texts"),
    _T("icontains-any", "output contains at least one of the values, ignoring case",
       partial(text.check_contains, fold=True, mode="any"), value_kind="texts"),
    _T("icontains-all", "output contains every one of the values, ignoring case",
       partial(text.check_contains, fold=True, mode="all"), value_kind="texts"),
    _T("starts-with", "output starts with the value", text.check_starts_with, value_kind="text"),
    _T("regex", "output matches the regular expression (JavaScript RegExp, no flags)",
       text.check_regex, value_kind="text"),
    _T("levenshtein", "edit distance to the value is at most the threshold",
       negatable(text.check_levenshtein), takes_threshold=True, value_kind="text",
       default_threshold=5),
    _T("word-count", "number of words equals the value, or lies within {min, max}",
       text.check_word_count, value_kind="required"),
    _T("is-refusal", "output is a refusal (or empty)", text.check_is_refusal, value_kind="none"),
    _T("is-json", "output is valid JSON, optionally matching a JSON Schema (value)",
       structured.check_is_json),
    _T("contains-json", "output contains a JSON object (also in prose or ```json fences), "
       "optionally matching a JSON Schema (value)", structured.check_contains_json),
    _T("is-xml", "output is well-formed XML, optionally with required elements (value)",
       structured.check_xml),
    _T("contains-xml", "output contains well-formed XML, optionally with required elements",
       partial(structured.check_xml, contains=True)),
    _T("is-sql", "output is valid SQL; value {databaseType, allowedTables, allowedColumns}",
       structured.check_sql),
    _T("contains-sql", "output contains valid SQL (a ```sql fence or the whole output)",
       partial(structured.check_sql, contains=True)),
    _T("rouge-n", "ROUGE-N (js-rouge F1, ignoring case) against the value is at least the "
       "threshold",
       similarity.check_rouge_n, takes_threshold=True, value_kind="refs",
       default_threshold=0.75),
    _T("bleu", "BLEU against the reference(s) is at least the threshold",
       similarity.check_bleu, takes_threshold=True, value_kind="refs", default_threshold=0.5),
    _T("gleu", "Google-BLEU against the reference(s) is at least the threshold",
       similarity.check_gleu, takes_threshold=True, value_kind="refs", default_threshold=0.5),
    _T("meteor", "METEOR (exact and stem matches, no WordNet synonyms) is at least the "
       "threshold", similarity.check_meteor, takes_threshold=True,
       value_kind="refs", default_threshold=0.5),
    _T("perplexity", "perplexity from the token logprobs is at most the threshold",
       negatable(response.check_perplexity), takes_threshold=True, value_kind="none"),
    _T("perplexity-score", "1/(1+perplexity) from the token logprobs is at least the threshold",
       negatable(response.check_perplexity_score), takes_threshold=True, value_kind="none"),
    _T("cost", "the call's cost in USD is at most the threshold", response.check_cost,
       takes_threshold=True, value_kind="none"),
    _T("latency", "the call's latency in ms is at most the threshold (fails on cached calls)",
       response.check_latency, takes_threshold=True, value_kind="none"),
    _T("finish-reason", "the provider's finish reason equals the value (ignoring case)",
       negatable(response.check_finish_reason), value_kind="text"),
    _T("is-html", "output is an HTML document or fragment (element tags, no text outside them)",
       markup.check_is_html, value_kind="none"),
    _T("contains-html", "output contains HTML element tags", markup.check_contains_html,
       value_kind="none"),
    _T("is-valid-openai-tools-call", "output is a list of OpenAI tool calls whose arguments "
       "match the provider's tool schemas", tools.check_openai_tools_call, value_kind="none",
       uses_tools=True),
    _T("is-valid-openai-function-call", "output is an OpenAI function call whose arguments "
       "match the provider's `functions` schema", tools.check_openai_function_call,
       value_kind="none", uses_tools=True),
    _T("is-valid-function-call", "output is a function/tool call (OpenAI, Anthropic or Google "
       "shape) whose arguments match the provider's schemas", tools.check_function_call,
       value_kind="none", uses_tools=True),
    _T("tool-call-f1", "F1 of the called tools' names against the expected names (value) is at "
       "least the threshold", tools.check_tool_call_f1, takes_threshold=True,
       value_kind="required", default_threshold=1),
    _T("javascript", "a JavaScript expression or file://x.js[:fn] returns pass, a score or a "
       "GradingResult", None, takes_threshold=True, value_kind="required", needs_code=True),
    _T("python", "a Python expression or file://x.py[:fn] returns pass, a score or a "
       "GradingResult", None, takes_threshold=True, value_kind="required", needs_code=True),
    _T(ASSERT_SET, "a group of assertions scored together, with its own threshold and weight",
       None, takes_threshold=True, negatable=False, value_kind="none"),
    # Model-graded types: graded by scorers.judge through a grading provider.
    _T("llm-rubric", "an LLM grades the output against the rubric (value)", None,
       needs_model=True, takes_threshold=True, value_kind="required"),
    _T("g-eval", "an LLM scores the output on the criteria (value), G-Eval style", None,
       needs_model=True, takes_threshold=True, value_kind="required"),
    _T("model-graded-closedqa", "an LLM checks the output meets the criterion (value)", None,
       needs_model=True, value_kind="required"),
    _T("factuality", "an LLM checks the output is consistent with the reference fact (value)",
       None, needs_model=True, value_kind="required"),
    _T("model-graded-factuality", "alias of factuality", None, needs_model=True,
       value_kind="required"),
    _T("answer-relevance", "an LLM and embeddings judge how relevant the output is to the "
       "query", None, needs_model=True, takes_threshold=True),
    _T("context-faithfulness", "an LLM checks the output is supported by the context", None,
       needs_model=True, takes_threshold=True),
    _T("context-recall", "an LLM checks the context contains the ground truth (value)", None,
       needs_model=True, takes_threshold=True, value_kind="required"),
    _T("context-relevance", "an LLM checks the context is relevant to the query", None,
       needs_model=True, takes_threshold=True),
    _T("conversation-relevance", "an LLM checks each reply of the conversation (`_conversation` "
       "var, else this turn) is relevant, in sliding windows (config.windowSize, default 5)",
       None, needs_model=True, takes_threshold=True),
    _T("similar", "embedding cosine similarity to the value is at least the threshold",
       None, needs_model=True, takes_threshold=True, value_kind="refs",
       default_threshold=0.75),
    _T("similar:cosine", "alias of similar", None, needs_model=True, takes_threshold=True,
       value_kind="refs", default_threshold=0.75),
    _T("similar:dot", "embedding dot product with the value is at least the threshold", None,
       needs_model=True, takes_threshold=True, value_kind="refs", default_threshold=0.75),
    _T("similar:euclidean", "embedding distance to the value is at most the threshold", None,
       needs_model=True, takes_threshold=True, value_kind="refs"),
    _T("classifier", "a HuggingFace text-classification model's score for the class (value) "
       "is at least the threshold", None, needs_model=True, takes_threshold=True,
       default_threshold=1),
    _T("moderation", "a moderation model (OpenAI's /v1/moderations) flags none of the "
       "categories (value: a list; unset: any category)", None, needs_model=True),
    _T(MAX_SCORE, "the output whose other assertions scored highest among the case's outputs "
       "passes; value {method: average/sum, weights: {type: w}, threshold}", None,
       takes_threshold=True, negatable=False),
    _T("select-best", "an LLM picks the best of the outputs for the same case", None,
       needs_model=True, negatable=False, value_kind="required"),
]  # fmt: skip

_TABLE: dict[str, AssertionType] = {t.name: t for t in _BUILTIN}

# promptfoo assertion types that Promptyard refuses, and why (an error names the assertion).
REFUSED: dict[str, str] = {
    "webhook": "it posts every output to a URL of the config's choosing; assertions make no "
    "outbound calls here (use a javascript or python assertion)",
    "guardrails": "it reads a provider's guardrail verdicts, which no Promptyard provider reports",
    "pi": "it needs Pi Labs' hosted scoring API, which Promptyard does not call",
    "trace-span-count": "it needs OpenTelemetry traces of the call, which Promptyard does not "
    "collect",
    "trace-span-duration": "it needs OpenTelemetry traces of the call, which Promptyard does not "
    "collect",
    "trace-error-spans": "it needs OpenTelemetry traces of the call, which Promptyard does not "
    "collect",
    "ruby": "Ruby code is not run here (use a python or javascript assertion)",
    "search-rubric": "it needs a judge with web search, which Promptyard does not provide",
    "human": "human ratings are annotations in Promptyard (the UI), not an assertion type",
}


def assertion_types() -> list[AssertionType]:
    """The metadata table, sorted by name (for the CLI, API and docs)."""
    return sorted(_TABLE.values(), key=lambda t: t.name)


def register_assertion_type(entry: AssertionType, *, replace: bool = False) -> None:
    """Add a type (plugins, the judge module). Re-registering a name needs replace=True."""
    if entry.name in _TABLE and not replace:
        raise ValueError(f"assertion type {entry.name!r} is already registered")
    if entry.name.startswith("not-"):
        raise ValueError("register the base name; the not- prefix is handled for every type")
    _TABLE[entry.name] = entry


def get_assertion_type(name: str) -> AssertionType | None:
    return _TABLE.get(name)


def closest_type(name: str) -> str | None:
    """The known spelling nearest to `name` (with its not- prefix), for error messages."""
    inverse = name.startswith("not-")
    base = name[4:] if inverse else name
    found = difflib.get_close_matches(base.lower(), list(_TABLE), n=1, cutoff=0.6)
    if not found:
        return None
    return f"not-{found[0]}" if inverse else found[0]


def resolve_type(name: str, where: str = "") -> tuple[AssertionType, bool]:
    """(table row, inverse) for a config spelling like "not-icontains"."""
    entry = _TABLE.get(name)
    if entry is not None:
        return entry, False
    if name.startswith("not-"):
        entry = _TABLE.get(name[4:])
        if entry is not None:
            return entry, True
    base = name[4:] if name.startswith("not-") else name
    if base in REFUSED:
        raise UnknownAssertionError(
            f"assertion type {name!r} is not supported: {REFUSED[base]}", field=where or None
        )
    hint = closest_type(name)
    msg = f"unknown assertion type {name!r}"
    if hint:
        msg += f"; did you mean {hint!r}?"
    raise UnknownAssertionError(msg, field=where or None)
