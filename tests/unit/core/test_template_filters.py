"""A config's own template filters (promptfoo's nunjucksFilters) in core/templates.py: used
inside `using_filters`, from threads started there, and nowhere else."""

from __future__ import annotations

import threading

import pytest

from promptyard.core.templates import (
    TemplateFilters,
    check_syntax,
    render_string,
    using_filters,
)
from promptyard.errors import TemplateError

SHOUT = TemplateFilters({"shout": lambda v, n=1: str(v).upper() + "!" * int(n)})


def test_filters_render_inside_their_context_only() -> None:
    with using_filters(SHOUT):
        assert render_string("{{ x | shout }}", {"x": "hi"}) == "HI!"
        assert render_string("{{ x | shout(3) | lower }}", {"x": "hi"}) == "hi!!!"
        check_syntax("{{ x | shout }}")
    with pytest.raises(TemplateError, match="shout"):
        render_string("{{ x | shout }}", {"x": "hi"})


def test_threads_started_in_the_context_see_the_filters() -> None:
    import contextvars

    out: list[str] = []
    with using_filters(SHOUT):
        ctx = contextvars.copy_context()  # what asyncio.to_thread does
    thread = threading.Thread(
        target=lambda: out.append(ctx.run(render_string, "{{ 'a' | shout }}", {}))
    )
    thread.start()
    thread.join()
    assert out == ["A!"]


def test_a_custom_filter_may_replace_a_builtin_one() -> None:
    with using_filters(TemplateFilters({"upper": lambda v: f"<{v}>"})):
        assert render_string("{{ 'a' | upper }}", {}) == "<a>"
    assert render_string("{{ 'a' | upper }}", {}) == "A"


def test_filter_names_must_be_identifiers() -> None:
    with pytest.raises(TemplateError, match="identifier"):
        TemplateFilters({"no good": str})


def test_declared_filters_check_syntax_without_loading_anything() -> None:
    from promptyard.core.templates import declared_filters

    assert declared_filters(None) is None and declared_filters({}) is None
    declared = declared_filters({"allcaps": "./allcaps.js"})
    with pytest.raises(TemplateError, match="allcaps"):
        check_syntax("{{ body | allcaps }}")  # unknown without the declaration
    with using_filters(declared):
        check_syntax("{{ body | allcaps }}")
        with pytest.raises(TemplateError, match="not loaded"):
            render_string("{{ body | allcaps }}", {"body": "x"})


def test_template_variables_know_the_filters() -> None:
    from promptyard.core.templates import template_variables

    with using_filters(SHOUT):
        assert template_variables("{{ body | shout(n) }}") == {"body", "n"}
