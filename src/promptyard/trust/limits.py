"""Pure helpers for the resource limits of `TrustPolicy.limits` (policy.Limits).

    cap_text / capped_*    stored text cut at a limit, with a marker that says so and why
    cap_completion         a provider's answer capped as it arrives (before grading, caching)
    cap_trial              a trial capped before it is stored and reported
    json_depth_path        where a JSON text nests deeper than a limit (no recursion, no parse)
    data_depth_path        the same for parsed data (an iterative walk)
    render_limits          the template limits (core.templates.RenderLimits) of a Limits

Each helper takes the number it enforces, so the store's codec (which has no policy) and the
engine (which has the run's) share them. Hot path: every helper returns at once, without
copying, when nothing is over its limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Any

from promptyard.core.template_limits import RenderLimits, RenderTrip
from promptyard.core.types import Completion, GradingResult, TrialResult
from promptyard.trust.policy import Limits

# The setting behind each limit: messages name it, so an operator knows what to change.
OUTPUT_SETTING = "PROMPTYARD_MAX_OUTPUT_CHARS"
REASON_SETTING = "PROMPTYARD_MAX_REASON_CHARS"
STORED_SETTING = "PROMPTYARD_MAX_STORED_VALUE_CHARS"
DEPTH_SETTING = "PROMPTYARD_MAX_DEPTH"
NODES_SETTING = "PROMPTYARD_YAML_MAX_NODES"
ROWS_SETTING = "PROMPTYARD_UPLOAD_MAX_ROWS"
BYTES_SETTING = "PROMPTYARD_UPLOAD_MAX_BYTES"

TRUNCATED = "[truncated by Promptyard:"  # the start of every marker, for readers and tests


def render_limits(limits: Limits, trip: RenderTrip | None = None) -> RenderLimits:
    return RenderLimits(
        timeout_s=limits.render_timeout_s, max_chars=limits.render_max_chars, trip=trip
    )


# ---------------------------------------------------------------- capping stored text


def marker(total: int, limit: int, setting: str) -> str:
    return f"\n{TRUNCATED} {total} characters in all, over the limit of {limit} ({setting})]"


def cap_text(text: str, limit: int, setting: str) -> str:
    """`text` itself when it fits; else its start and a marker, `limit` characters in all
    (a marker alone when the limit is smaller than it)."""
    if len(text) <= limit:
        return text
    tail = marker(len(text), limit, setting)
    return text[: max(0, limit - len(tail))] + tail


def cap_optional(text: str | None, limit: int, setting: str) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return cap_text(text, limit, setting)


def cap_json_text(value: Any, encoded: str, limit: int, setting: str) -> Any:
    """A JSON value whose encoding (`encoded`) is over `limit`: the start of that encoding
    with a marker, as a string. A value that fits comes back unchanged."""
    if len(encoded) <= limit:
        return value
    return cap_text(encoded, limit, setting)


def capped_vars(values: dict[str, Any], encoded_len: int, limit: int, dumps: Any) -> Any:
    """Vars whose encoding is `encoded_len` long: each value over its share of `limit` becomes
    a marked excerpt of its JSON (the mapping stays a mapping, so reports still read it)."""
    if encoded_len <= limit or not values:
        return values
    share = max(256, limit // len(values))
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str):
            out[key] = cap_text(value, share, STORED_SETTING)
        else:
            text = dumps(value)
            out[key] = value if len(text) <= share else cap_text(text, share, STORED_SETTING)
    return out


def cap_grading(g: dict[str, Any], limit: int) -> dict[str, Any]:
    """A grading dict (GradingResult.to_dict) with every reason capped at `limit`, in place."""
    stack = [g]
    while stack:
        node = stack.pop()
        reason = node.get("reason")
        if isinstance(reason, str) and len(reason) > limit:
            node["reason"] = cap_text(reason, limit, REASON_SETTING)
        comps = node.get("componentResults")
        if isinstance(comps, list):
            stack.extend(c for c in comps if isinstance(c, dict))
    return g


def _cap_result(g: GradingResult, limits: Limits) -> None:
    stack = [g]
    while stack:
        node = stack.pop()
        if len(node.reason) > limits.max_reason_chars:
            node.reason = cap_text(node.reason, limits.max_reason_chars, REASON_SETTING)
        if node.error is not None and len(node.error) > limits.max_reason_chars:
            node.error = cap_text(node.error, limits.max_reason_chars, REASON_SETTING)
        stack.extend(node.component_results)


def cap_output(output: Any, limit: int, dumps: Any) -> Any:
    """An output as stored: a string over `limit` is cut with a marker; any other value whose
    JSON is over it becomes a marked excerpt of that JSON."""
    if output is None:
        return None
    if isinstance(output, str):
        return output if len(output) <= limit else cap_text(output, limit, OUTPUT_SETTING)
    return cap_json_text(output, dumps(output), limit, OUTPUT_SETTING)


def cap_completion(c: Completion, limits: Limits, dumps: Any) -> Completion:
    """A provider's answer capped in place as it arrives, so grading, the cache and the store
    all see the same bounded text. Nothing is copied when it fits."""
    c.output = cap_output(c.output, limits.max_output_chars, dumps)
    if c.raw is not None:
        c.raw = cap_json_text(c.raw, dumps(c.raw), limits.max_stored_value_chars, STORED_SETTING)
    return c


def cap_trial(t: TrialResult, limits: Limits, dumps: Any) -> TrialResult:
    """A trial capped in place before it is stored and reported (its output, raw body,
    reasons, error, prompt and description)."""
    stored = limits.max_stored_value_chars
    if isinstance(t.output, str):
        if len(t.output) > limits.max_output_chars:
            t.output = cap_text(t.output, limits.max_output_chars, OUTPUT_SETTING)
    elif t.output is not None:
        t.output = cap_output(t.output, limits.max_output_chars, dumps)
    if t.raw is not None and not isinstance(t.raw, str):
        t.raw = cap_json_text(t.raw, dumps(t.raw), stored, STORED_SETTING)
    elif isinstance(t.raw, str):
        t.raw = cap_text(t.raw, stored, STORED_SETTING)
    if t.grading is not None:
        _cap_result(t.grading, limits)
    t.error = cap_optional(t.error, stored, STORED_SETTING)
    if len(t.prompt) > stored:
        t.prompt = cap_text(t.prompt, stored, STORED_SETTING)
    t.description = cap_optional(t.description, stored, STORED_SETTING)
    return t


# ---------------------------------------------------------------- nesting depth

# A JSON string, unrolled so that long strings match in one pass of the regex engine.
_JSON_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRINGS_RE = re.compile(_JSON_STRING)
_NOT_BRACKETS_RE = re.compile(r"[^\[\]{}]+")
_TOKENS_RE = re.compile(_JSON_STRING + r"|[\[\]{}:,]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def format_path(parts: Iterable[str | int], root: str = "") -> str:
    """("tests", 0, "vars") -> "tests[0].vars" (the form ConfigError fields use)."""
    out = root
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def json_depth_path(text: str, max_depth: int) -> str | None:
    """None when the JSON `text` nests at most `max_depth` containers deep; else the path of
    the first value past that depth ("config.tests[0].vars.x"). Never recurses and never
    parses: the cheap checks come first (most texts have fewer brackets than the limit)."""
    if text.count("[") + text.count("{") <= max_depth:
        return None
    skeleton = _NOT_BRACKETS_RE.sub("", _STRINGS_RE.sub("", text))
    if not skeleton or max(accumulate(_STEP[c] for c in skeleton)) <= max_depth:
        return None
    return _locate(text, max_depth)


def _locate(text: str, max_depth: int) -> str:
    """The path of the first container opened past `max_depth` (the slow path, on refusal)."""
    # Each open container: [is_object, key or index, last string seen (a key candidate)].
    stack: list[list[Any]] = []
    for match in _TOKENS_RE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            if len(stack) >= max_depth:
                break
            stack.append([token == "{", None if token == "{" else 0, None])
        elif token in ("]", "}"):
            if stack:
                stack.pop()
        elif token == ":":
            if stack and stack[-1][0]:
                stack[-1][1] = stack[-1][2]
        elif token == ",":
            if stack and not stack[-1][0]:
                stack[-1][1] += 1
        elif stack:  # a string: in an object, maybe the next key
            stack[-1][2] = _unquote(token)
    return format_path(entry[1] if entry[1] is not None else "?" for entry in stack)


def _unquote(token: str) -> str:
    try:
        value = json.loads(token)
    except ValueError:
        return token[1:-1]
    return value if isinstance(value, str) else token[1:-1]


def data_depth_path(value: Any, max_depth: int, root: str = "") -> str | None:
    """None when parsed data (dicts and lists) nests at most `max_depth` deep; else the path
    (under `root`) of the first container past it. Iterative: any depth is safe to check."""
    if not isinstance(value, dict | list):
        return None
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) >= max_depth:
            return format_path(path, root)
        items: Iterable[tuple[str | int, Any]]
        items = node.items() if isinstance(node, Mapping) else enumerate(node)
        for key, child in items:
            if isinstance(child, dict | list):
                stack.append((child, (*path, key if isinstance(key, int) else str(key))))
    return None
