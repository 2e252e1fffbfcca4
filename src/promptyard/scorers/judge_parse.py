"""Judge prompts and the readers of judge replies. Pure: no calls, no I/O beyond prompt files.

The packaged prompts live in `judge_prompts/NAME.vN.yaml` (a list of chat messages whose contents
are templates); a user overrides one with promptfoo's `options.rubricPrompt`. Each reader turns a
reply into a verdict or raises JudgeParseError, which the judge answers with one retry and then
an error that carries the raw reply (never a silent zero).
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from promptyard.errors import ConfigError
from promptyard.scorers.values import json_stringify, render

PROMPT_VERSION = "v1"


class JudgeParseError(ValueError):
    """The judge's reply does not follow its prompt's reply contract."""


@dataclass(frozen=True, slots=True)
class JudgePrompt:
    name: str  # "llm-rubric@v1" for packaged prompts, the file or "options.rubricPrompt" else
    messages: tuple[tuple[str, str], ...]  # (role, content template)

    def render(self, variables: dict[str, Any]) -> list[dict[str, str]]:
        values = {k: _template_value(v) for k, v in variables.items()}
        return [{"role": role, "content": render(text, values)} for role, text in self.messages]


def _template_value(value: Any) -> Any:
    """Objects reach judge prompts as JSON text, as in promptfoo; lists keep their items."""
    if isinstance(value, dict):
        return json_stringify(value)
    if isinstance(value, list):
        return [json_stringify(v) if isinstance(v, dict | list) else v for v in value]
    return value


@lru_cache(maxsize=32)
def packaged_prompt(name: str) -> JudgePrompt:
    text = (
        resources.files("promptyard.scorers")
        .joinpath(f"judge_prompts/{name}.{PROMPT_VERSION}.yaml")
        .read_text(encoding="utf-8")
    )
    return JudgePrompt(f"{name}@{PROMPT_VERSION}", _messages(yaml.safe_load(text), name))


def prompt_for(name: str, override: Any, base_dir: str) -> JudgePrompt:
    """The packaged prompt `name`, or the user's `rubricPrompt` (text, messages, file://)."""
    if override is None or override == "" or override == {}:
        return packaged_prompt(name)
    where = "options.rubricPrompt"
    if isinstance(override, str) and override.startswith("file://"):
        path = os.path.join(base_dir, override[len("file://") :])
        try:
            with open(path, encoding="utf-8") as fh:
                raw = fh.read()
        except OSError as exc:
            raise ConfigError(f"cannot read the judge prompt: {exc.strerror}", file=path) from None
        where = override
        override = _parse_prompt_text(raw, path)
    elif isinstance(override, str):
        override = _parse_prompt_text(override, where)
    return JudgePrompt(where, _messages(override, where))


def _parse_prompt_text(text: str, where: str) -> Any:
    """A JSON or YAML list of messages, or else plain text (one user message)."""
    stripped = text.strip()
    if stripped.startswith(("[", "-")):
        try:
            parsed = yaml.safe_load(stripped)
        except yaml.YAMLError:
            return text
        if isinstance(parsed, list):
            return parsed
    return text


def _messages(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str):
        return (("user", value),)
    if isinstance(value, list) and value:
        out = []
        for i, m in enumerate(value):
            if not isinstance(m, dict) or not isinstance(m.get("content"), str):
                raise ConfigError(
                    f"message {i} of the judge prompt needs a `role` and a string `content`",
                    field=where,
                )
            out.append((str(m.get("role") or "user"), m["content"]))
        return tuple(out)
    raise ConfigError("a judge prompt is text or a list of chat messages", field=where)


# ------------------------------------------------------------------ readers


def first_json_object(text: str) -> dict[str, Any]:
    """The first mapping in a judge's reply, read as leniently as promptfoo reads it.

    promptfoo's extractJsonObjects tries, from each `{`, ever longer slices of the reply
    until one parses as YAML (after turning `//` comments into `#`), so near-JSON passes:
    unquoted keys and values, comments, trailing commas, single quotes, and prose or code
    fences around the object. Here: strict JSON first (the same object when it is JSON),
    then YAML on the slices that end at a `}` (only those can close a flow mapping), with
    YAML 1.2 booleans as js-yaml reads them (`yes` stays a string) and no aliases.
    """
    for obj in lenient_objects(text):
        return obj
    raise JudgeParseError("the reply holds no JSON object")


_DECODER = json.JSONDecoder()
_JSON_START = re.compile(r"\{\s*[\"}]")
_MAX_OBJECT_CHARS = 100_000  # promptfoo's maxJsonLength
_MAX_CLOSINGS = 64  # `}` tried as the end of one object
_MAX_YAML_TRIES = 512  # YAML parses for one reply
_MAX_YAML_CHARS = 200_000  # text given to the YAML parser for one reply (~2.5 µs a char)
_MAX_DEPTH = 32  # deeper slices are not given to the (recursive) YAML parser


def lenient_objects(text: str) -> Iterator[dict[str, Any]]:
    """Mappings found in `text`, left to right, each scan resuming after the last found."""
    tries = budget = 0
    closes: list[int] | None = None  # positions of `}`, found on first need
    i = text.find("{")
    while i >= 0:
        found: dict[str, Any] | None = None
        end = i + 1
        if _JSON_START.match(text, i):  # only then can strict JSON succeed (errors cost O(n))
            try:
                obj, end = _DECODER.raw_decode(text, i)
                if isinstance(obj, dict):
                    found = obj
            except ValueError:
                pass
        if found is None:
            if closes is None:
                closes = [k for k, char in enumerate(text) if char == "}"]
            if not closes or closes[-1] < i:
                return  # no `}` left: nothing further can close a mapping
            at = bisect.bisect_left(closes, i)
            for j in closes[at : at + _MAX_CLOSINGS]:
                if j - i >= _MAX_OBJECT_CHARS:
                    break
                candidate = text[i : j + 1]
                tries += 1
                budget += len(candidate)
                if tries > _MAX_YAML_TRIES or budget > _MAX_YAML_CHARS:
                    return
                obj = _yaml_mapping(candidate) if _depth(candidate) <= _MAX_DEPTH else None
                if obj is not None:
                    found, end = obj, j + 1
                    break
        if found is not None:
            yield found
            i = text.find("{", end)
        else:
            i = text.find("{", i + 1)


def _depth(text: str) -> int:
    """How deeply brackets nest in `text` (quotes ignored: an upper bound)."""
    depth = deepest = 0
    for char in text:
        if char in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "}]":
            depth -= 1
    return deepest


class _ReplyLoader(yaml.SafeLoader):
    """YAML as js-yaml reads a judge's reply: YAML 1.2 booleans (true/false only), and no
    aliases (a reply cannot make a value that is larger than its text)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases are not read in judge replies")
        return super().compose_node(parent, index)


_ReplyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ReplyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _yaml_mapping(candidate: str) -> dict[str, Any] | None:
    try:
        value = yaml.load(slash_comments_to_hash(candidate), Loader=_ReplyLoader)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): v for k, v in value.items()}


_LETTER = re.compile(r"[a-zA-Z]")


def slash_comments_to_hash(text: str) -> str:
    """promptfoo's convertSlashCommentsToHash: `//` outside quotes starts a comment, so it
    becomes `#` (two slashes per hash), line by line; an apostrophe inside a word does not
    open a quote."""
    lines = []
    for line in text.split("\n"):
        state = ""  # "", "'" or '"'
        out: list[str] = []
        i = 0
        while i < len(line):
            char = line[i]
            prev = line[i - 1] if i > 0 else ""
            nxt = line[i + 1] if i + 1 < len(line) else ""
            if not state:
                if char == "'" and not _LETTER.match(prev):
                    state = "'"
                elif char == '"':
                    state = '"'
                elif char == "/" and nxt == "/":
                    slashes = 2
                    while i + slashes < len(line) and line[i + slashes] == "/":
                        slashes += 1
                    out.append("#" * (slashes // 2) + line[i + slashes :])
                    break
            elif state == "'":
                if char == "'" and prev != "\\" and not _LETTER.match(nxt):
                    state = ""
            elif char == '"' and prev != "\\":
                state = ""
            out.append(char)
            i += 1
        lines.append("".join(out))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class RubricVerdict:
    passed: bool
    score: float
    reason: str


def read_rubric(text: str, threshold: float | None) -> RubricVerdict:
    """promptfoo's llm-rubric reading: `pass` defaults to true, strings like "yes" count, the
    score defaults to the pass value, and a threshold also requires score >= threshold."""
    parsed = first_json_object(text)
    if "pass" not in parsed and "score" not in parsed:
        raise JudgeParseError('the JSON object has neither "pass" nor "score"')
    raw_pass = parsed.get("pass", True)
    passed = (
        raw_pass
        if isinstance(raw_pass, bool)
        else bool(re.fullmatch(r"true|yes|pass|y", str(raw_pass), re.IGNORECASE))
    )
    score = _number(parsed.get("score"))
    if score is None:
        score = 1.0 if passed else 0.0
    if threshold is not None:
        passed = passed and score >= threshold
    reason = str(parsed.get("reason") or "")
    if not reason:
        reason = "Grading passed" if passed else f"Score {score:g} below threshold {threshold}"
    return RubricVerdict(passed, score, reason)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_steps(text: str) -> list[str]:
    parsed = first_json_object(text)
    steps = parsed.get("steps")
    if not isinstance(steps, list) or not steps:
        raise JudgeParseError('expected {"steps": [...]} with at least one step')
    return [str(s) for s in steps]


_SCORE_KEY = re.compile(r'"score"\s*:\s*"?(\d+(?:\.\d+)?)')


def read_score(text: str, max_score: int) -> tuple[float, str]:
    """(score 0..max_score, reason) from a G-Eval reply."""
    parsed = first_json_object(text)
    score = _number(parsed.get("score"))
    if score is None:
        raise JudgeParseError('the JSON object has no numeric "score"')
    if not 0 <= score <= max_score:
        raise JudgeParseError(f"score {score:g} is outside 0..{max_score}")
    return score, str(parsed.get("reason") or "")


def weighted_score(raw: Any, max_score: int) -> tuple[float, dict[str, float]] | None:
    """G-Eval's probability-weighted score: the mean of the candidate score tokens weighted by
    their probabilities, read from the top logprobs of the token that holds the score.

    `raw` is an OpenAI chat completion body; None when it carries no top logprobs there.
    """
    try:
        tokens = raw["choices"][0]["logprobs"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(tokens, list):
        return None
    text = ""
    for item in tokens:
        if not isinstance(item, dict):
            return None
        token = str(item.get("token", ""))
        before = text
        text += token
        match = _SCORE_KEY.search(text)
        if match is None or match.start(1) < len(before):
            continue  # the score's digits are not (only) in this token
        candidates: dict[str, float] = {}
        for alt in item.get("top_logprobs") or []:
            digits = str(alt.get("token", "")).strip()
            if digits.isdigit() and 0 <= int(digits) <= max_score:
                prob = math.exp(float(alt.get("logprob", -math.inf)))
                candidates[digits] = candidates.get(digits, 0.0) + prob
        total = sum(candidates.values())
        if total <= 0:
            return None
        mean = sum(int(d) * p for d, p in candidates.items()) / total
        return mean, {d: round(p / total, 6) for d, p in sorted(candidates.items())}
    return None


_FACTUALITY_LEGACY = re.compile(r"\s*\(?([a-eA-E])\)")


def read_factuality(text: str) -> tuple[str, str]:
    """(category A-E, reason): the JSON reply, else promptfoo's legacy "(X) reason" form."""
    try:
        parsed = first_json_object(text)
    except JudgeParseError:
        parsed = {}
    category = parsed.get("category")
    if isinstance(category, str) and category.strip():
        option = category.strip().upper()
        if not re.fullmatch(r"[A-E]", option):
            raise JudgeParseError(f"category {option!r} is not one of A-E")
        return option, str(parsed.get("reason") or "").strip() or f"Category {option}"
    match = _FACTUALITY_LEGACY.search(text)
    if match is None:
        raise JudgeParseError("no category A-E in the reply")
    rest = re.search(r"\)\s*(.*)", text, re.DOTALL)
    return match.group(1).upper(), (rest.group(1).strip() if rest and rest.group(1) else text)


def read_closedqa(text: str) -> bool:
    """Y or N as the reply's last character (promptfoo reads only the end)."""
    end = text.rstrip()
    if end.endswith("Y"):
        return True
    if end.endswith("N"):
        return False
    raise JudgeParseError("the reply does not end with Y or N")


def split_sentences(text: str) -> list[str]:
    """Lines with text (promptfoo's splitIntoSentences splits on newlines)."""
    return [line for line in text.split("\n") if line.strip()]


ATTRIBUTED = "[attributed]"
NOT_ATTRIBUTED = "[not attributed]"


def read_recall(text: str) -> tuple[int, int]:
    """(attributed, total) over the lines that carry an attribution marker."""
    lines = [s.lower() for s in split_sentences(text)]
    marked = [s for s in lines if ATTRIBUTED in s or NOT_ATTRIBUTED in s]
    if not marked:
        raise JudgeParseError("no line carries [Attributed] or [Not attributed]")
    attributed = sum(1 for s in marked if NOT_ATTRIBUTED not in s and ATTRIBUTED in s)
    return attributed, len(marked)


_FINAL = "final verdict for each statement in order:"


def read_faithfulness(text: str, statements: int) -> float:
    """Share of statements the context supports, read as promptfoo reads the NLI reply."""
    verdicts = text.lower().strip()
    if statements == 0:
        return 0.0
    if _FINAL in verdicts:
        tail = verdicts[verdicts.index(_FINAL) + len(_FINAL) :]
        answers = [a for a in tail.split(".") if a.strip()]
        if answers:
            return min(1.0, max(0.0, 1 - sum(1 for a in answers if "yes" not in a) / statements))
    no, yes = verdicts.count("verdict: no"), verdicts.count("verdict: yes")
    if no + yes == 0:
        raise JudgeParseError("no verdicts in the reply")
    return min(1.0, max(0.0, 1 - no / statements))


INSUFFICIENT = "Insufficient Information"


def read_relevance(text: str, context: str | list[str]) -> tuple[int, int]:
    """(relevant units, context units) for context-relevance."""
    units = (
        [c for c in context if c.strip()] if isinstance(context, list) else split_sentences(context)
    )
    if INSUFFICIENT.lower() in text.lower():
        return 0, len(units)
    extracted = set(split_sentences(text))
    return min(len(extracted), len(units)), len(units)


def read_index(text: str, count: int) -> int:
    match = re.search(r"\d+", text)
    if match is None:
        raise JudgeParseError("the reply holds no index")
    index = int(match.group())
    if not 0 <= index < count:
        raise JudgeParseError(f"index {index} is outside 0..{count - 1}")
    return index


def context_text(context: Any) -> str:
    """A context var (text or a list of chunks) as one text."""
    if isinstance(context, list):
        return "\n\n".join(c if isinstance(c, str) else json.dumps(c) for c in context)
    return context if isinstance(context, str) else json.dumps(context)
