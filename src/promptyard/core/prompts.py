"""Render a prompt template for one test case into text and chat messages (pure).

The rules follow promptfoo's `renderPrompt`, so a promptfoo prompt renders to the same text:
- the test's `options.prefix`/`suffix` wrap the raw template;
- one trailing newline is removed from every string var (a footgun for JSON prompts);
- `{{ name }}` inside a var's value is replaced by the var `name` (up to 5 rounds);
- a raw template that is valid JSON is rendered string by string inside the JSON and printed
  back with two-space indentation, so var values can hold quotes and newlines safely;
- a rendered text that is a JSON list of {role, ...} messages is sent as a conversation.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from promptyard.core.templates import render_string, template_variables
from promptyard.core.types import PromptTemplate, TestCase

_VAR_REFERENCE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_RESOLVE_ROUNDS = 5


def render_prompt(prompt: PromptTemplate, test: TestCase) -> tuple[str, list[dict[str, Any]]]:
    """Return (text, messages) for `prompt` with `test`'s vars. Raises TemplateError."""
    variables = prepare_vars(test.vars)
    label = test.label
    source = prompt.source or prompt.label
    if prompt.messages is not None:
        messages = _render_json(prompt.messages, variables, label, source)
        return json.dumps(messages, ensure_ascii=False, indent=2), messages
    raw = _wrapped(prompt.text, test)
    parsed = _json_template(raw)
    if parsed is not None:
        rendered = _render_json(parsed, variables, label, source)
        text = json.dumps(rendered, ensure_ascii=False, indent=2)
        return text, _as_messages(rendered, text)
    text = render_string(raw, variables, test=label, source=source)
    return text, _as_messages(None, text)


def prepare_vars(variables: dict[str, Any]) -> dict[str, Any]:
    """promptfoo's var preparation: strip one trailing newline, resolve {{ var }} references."""
    if not any(isinstance(v, str) and (v.endswith("\n") or "{{" in v) for v in variables.values()):
        return variables  # the common case: nothing to change, no copy
    out = {
        k: v[:-1] if isinstance(v, str) and v.endswith("\n") else v for k, v in variables.items()
    }
    for _ in range(_RESOLVE_ROUNDS):
        changed = False
        for key, value in out.items():
            if not isinstance(value, str):
                continue
            match = _VAR_REFERENCE.search(value)
            if match and match.group(1) in out:
                out[key] = value.replace(match.group(0), str(out[match.group(1)]), 1)
                changed = True
        if not changed:
            break
    return out


def missing_variables(prompt: PromptTemplate, test: TestCase) -> frozenset[str]:
    """Variables the template reads that the test does not define (a cheap static check:
    a name used only inside an `{% if x is defined %}` branch may be listed too)."""
    return _referenced(prompt) - test.vars.keys()


@functools.lru_cache(maxsize=256)
def _referenced_in(text: str, source: str) -> frozenset[str]:
    return frozenset(template_variables(text, source=source))


def _referenced(prompt: PromptTemplate) -> frozenset[str]:
    structured = prompt.messages if prompt.messages is not None else _json_template(prompt.text)
    if structured is None:
        return _referenced_in(prompt.text, prompt.source)
    names: set[str] = set()
    for text in _strings(structured):
        names |= _referenced_in(text, prompt.source)
    return frozenset(names)


def _wrapped(raw: str, test: TestCase) -> str:
    prefix, suffix = test.options.get("prefix"), test.options.get("suffix")
    if prefix or suffix:
        return f"{prefix or ''}{raw}{suffix or ''}"
    return raw


@functools.lru_cache(maxsize=256)
def _parsed_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _json_template(raw: str) -> Any:
    """The parsed JSON when `raw` is a JSON list or object (shared: never mutate it)."""
    stripped = raw.lstrip()
    if not stripped.startswith(("[", "{")):
        return None
    parsed = _parsed_json(raw)
    return parsed if isinstance(parsed, list | dict) else None


def _render_json(value: Any, variables: dict[str, Any], test: str, source: str) -> Any:
    if isinstance(value, str):
        return render_string(value, variables, test=test, source=source)
    if isinstance(value, list):
        return [_render_json(v, variables, test, source) for v in value]
    if isinstance(value, dict):
        return {k: _render_json(v, variables, test, source) for k, v in value.items()}
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def _as_messages(rendered: Any, text: str) -> list[dict[str, Any]]:
    if rendered is None and text.lstrip().startswith("["):
        try:
            rendered = json.loads(text)
        except ValueError:
            rendered = None
    if (
        isinstance(rendered, list)
        and rendered
        and all(isinstance(m, dict) and "role" in m for m in rendered)
    ):
        return rendered
    return [{"role": "user", "content": text}]
