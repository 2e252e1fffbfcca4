"""Render limits for sandboxed templates (see core/templates.py): the numbers (RenderLimits),
one render's budget (deadline, size and work counters, loop steps), RenderLimitError, and the
guards the environment and filters call to measure what an operator, call, filter or loop
would make before it makes it. Pure (L0).
"""

from __future__ import annotations

import functools
import re
import string
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import jinja2

from promptyard.errors import TemplateError

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


def _replaced_len(value: str, old: str, new: str, count: int) -> int:
    """The length of value.replace(old, new, count), without making it."""
    found = len(value) + 1 if old == "" else value.count(old)
    if count >= 0:
        found = min(found, count)
    return len(value) + found * (len(new) - len(old))
