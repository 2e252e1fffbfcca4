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

This module compiles and renders; the parts live beside it: template_limits (the limits and
their guards), template_js (JavaScript printing, JSON.stringify), template_builtins (the
built-in filters), template_compat (Nunjucks' undefined, JS members, syntax shims),
template_env (the sandboxed environment) and template_filters (a config's own filters).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from promptyard.core.template_compat import _nunjucks_to_jinja
from promptyard.core.template_env import _CACHE_SIZE, _ENV, _variables_in
from promptyard.core.template_filters import (
    _FILTERS,
    TemplateFilters,
    declared_filters,
    using_filters,
)
from promptyard.core.template_js import js_number
from promptyard.core.template_limits import (
    _LIMITS,
    _RENDER,
    _TEST,
    CHARS_SETTING,
    RenderLimitError,
    RenderLimits,
    RenderTrip,
    _Render,
    _Stop,
    naming_test,
    using_limits,
)
from promptyard.errors import TemplateError

__all__ = [
    "RenderLimitError",
    "RenderLimits",
    "RenderTrip",
    "TemplateFilters",
    "check_syntax",
    "declared_filters",
    "js_number",
    "naming_test",
    "render_string",
    "template_variables",
    "using_filters",
    "using_limits",
]

_TEMPLATE_FILE = "<template>"


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(template: str) -> jinja2.Template:
    return _ENV.from_string(_nunjucks_to_jinja(template))


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
