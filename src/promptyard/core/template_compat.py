"""Nunjucks compatibility in prompt templates: Nunjucks' `undefined`, the JavaScript members
templates call (`items.length`, `name.toUpperCase()`), and the few Nunjucks spellings Jinja
lacks, rewritten before compiling. Pure (L0).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import jinja2

from promptyard.core.template_builtins import _f_join, _f_trim
from promptyard.core.template_js import js_str


def _js_index_of(seq: Any, item: Any, start: int = 0) -> int:
    if isinstance(seq, str):
        return seq.find(js_str(item), start)
    try:
        return list(seq).index(item, start)
    except ValueError:
        return -1


_STR_MEMBERS: dict[str, Callable[[str], Any]] = {
    "toUpperCase": lambda s: s.upper,
    "toLowerCase": lambda s: s.lower,
    "trim": lambda s: functools.partial(_f_trim, s),
    "includes": lambda s: lambda sub, start=0: js_str(sub) in s[int(start) :],
    "startsWith": lambda s: lambda sub: s.startswith(js_str(sub)),
    "endsWith": lambda s: lambda sub: s.endswith(js_str(sub)),
    "indexOf": lambda s: functools.partial(_js_index_of, s),
}
_LIST_MEMBERS: dict[str, Callable[[Any], Any]] = {
    "includes": lambda seq: lambda item: item in seq,
    "indexOf": lambda seq: functools.partial(_js_index_of, seq),
    "join": lambda seq: lambda sep=",": _f_join(seq, sep if sep is not None else ","),
}


class _Undefined(jinja2.StrictUndefined):
    """Nunjucks' `undefined` where a template only asks about it, our typo check where it
    uses it.

    Strict (an error naming the variable) when printed, iterated, measured, searched with
    `in` or used in arithmetic. As in Nunjucks it is false in `{% if %}`, `==` only to
    itself and to null (JavaScript's loose equality), never <, <=, > or >= anything (NaN),
    and its members are undefined too (`user.name` with no `user`), so conditions such as
    `{% if mode == "upper" %}` or `{% if user.name %}` hold nothing when the variable is
    missing, and `is defined` and `default` see it as undefined."""

    __slots__ = ()

    def __bool__(self) -> bool:  # type: ignore[override]
        return False

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return other is None or isinstance(other, jinja2.Undefined)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    def __hash__(self) -> int:  # type: ignore[override]
        return 0

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        return False

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        return False

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        return False

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        return False

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, _name: Any) -> Any:
        return self


# ---------------------------------------------------------------- Nunjucks syntax shims

_RAW_SPLIT_RE = re.compile(r"(\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\})", re.DOTALL)
_TAG_RE = re.compile(r"(\{%.*?%\}|\{\{.*?\}\})", re.DOTALL)
_ELSEIF_RE = re.compile(r"^(\{%-?\s*)elseif\b")
_FOR_PAIRS_RE = re.compile(r"^(\{%-?\s*for\s+\w+\s*,\s*\w+\s+in\s+)(.+?)(\s*-?%\})$", re.DOTALL)


def _shim_tag(match: re.Match[str]) -> str:
    tag = match.group(0)
    tag = tag.replace("===", "==").replace("!==", "!=")
    if tag.startswith("{%"):
        tag = _ELSEIF_RE.sub(r"\1elif", tag)
        pairs = _FOR_PAIRS_RE.match(tag)
        if pairs:
            tag = f"{pairs.group(1)}({pairs.group(2)})|_nj_pairs{pairs.group(3)}"
    return tag


def _nunjucks_to_jinja(template: str) -> str:
    """Rewrite the few Nunjucks spellings Jinja lacks: elseif, ===, !==, for k, v in object."""
    if "{%" not in template and "==" not in template:
        return template
    parts = _RAW_SPLIT_RE.split(template)
    for i in range(0, len(parts), 2):  # odd parts are {% raw %} blocks, left alone
        parts[i] = _TAG_RE.sub(_shim_tag, parts[i])
    return "".join(parts)
