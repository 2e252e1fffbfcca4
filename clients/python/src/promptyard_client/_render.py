"""Render a prompt template with variables, without Jinja (the SDK needs only httpx and
pydantic). The subset, which is what prompt templates mostly use:

    {{ name }}              the variable, as str() renders it (as Jinja does)
    {{ user.name }}         a key of a mapping, else an attribute
    {{ items[0] }}          an index of a list, or a key in quotes: {{ row["first name"] }}
    {{ "text" }}            a string literal ('{{ "{{" }}' writes braces)
    {# comment #}           removed
    {{- name -}}            trims the whitespace before / after, as in Jinja

An undefined name (or key) raises TemplateRenderError naming it, as the server's renderer
(Jinja2 with StrictUndefined) does. Anything else inside `{{ }}` (filters such as `| upper`,
expressions, calls) and `{% %}` tags (if, for, set) raise TemplateRenderError saying that
they need the server's renderer: run the prompt through an evaluation, or render with Jinja2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from promptyard_client.errors import PromptyardError

_OUTPUT = re.compile(r"\{\{(.*?)\}\}", re.S)
_TRIM_LEFT = re.compile(r"\s*\{\{-")
_TRIM_RIGHT = re.compile(r"-\}\}\s*")
_TAG = re.compile(r"\{%-?(.*?)-?%\}", re.S)
_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = re.compile(
    rf"""\s*(?P<head>{_NAME})(?P<rest>(?:\s*\.\s*{_NAME}|\s*\[\s*(?:-?\d+|"[^"]*"|'[^']*')\s*\])*)\s*"""
)
_STEP = re.compile(rf"""\.\s*({_NAME})|\[\s*(-?\d+|"[^"]*"|'[^']*')\s*\]""")
_LITERAL = re.compile(r"""\s*("[^"\\]*"|'[^'\\]*')\s*""")


class TemplateRenderError(PromptyardError, ValueError):
    """A template this renderer cannot fill: an undefined name, or syntax it does not support."""


def render_text(template: str, variables: Mapping[str, Any]) -> str:
    tag = _TAG.search(template)
    if tag:
        raise TemplateRenderError(
            f"`{{% {tag.group(1).strip()} %}}` is a Jinja tag; PromptVersion.render supports "
            "only {{ name }}, {{ name.attr }} and {{ name[0] }} substitutions (render with "
            "Jinja2, or let the server render it in an evaluation)"
        )
    template = _COMMENT.sub("", template)
    template = _TRIM_RIGHT.sub("}}", _TRIM_LEFT.sub("{{", template))  # {{- x -}} trims
    return _OUTPUT.sub(lambda m: _value(m.group(1), variables), template)


def render_template(
    template: str | Sequence[Mapping[str, Any]], variables: Mapping[str, Any]
) -> str | list[dict[str, Any]]:
    """A text template as text; a chat template (a list of messages) as a new list in which
    each message's text content (a string, or the text parts of a list) is rendered."""
    if isinstance(template, str):
        return render_text(template, variables)
    out: list[dict[str, Any]] = []
    for message in template:
        msg = dict(message)
        content = msg.get("content")
        if isinstance(content, str):
            msg["content"] = render_text(content, variables)
        elif isinstance(content, list):
            msg["content"] = [_part(p, variables) for p in content]
        out.append(msg)
    return out


def _part(part: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(part, Mapping) and isinstance(part.get("text"), str):
        return {**part, "text": render_text(part["text"], variables)}
    return part


def _value(expr: str, variables: Mapping[str, Any]) -> str:
    literal = _LITERAL.fullmatch(expr)
    if literal:
        return literal.group(1)[1:-1]
    path = _PATH.fullmatch(expr)
    if not path:
        raise TemplateRenderError(
            f"`{{{{{expr}}}}}`: PromptVersion.render supports only names, `.attr` and `[index]` "
            "(no filters or expressions); render with Jinja2, or let the server render it"
        )
    head = path.group("head")
    if head not in variables:
        raise TemplateRenderError(f"undefined variable `{head}` (given: {_names(variables)})")
    value: Any = variables[head]
    shown = head
    for attr, key in _STEP.findall(path.group("rest")):
        step: Any = attr or (int(key) if key.lstrip("-").isdigit() else key[1:-1])
        value = _step(value, step, shown)
        shown += f".{attr}" if attr else f"[{key}]"
    return str(value)


def _step(value: Any, step: Any, shown: str) -> Any:
    if isinstance(value, Mapping):
        if step in value:
            return value[step]
    elif isinstance(step, int) and isinstance(value, Sequence) and not isinstance(value, str):
        if -len(value) <= step < len(value):
            return value[step]
    elif isinstance(step, str) and hasattr(value, step):
        return getattr(value, step)
    raise TemplateRenderError(f"`{shown}` has no {'item' if isinstance(step, int) else 'key'} "
                              f"{step!r}")  # fmt: skip


def _names(variables: Mapping[str, Any]) -> str:
    return ", ".join(sorted(map(str, variables))) or "none"
