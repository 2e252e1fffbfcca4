"""The built-in filters of prompt templates: Nunjucks' filters with Nunjucks' arguments and
results, and Jinja's `format`, `tojson` and `wordwrap` with their sizes checked first. Pure (L0).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import escape as _html_escape

from promptyard.core.template_js import _f_load, js_str, json_stringify
from promptyard.core.template_limits import (
    _check_widths,
    _current,
    _need,
    _percent_specs,
    _replaced_len,
)

_JS_WS = "\\s\ufeff\u00a0"
_TRIM_RE = re.compile(f"^[{_JS_WS}]+|[{_JS_WS}]+$")
_TAGS_RE = re.compile(r"</?([a-z][a-z0-9]*)\b[^>]*>|<!--[\s\S]*?-->", re.IGNORECASE)
_WORD_RE = re.compile(r"\w+", re.ASCII)
_INT_RE = re.compile(f"^[{_JS_WS}]*([+-]?\\d+)")
_FLOAT_RE = re.compile(
    f"^[{_JS_WS}]*([+-]?(?:Infinity|\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?))"
)


def _normalize(value: Any) -> str:
    return "" if value is None or isinstance(value, jinja2.Undefined) else js_str(value)


def _f_escape(value: Any) -> str:
    return str(_html_escape(_normalize(value)))


def _f_first(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)):
        return value[0] if value else None
    return None


def _f_last(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)):
        return value[-1] if value else None
    return None


def _f_length(value: Any) -> Any:
    if value is None or isinstance(value, jinja2.Undefined):
        return 0
    try:
        return len(value)
    except TypeError:
        return None


def _f_join(value: Any, delimiter: Any = "", attribute: Any = None) -> str:
    items = list(value or [])
    if attribute is not None:
        items = [_get_path(v, str(attribute)) for v in items]
    sep = js_str(delimiter or "")
    parts = ["" if v is None else js_str(v) for v in items]
    _need(sum(map(len, parts)) + len(sep) * max(0, len(parts) - 1), "join")
    return sep.join(parts)


def _f_replace(value: Any, old: Any, new: Any, max_count: Any = None) -> Any:
    if isinstance(old, (int, float)) and not isinstance(old, bool):
        old = js_str(old)
    elif not isinstance(old, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = js_str(value)
    if not isinstance(value, str):
        return value
    count = -1 if max_count is None else int(max_count)
    new = js_str(new)
    _need(_replaced_len(value, old, new, count), "replace")
    return value.replace(old, new, count)


def _f_default(value: Any, default: Any = "", boolean: bool = False) -> Any:
    if boolean:
        return value if value and not isinstance(value, jinja2.Undefined) else default
    return default if isinstance(value, jinja2.Undefined) else value


def _f_upper(value: Any) -> str:
    return _normalize(value).upper()


def _f_lower(value: Any) -> str:
    return _normalize(value).lower()


def _f_capitalize(value: Any) -> str:
    text = _normalize(value).lower()
    return text[:1].upper() + text[1:]


def _f_title(value: Any) -> str:
    return " ".join(_f_capitalize(word) for word in _normalize(value).split(" "))


def _f_trim(value: Any) -> str:
    return _TRIM_RE.sub("", _normalize(value))


def _f_truncate(value: Any, length: Any = 255, killwords: Any = False, end: Any = None) -> str:
    text = _normalize(value)
    limit = int(length or 255)
    if len(text) <= limit:
        return text
    if killwords:
        text = text[:limit]
    else:
        idx = text.rfind(" ", 0, limit + 1)
        text = text[: limit if idx == -1 else idx]
    return text + ("..." if end is None else js_str(end))


def _encode_uri_component(value: Any) -> str:
    return quote(js_str(value), safe="-_.!~*'()")


def _f_urlencode(value: Any) -> str:
    if isinstance(value, str):
        return _encode_uri_component(value)
    pairs = value.items() if isinstance(value, Mapping) else value
    return "&".join(f"{_encode_uri_component(k)}={_encode_uri_component(v)}" for k, v in pairs)


def _f_reverse(value: Any) -> Any:
    if isinstance(value, str):
        return value[::-1]
    return list(value)[::-1]


def _f_round(value: Any, precision: Any = 0, method: str = "common") -> float:
    factor = math.pow(10, int(precision or 0))
    scaled = float(value) * factor
    if method == "ceil":
        rounded = math.ceil(scaled)
    elif method == "floor":
        rounded = math.floor(scaled)
    else:
        rounded = math.floor(scaled + 0.5)  # JavaScript's Math.round: halves go up
    return float(rounded) / factor


def _f_int(value: Any, default: Any = None) -> Any:
    match = _INT_RE.match(js_str(value))
    return int(match.group(1)) if match else default


def _f_float(value: Any, default: Any = None) -> Any:
    match = _FLOAT_RE.match(js_str(value))
    return float(match.group(1).replace("Infinity", "inf")) if match else default


def _f_batch(value: Any, linecount: Any, fill_with: Any = None) -> list[list[Any]]:
    size = int(linecount)
    _need(size, "batch")
    items = list(value)
    out = [items[i : i + size] for i in range(0, len(items), size)]
    if out and fill_with:
        out[-1].extend([fill_with] * (size - len(out[-1])))
    return out


def _get_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, Mapping):
            obj = obj.get(part)
        elif isinstance(obj, (list, tuple)) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def _f_groupby(value: Any, attribute: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for item in value:
        key = _get_path(item, str(attribute))
        groups.setdefault("undefined" if key is None else js_str(key), []).append(item)
    return groups


def _f_nl2br(value: Any) -> str:
    return re.sub(r"\r\n|\n", "<br />\n", _normalize(value))


def _f_striptags(value: Any, preserve_linebreaks: Any = False) -> str:
    text = _f_trim(_TAGS_RE.sub("", _normalize(value)))
    if preserve_linebreaks:
        text = re.sub(r"^ +| +$", "", text, flags=re.MULTILINE)
        text = re.sub(r" +", " ", text).replace("\r\n", "\n")
        return re.sub(r"\n\n\n+", "\n\n", text)
    return re.sub(r"\s+", " ", text)


def _f_wordcount(value: Any) -> int | None:
    words = _WORD_RE.findall(_normalize(value))
    return len(words) or None


def _f_indent(value: Any, width: Any = 4, indentfirst: Any = False) -> str:
    text = _normalize(value)
    if text == "":
        return ""
    width = int(width or 4)
    lines = text.split("\n")
    _need(len(text) + max(0, width) * len(lines), "indent")
    pad = " " * width
    return "\n".join(
        line if i == 0 and not indentfirst else pad + line for i, line in enumerate(lines)
    )


def _f_center(value: Any, width: Any = 80) -> str:
    text = _normalize(value)
    total = int(width or 80)
    _need(total, "center")
    if len(text) >= total:
        return text
    spaces = total - len(text)
    return " " * math.ceil(spaces / 2 - spaces % 2) + text + " " * math.ceil(spaces / 2)


def _f_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return list(value)
    if isinstance(value, Mapping):
        return [{"key": k, "value": v} for k, v in value.items()]
    return list(value)


def _listing(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja returns generators where Nunjucks returns arrays; arrays print and index."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if isinstance(result, (str, Mapping, list)) or not isinstance(result, Iterable):
            return result
        return list(result)

    return wrapper


def _f_pairs(value: Any) -> Any:
    """`{% for k, v in obj %}` iterates an object's entries in Nunjucks."""
    return list(value.items()) if isinstance(value, Mapping) else value


_NUNJUCKS_FILTERS: dict[str, Callable[..., Any]] = {
    "batch": _f_batch,
    "capitalize": _f_capitalize,
    "center": _f_center,
    "default": _f_default,
    "d": _f_default,
    "dump": json_stringify,
    "escape": _f_escape,
    "e": _f_escape,
    "first": _f_first,
    "float": _f_float,
    "forceescape": _f_escape,
    "groupby": _f_groupby,
    "indent": _f_indent,
    "int": _f_int,
    "join": _f_join,
    "last": _f_last,
    "length": _f_length,
    "count": _f_length,
    "list": _f_list,
    "load": _f_load,
    "lower": _f_lower,
    "nl2br": _f_nl2br,
    "replace": _f_replace,
    "reverse": _f_reverse,
    "round": _f_round,
    "safe": _normalize,
    "string": js_str,
    "striptags": _f_striptags,
    "title": _f_title,
    "trim": _f_trim,
    "truncate": _f_truncate,
    "upper": _f_upper,
    "urlencode": _f_urlencode,
    "wordcount": _f_wordcount,
    "_nj_pairs": _f_pairs,
}


def _f_format(value: Any, *args: Any, **kwargs: Any) -> str:
    """Jinja's `format` filter (printf-style), its widths checked first."""
    _check_widths(_current(), _percent_specs(str(value)), "format")
    return jinja2.filters.do_format(value, *args, **kwargs)


@jinja2.pass_eval_context
def _f_tojson(eval_ctx: Any, value: Any, indent: Any = None) -> Any:
    """Jinja's `tojson`, its indent capped at 10 as JSON.stringify caps it."""
    if isinstance(indent, int) and not isinstance(indent, bool):
        indent = max(0, min(10, indent))
    elif indent is not None:
        indent = str(indent)[:10]
    return jinja2.filters.do_tojson(eval_ctx, value, indent)


@jinja2.pass_environment
def _f_wordwrap(
    environment: Any,
    s: Any,
    width: Any = 79,
    break_long_words: Any = True,
    wrapstring: Any = None,
    break_on_hyphens: Any = True,
) -> str:
    """Jinja's `wordwrap`, its result measured first (a long wrapstring on every line)."""
    text = str(s)
    sep = environment.newline_sequence if wrapstring is None else str(wrapstring)
    lines = len(text) // max(1, int(width)) + text.count("\n") + 1
    _need(len(text) + lines * len(sep), "wordwrap")
    return jinja2.filters.do_wordwrap(
        environment, text, int(width), break_long_words, wrapstring, break_on_hyphens
    )
