"""Sandboxed prompt templates: Jinja2 that renders promptfoo's Nunjucks prompts to the same text.

Pure (L0). One immutable sandboxed environment, compiled templates cached by their text.
Where Nunjucks and Jinja2 differ in ways a promptfoo user would notice, Nunjucks wins:
values print the way JavaScript prints them (`true`, `a,b`, `[object Object]`, `3` for 3.0,
nothing for null), and the filters take Nunjucks' arguments and give Nunjucks' results.
docs/config.md ("Templates") lists what still differs.

A template is untrusted input, so a render stops by itself (RenderLimitError) when it runs past
its deadline or makes too much text, whatever thread it runs in (a thread cannot be killed):
output is streamed and counted chunk by chunk; `*`, `**`, `+`, `%` and `~`, every filter and
every call check the size of what they would make; loops, calls and block outputs check the
deadline and count their steps. RenderLimits holds the numbers (the server's come from
settings through `using_limits`).
"""

from __future__ import annotations

import functools
import json
import math
import re
import string
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape as _html_escape

from promptyard.errors import TemplateError

__all__ = [
    "RenderLimitError",
    "RenderLimits",
    "RenderTrip",
    "TemplateFilters",
    "check_syntax",
    "declared_filters",
    "js_number",
    "js_str",
    "json_stringify",
    "naming_test",
    "render_string",
    "template_variables",
    "using_filters",
    "using_limits",
]

_TEMPLATE_FILE = "<template>"
_CACHE_SIZE = 4096


# ---------------------------------------------------------------- render limits

TIMEOUT_SETTING = "PROMPTYARD_RENDER_TIMEOUT_MS"
CHARS_SETTING = "PROMPTYARD_RENDER_MAX_CHARS"
WORK_FACTOR = 10  # text a render may build along the way, in multiples of max_chars


class RenderTrip:
    """Shared by the renders of one run: the first render over a limit trips it (and calls
    `on_trip`, from whatever thread rendered), and every later render fails at once. A
    caller that catches template errors (a grader) cannot then hide a runaway template that
    every trial would run again."""

    def __init__(self, on_trip: Callable[[RenderLimitError], None] | None = None) -> None:
        self.error: RenderLimitError | None = None
        self._on_trip = on_trip

    def trip(self, error: RenderLimitError) -> None:
        if self.error is None:
            self.error = error
            if self._on_trip is not None:
                self._on_trip(error)


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """How long one render may take and how much text it may make. From max_chars follow:
    the output, any one value (a string or list made by an operator, filter or call), the
    text built along the way (WORK_FACTOR x), and the loop iterations plus block outputs."""

    timeout_s: float = 5.0
    max_chars: int = 1_000_000
    trip: RenderTrip | None = field(default=None, compare=False)
    timeout_note: str = ""  # why this deadline, when it is not the setting's own


DEFAULT_LIMITS = RenderLimits()
_LIMITS: ContextVar[RenderLimits] = ContextVar("promptyard_render_limits", default=DEFAULT_LIMITS)
# The test a render is for, when its caller does not say (a grader rendering an assertion
# value): named by limit errors.
_TEST: ContextVar[str | None] = ContextVar("promptyard_render_test", default=None)


@contextmanager
def using_limits(limits: RenderLimits) -> Iterator[None]:
    """Renders in this context (and the tasks and threads started from it) use `limits`."""
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


@contextmanager
def naming_test(label: str | None) -> Iterator[None]:
    """Limit errors of renders in this context that name no test name this one."""
    token = _TEST.set(label)
    try:
        yield
    finally:
        _TEST.reset(token)


class RenderLimitError(TemplateError):
    """A render ran past its deadline or made too much text; `limit` names the setting."""

    def __init__(self, message: str, *, limit: str, **where: Any) -> None:
        self.limit = limit
        super().__init__(message, **where)


class _Stop(Exception):
    """Raised inside a render by a limit; render_string turns it into a RenderLimitError."""

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.message = message
        self.setting = setting


class _Render:
    """One render's budget: its deadline and what it has used."""

    __slots__ = ("deadline", "limits", "max_bits", "max_steps", "max_work", "steps", "work")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.timeout_s
        self.max_work = WORK_FACTOR * limits.max_chars
        self.max_steps = limits.max_chars
        self.max_bits = 4 * limits.max_chars  # integers: ~1.2 million digits by default
        self.work = 0
        self.steps = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            note = self.limits.timeout_note
            raise _Stop(
                f"rendering took longer than {self.limits.timeout_s:g} s{note}", TIMEOUT_SETTING
            )

    def size(self, n: int, what: str) -> None:
        if n > self.limits.max_chars:
            raise _Stop(
                f"{what} would make {n} characters or items, over the limit of"
                f" {self.limits.max_chars}",
                CHARS_SETTING,
            )

    def produced(self, n: int, what: str) -> None:
        self.size(n, what)
        self.work += n
        if self.work > self.max_work:
            raise _Stop(
                f"the template built more than {self.max_work} characters of text while"
                f" rendering ({WORK_FACTOR} x the limit of {self.limits.max_chars})",
                CHARS_SETTING,
            )

    def number(self, bits: int, what: str) -> None:
        if bits > self.max_bits:
            raise _Stop(
                f"{what} would make a number of more than {self.max_bits} bits (4 x the limit"
                f" of {self.limits.max_chars})",
                CHARS_SETTING,
            )

    def step(self, n: int) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise _Stop(
                f"the template ran more than {self.max_steps} loop iterations and block outputs",
                CHARS_SETTING,
            )
        self.tick()


_RENDER: ContextVar[_Render | None] = ContextVar("promptyard_render", default=None)


def _current() -> _Render:
    """The render under way; outside one (Jinja folds constant expressions while it
    compiles) a fresh budget with the context's limits."""
    return _RENDER.get() or _Render(_LIMITS.get())


def _need(n: int, what: str) -> None:
    _current().size(n, what)


# ---------------------------------------------------------------- JavaScript-style printing


def js_number(value: float) -> str:
    """A float the way JavaScript's String(number) prints it (shortest round-trip digits)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign = "-" if value < 0 else ""
    _, digit_tuple, exp = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exp, int)
    k = len(digits)
    n = exp + len("".join(map(str, digit_tuple)))  # position of the decimal point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def js_str(value: Any) -> str:
    """String(value) in JavaScript: how Nunjucks prints `{{ value }}`."""
    if isinstance(value, str):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, jinja2.Undefined):
        return str(value)  # StrictUndefined raises here, naming the variable
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, (list, tuple)):
        return ",".join("" if v is None else js_str(v) for v in value)
    if callable(value) and not isinstance(value, Mapping):
        return "[function]"  # never leak a repr with addresses or qualified names
    return "[object Object]"


def _finalize(value: Any) -> Any:
    # Fast path first: most printed values are strings.
    if type(value) is str:
        return value
    return js_str(value)


# ---------------------------------------------------------------- JSON.stringify


def _json_dump(value: Any, indent: str, level: int) -> str | None:
    """JSON.stringify(value, null, indent); None means `undefined` (omitted)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "null" if math.isnan(value) or math.isinf(value) else js_number(value)
    if isinstance(value, jinja2.Undefined) or (callable(value) and not isinstance(value, Mapping)):
        return None
    inner = "\n" + indent * (level + 1) if indent else ""
    outer = "\n" + indent * level if indent else ""
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [_json_dump(v, indent, level + 1) or "null" for v in value]
        return "[" + inner + ("," + inner).join(items) + outer + "]"
    if isinstance(value, Mapping):
        sep = ": " if indent else ":"
        parts = []
        for k, v in value.items():
            dumped = _json_dump(v, indent, level + 1)
            if dumped is not None:
                parts.append(json.dumps(js_str(k), ensure_ascii=False) + sep + dumped)
        if not parts:
            return "{}"
        return "{" + inner + ("," + inner).join(parts) + outer + "}"
    return json.dumps(js_str(value), ensure_ascii=False)


def _f_dump(value: Any, spaces: Any = None) -> str:
    if isinstance(spaces, bool) or spaces is None:
        indent = ""
    elif isinstance(spaces, (int, float)):
        indent = " " * max(0, min(10, int(spaces)))
    else:
        indent = str(spaces)[:10]
    return _json_dump(value, indent, 0) or ""


def json_stringify(value: Any, spaces: Any = None) -> str:
    """JavaScript's JSON.stringify(value, null, spaces): no spaces unless indented, 1.0 -> 1."""
    return _f_dump(value, spaces)


def _f_load(value: Any) -> Any:
    return json.loads(js_str(value))


# ---------------------------------------------------------------- Nunjucks filters

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


def _f_safe(value: Any) -> str:
    return _normalize(value)


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


def _replaced_len(value: str, old: str, new: str, count: int) -> int:
    """The length of value.replace(old, new, count), without making it."""
    found = len(value) + 1 if old == "" else value.count(old)
    if count >= 0:
        found = min(found, count)
    return len(value) + found * (len(new) - len(old))


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


def _f_string(value: Any) -> str:
    return js_str(value)


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
    "dump": _f_dump,
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
    "safe": _f_safe,
    "string": _f_string,
    "striptags": _f_striptags,
    "title": _f_title,
    "trim": _f_trim,
    "truncate": _f_truncate,
    "upper": _f_upper,
    "urlencode": _f_urlencode,
    "wordcount": _f_wordcount,
    "_nj_pairs": _f_pairs,
}


# ---------------------------------------------------------------- JavaScript members


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


_SEQUENCES = (str, list, tuple)
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_PERCENT_SPEC_RE = re.compile(r"%(?:\([^)]*\))?([-#0 +]*)(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS_RE = re.compile(r"\d+")


def _check_widths(r: _Render, specs: Iterable[str], what: str) -> None:
    """Format specs whose width or precision would make a string over the limit."""
    for spec in specs:
        if "*" in spec or "{" in spec:
            raise _Stop(f"{what}: a width or precision taken from the arguments", CHARS_SETTING)
        for digits in _DIGITS_RE.findall(spec):
            if len(digits) > 12 or int(digits) > r.limits.max_chars:
                r.size(int(digits[:13]), what)


def _percent_specs(fmt: str) -> list[str]:
    return [m.group(0) for m in _PERCENT_SPEC_RE.finditer(fmt) if m.group(2) or m.group(3)]


def _brace_specs(fmt: str) -> list[str]:
    try:
        return [spec for _, _, spec, _ in string.Formatter().parse(fmt) if spec]
    except ValueError:
        return []  # a malformed format string fails when it is applied


def _check_str_method(r: _Render, owner: str, method: Any, args: tuple[Any, ...]) -> None:
    """Methods of str whose result can be far larger than their inputs."""
    name = getattr(method, "__name__", "")
    if name in _WIDTH_METHODS:
        for arg in args:
            if isinstance(arg, int):
                r.size(arg, f"str.{name}")
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
        if isinstance(old, str) and isinstance(new, str):
            r.size(_replaced_len(owner, old, new, count), "str.replace")
    elif name == "join" and args and isinstance(args[0], list | tuple):
        items = args[0]
        total = sum(len(x) for x in items if isinstance(x, str))
        r.size(total + len(owner) * max(0, len(items) - 1), "str.join")


class _Timed:
    """A long iterable whose loop checks the deadline as it goes."""

    __slots__ = ("_items", "_render")

    def __init__(self, items: Collection[Any], render: _Render) -> None:
        self._items = items
        self._render = render

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        tick = self._render.tick
        for i, item in enumerate(self._items):
            if not i & 1023:
                tick()
            yield item


def _counted(items: Iterable[Any], render: _Render) -> Iterator[Any]:
    for item in items:
        render.step(1)
        yield item


def _f_loop(value: Any) -> Any:
    """Wraps every `{% for %}` iterable (_PromptEnvironment._generate): a loop counts its
    iterations and watches the deadline."""
    r = _current()
    try:
        n = len(value)
    except TypeError:
        if isinstance(value, jinja2.Undefined):
            raise
        return _counted(value, r)
    r.step(n)
    return _Timed(value, r) if n > 1024 else value


def _guarded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that watches the deadline and the size of what it makes. For filters whose
    numeric arguments size their result, numbers over the limit are refused first."""
    sizing = name in ("center", "indent", "batch", "slice", "wordwrap")
    first = 2 if getattr(fn, "jinja_pass_arg", None) is not None else 1

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        r = _current()
        r.tick()
        if sizing:
            for arg in (*args[first:], *kwargs.values()):
                if isinstance(arg, int):
                    r.size(arg, f"the filter {name}")
        result = fn(*args, **kwargs)
        if isinstance(result, _SEQUENCES):
            r.produced(len(result), f"the filter {name}")
        return result

    return guarded


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


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator with two hooks: `~` joins through the environment (which
    measures it), and each output into a block buffer (macros, `{% set %}` blocks,
    `{% call %}`) counts as a step. (Loops are wrapped in the tree: _PromptEnvironment.)"""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.py_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        super().visit_Output(node, frame)
        if frame.buffer is not None and not (frame.require_output_check and self.has_known_extends):
            self.writeline(f"environment.py_step({len(node.nodes)})")


class _PromptEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A mapping's key wins over its methods, as in Nunjucks: `obj.items` is the key
        # "items", not dict.items (which stays reachable when there is no such key).
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        # Nunjucks templates call JavaScript members: `items.length`, `name.toUpperCase()`.
        elif isinstance(obj, str):
            if attribute == "length":
                return len(obj)
            member = _STR_MEMBERS.get(attribute)
            if member is not None:
                return member(obj)
        elif isinstance(obj, (list, tuple)):
            if attribute == "length":
                return len(obj)
            member = _LIST_MEMBERS.get(attribute)
            if member is not None:
                return member(obj)
        return super().getattr(obj, attribute)

    # -- limits (see _Render) ------------------------------------------------------------

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None,
        defer_init: bool = False,
    ) -> str:  # fmt: skip
        # Every `{% for %}` iterable goes through `_py_loop`, which counts and times the loop.
        for loop in source.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_py_loop", [], [], None, None,
                                     lineno=loop.iter.lineno)  # fmt: skip
        return super()._generate(source, name, filename, defer_init)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        r = _current()
        r.tick()
        if operator == "*":
            if isinstance(right, int) and isinstance(left, _SEQUENCES):
                r.size(len(left) * right, "'*'")
            elif isinstance(left, int) and isinstance(right, _SEQUENCES):
                r.size(len(right) * left, "'*'")
            elif isinstance(left, int) and isinstance(right, int):
                r.number(left.bit_length() + right.bit_length(), "'*'")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                r.number(min(right, r.max_bits + 1) * (abs(left).bit_length() - 1), "'**'")
        elif operator == "+":
            if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
                r.size(len(left) + len(right), "'+'")
        elif operator == "%" and isinstance(left, str):
            _check_widths(r, _percent_specs(left), "'%'")
        result = self.binop_table[operator](left, right)
        if isinstance(result, _SEQUENCES):
            r.produced(len(result), f"'{operator}'")
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        r = _current()
        r.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(r, owner, __obj, args)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, _SEQUENCES):
            r.produced(len(result), "a call")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_widths(_current(), _brace_specs(fmt), "str.format")
            return wrapped(*args, **kwargs)

        return functools.update_wrapper(checked, wrapped)

    def concat(self, parts: Iterable[str]) -> str:
        """Joins a block's buffer (a macro, `{% set %}` block, `{% call %}`): measured first."""
        items = parts if isinstance(parts, list) else list(parts)
        _current().produced(sum(map(len, items)), "a block")
        return "".join(items)

    def py_join(self, items: tuple[Any, ...]) -> str:
        """The `~` operator: str() of each item, joined, measured first."""
        parts = [str(x) for x in items]
        _current().produced(sum(map(len, parts)), "'~'")
        return "".join(parts)

    def py_step(self, n: int) -> None:
        _current().step(n)


def _make_environment() -> _PromptEnvironment:
    env = _PromptEnvironment(
        undefined=_Undefined,
        autoescape=False,
        keep_trailing_newline=True,  # Nunjucks keeps the template's last newline
        finalize=_finalize,
        auto_reload=False,
        cache_size=0,  # we cache compiled templates ourselves, keyed on the text
    )
    for name in ("select", "reject", "selectattr", "rejectattr", "slice", "map", "unique"):
        env.filters[name] = _listing(env.filters[name])
    env.filters.update(_NUNJUCKS_FILTERS)
    env.filters.update(format=_f_format, tojson=_f_tojson, wordwrap=_f_wordwrap)
    for name, fn in list(env.filters.items()):
        env.filters[name] = _guarded_filter(name, fn)
    env.filters["_py_loop"] = _f_loop
    env.globals.pop("lipsum", None)
    env.globals["env"] = {}  # promptfoo's `env` global; callers may pass their own in vars
    return env


_ENV = _make_environment()


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


# ---------------------------------------------------------------- compile, render


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(template: str) -> jinja2.Template:
    return _ENV.from_string(_nunjucks_to_jinja(template))


class TemplateFilters:
    """A config's own filters (promptfoo's `nunjucksFilters`), given by the composition root:
    an environment of their own (the built-in filters plus these, which may replace one) with
    its own compiled-template cache. Renders use it inside `using_filters`; configs without
    custom filters never touch it. A filter is any callable (value, *args) -> value; it runs
    on the rendering thread, under the render's deadline like the built-in filters."""

    def __init__(self, filters: Mapping[str, Callable[..., Any]]) -> None:
        for name in filters:
            if not isinstance(name, str) or not name.isidentifier():
                raise TemplateError(f"a template filter's name must be an identifier: {name!r}")
        self.names = frozenset(filters)
        env = _make_environment()
        for name, fn in filters.items():
            env.filters[name] = _guarded_filter(name, fn)
        self._env = env
        self.compile = functools.lru_cache(maxsize=_CACHE_SIZE)(self._compile)
        self.variables = functools.lru_cache(maxsize=_CACHE_SIZE)(self._variables)

    def _compile(self, template: str) -> jinja2.Template:
        return self._env.from_string(_nunjucks_to_jinja(template))

    def _variables(self, template: str) -> frozenset[str]:
        return _variables_in(self._env, template)


_FILTERS: ContextVar[TemplateFilters | None] = ContextVar("promptyard_filters", default=None)


def _not_loaded(*_args: Any, **_kwargs: Any) -> Any:
    raise TemplateError("this custom filter is declared for checking only; it was not loaded")


def declared_filters(spec: Any) -> TemplateFilters | None:
    """Stand-ins for the filters a config's `nunjucksFilters` mapping names (None for none),
    for checking its templates' syntax at load under `using_filters` before any filter file
    is read: a render with them fails. Names that are not identifiers are left out (the
    composition root's loading of the files refuses them)."""
    if not isinstance(spec, Mapping) or not spec:
        return None
    names = [n for n in spec if isinstance(n, str) and n.isidentifier()]
    return TemplateFilters(dict.fromkeys(names, _not_loaded)) if names else None


@contextmanager
def using_filters(filters: TemplateFilters | None) -> Iterator[None]:
    """Renders in this context (and the tasks and threads started from it) may call the
    config's own filters; None: the built-in filters only."""
    token = _FILTERS.set(filters)
    try:
        yield
    finally:
        _FILTERS.reset(token)


def _compiled(template: str, source: str | None, test: str | None) -> jinja2.Template:
    filters = _FILTERS.get()
    try:
        return _compile(template) if filters is None else filters.compile(template)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"template syntax error: {exc.message}",
            test=test,
            file=source or _TEMPLATE_FILE,
            line=exc.lineno,
        ) from None


_UNDEFINED_RE = re.compile(r"^'(?P<name>.+)' is undefined$")
_NO_ATTR_RE = re.compile(r"has no (?:attribute|element) '?(?P<name>.+?)'?$")


def _template_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_error(exc: Exception, source: str | None, test: str | None) -> TemplateError:
    file = source or _TEMPLATE_FILE
    line = _template_line(exc)
    if isinstance(exc, SecurityError):
        return TemplateError(
            f"blocked by the template sandbox: {exc}", test=test, file=file, line=line
        )
    if isinstance(exc, jinja2.UndefinedError):
        text = str(exc)
        if "unsafe" in text:  # the sandbox hands back an Undefined for blocked attributes
            return TemplateError(
                f"blocked by the template sandbox: {text}", test=test, file=file, line=line
            )
        plain = _UNDEFINED_RE.match(text)
        if plain:
            name = plain.group("name")
            return TemplateError(
                f"undefined variable '{name}'", variable=name, test=test, file=file, line=line
            )
        attr = _NO_ATTR_RE.search(text)
        name = attr.group("name") if attr else None
        return TemplateError(
            f"undefined value: {text}", variable=name, test=test, file=file, line=line
        )
    return TemplateError(
        f"template failed: {type(exc).__name__}: {exc}", test=test, file=file, line=line
    )


def render_string(
    template: str,
    vars: dict[str, Any],
    *,
    test: str | None = None,
    source: str | None = None,
) -> str:
    """Render `template` with `vars`. Raises TemplateError naming the variable, test and source;
    RenderLimitError (a TemplateError) when the render passes a limit of `using_limits`.

    `source` names where the template came from (a file, or "promptyard.yaml: prompts[0]");
    `test` labels the test case being rendered.
    """
    if "{" not in template:
        return template  # no tags: nothing to do, and the common case for assertion values
    compiled = _compiled(template, source, test)
    limits = _LIMITS.get()
    trip = limits.trip
    if trip is not None and trip.error is not None:
        raise RenderLimitError(
            "template not rendered: an earlier render passed a limit",
            limit=trip.error.limit,
            test=test or _TEST.get(),
            file=source or _TEMPLATE_FILE,
        )
    render = _Render(limits)
    token = _RENDER.set(render)
    try:
        return _stream(compiled, vars, render)
    except _Stop as stop:
        error = RenderLimitError(
            f"template stopped: {stop.message} (limit: {stop.setting})",
            limit=stop.setting,
            test=test or _TEST.get(),
            file=source or _TEMPLATE_FILE,
            line=_template_line(stop),
        )
        if trip is not None:
            trip.trip(error)
        raise error from None
    except TemplateError:
        raise
    except Exception as exc:
        raise _render_error(exc, source, test) from None
    finally:
        _RENDER.reset(token)


def _stream(compiled: jinja2.Template, vars: dict[str, Any], render: _Render) -> str:
    """Template.render, chunk by chunk: the output is counted and the deadline checked as it
    grows, so a runaway loop stops at the limit instead of after it has filled memory."""
    limit = render.limits.max_chars
    parts: list[str] = []
    size = 0
    try:
        for chunk in compiled.root_render_func(compiled.new_context(vars)):
            size += len(chunk)
            if size > limit:
                raise _Stop(f"the rendered text is longer than {limit} characters", CHARS_SETTING)
            render.tick()
            parts.append(chunk)
    except Exception:
        compiled.environment.handle_exception()  # re-raises with the template's line numbers
    return "".join(parts)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _variables(template: str) -> frozenset[str]:
    return _variables_in(_ENV, template)


def _variables_in(env: jinja2.Environment, template: str) -> frozenset[str]:
    ast = env.parse(_nunjucks_to_jinja(template))
    names = set(meta.find_undeclared_variables(ast))
    # Globals are always defined, but a template may still read one as a variable.
    names.difference_update(name for name in _ENV.globals if name != "env")
    names.discard("env")
    return frozenset(names)


def template_variables(template: str, *, source: str | None = None) -> set[str]:
    """The top-level variables a template reads (for validation). Raises on syntax errors."""
    if "{" not in template:
        return set()
    filters = _FILTERS.get()
    try:
        if filters is None:
            return set(_variables(template))
        return set(filters.variables(template))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"template syntax error: {exc.message}", file=source or _TEMPLATE_FILE, line=exc.lineno
        ) from None


def check_syntax(template: str, *, source: str | None = None) -> None:
    """Compile `template` (and cache it); raise TemplateError naming source and line if bad."""
    if "{" in template:
        _compiled(template, source, None)
