"""A template is untrusted: a render stops by itself at its deadline or its size limit, on any
thread, and the error names the test and the setting. Each attack here hung the process or
filled its memory before the limits existed (finding 5)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from promptyard.core.templates import (
    RenderLimitError,
    RenderLimits,
    RenderTrip,
    check_syntax,
    naming_test,
    render_string,
    using_limits,
)
from promptyard.errors import TemplateError

CHARS = "PROMPTYARD_RENDER_MAX_CHARS"
TIMEOUT = "PROMPTYARD_RENDER_TIMEOUT_MS"


def stopped(template: str, vars: dict[str, Any] | None = None, **kw: Any) -> RenderLimitError:
    """Render and expect a RenderLimitError, within a bound far below a hang."""
    t0 = time.monotonic()
    with pytest.raises(RenderLimitError) as info:
        render_string(template, vars or {}, test="case 7", source="promptyard.yaml: prompts[0]")
    assert time.monotonic() - t0 < kw.get("within", 3.0)
    error = info.value
    assert "case 7" in str(error)  # the test is named
    assert error.limit in str(error)  # and so is the setting
    return error


# ------------------------------------------------------------ size


@pytest.mark.parametrize(
    "template",
    [
        '{{ "x" * 300000000 }}',
        '{{ 300000000 * "x" }}',
        "{{ [1] * 300000000 }}",
        '{{ "%1000000000d" % 1 }}',
        '{{ "%*d" % (1000000000, 1) }}',
        '{{ "{:>1000000000}".format(1) }}',
        '{{ "{:>{w}}".format(1, w=1000000000) }}',
        '{{ "x".ljust(1000000000) }}',
        '{{ "x".center(1000000000) }}',
        '{{ "x"|center(10000000000) }}',
        '{{ "a\\nb"|indent(1000000000) }}',
        "{{ [1, 2]|batch(1000000000, 0) }}",
        "{{ [1]|slice(100000000) }}",
        '{{ "%s"|format("x") }}{{ "%*d"|format(1000000000, 1) }}',
        '{{ ("x" * 900000).replace("", "y" * 900000) }}',
        '{{ "ab"|replace("", "x" * 900000) }}',
        '{{ ("x" * 900000)|wordwrap(1, wrapstring="y" * 900000) }}',
        '{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}'
        "{% endfor %}",
        '{% set ns = namespace(s=["x"]) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}'
        "{% endfor %}",
    ],
)
def test_text_over_the_limit_is_refused_before_it_is_made(template: str) -> None:
    error = stopped(template, within=1.0)
    assert error.limit == CHARS


@pytest.mark.parametrize(
    "template",
    [
        "{{ 10 ** (10 ** 10) }}",
        "{{ 2 ** 100000000 }}",
        "{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}",
    ],
)
def test_numbers_too_big_to_compute_are_refused(template: str) -> None:
    assert stopped(template, within=1.0).limit == CHARS


def test_output_is_counted_as_it_streams() -> None:
    template = (
        "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{{ b }}{% endfor %}"
        "{% endfor %}"
    )
    error = stopped(template)
    assert error.limit == CHARS and "rendered text is longer than 1000000" in str(error)


def test_loops_without_output_count_their_iterations() -> None:
    template = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}x"
    assert "loop iterations" in str(stopped(template))


def test_a_macro_buffer_is_bounded_too() -> None:
    # Not streamed: the macro's output collects in a buffer until the macro returns.
    template = (
        "{% macro m() %}{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}"
        "{% endfor %}{% endfor %}{% endmacro %}{{ m() }}"
    )
    assert stopped(template).limit == CHARS


def test_the_limit_is_the_contexts() -> None:
    with using_limits(RenderLimits(max_chars=1000)):
        assert len(render_string("{{ 'x' * n }}", {"n": 1000})) == 1000
        with pytest.raises(RenderLimitError, match="over the limit of 1000"):
            render_string("{{ 'x' * n }}", {"n": 1001})
        with pytest.raises(RenderLimitError, match="longer than 1000"):
            render_string("{{ v }}{{ v }}", {"v": "y" * 600})


# ------------------------------------------------------------ time


EXPONENTIAL = (
    "{% macro f(n) %}{% if n > 0 %}{% set a = f(n - 1) %}{% set b = f(n - 1) %}{% endif %}"
    "{% endmacro %}{{ f(60) }}"
)


def test_a_render_stops_at_its_deadline() -> None:
    with using_limits(RenderLimits(timeout_s=0.2)):
        error = stopped(EXPONENTIAL, within=1.5)
    assert error.limit == TIMEOUT
    assert "longer than 0.2 s" in str(error)
    assert error.line == 1 and error.file == "promptyard.yaml: prompts[0]"


def test_a_render_on_a_thread_stops_by_itself() -> None:
    # A thread cannot be killed: the render itself must end.
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with using_limits(RenderLimits(timeout_s=0.2)):
                render_string(EXPONENTIAL, {})
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout=3)
    assert not thread.is_alive()
    assert isinstance(errors[0], RenderLimitError)


def test_a_long_loop_watches_the_deadline() -> None:
    big = list(range(100_000))
    template = "{% for a in big %}{% for b in big %}{{ '' }}{% endfor %}{% endfor %}"
    with using_limits(RenderLimits(timeout_s=0.2, max_chars=10**9)):
        assert stopped(template, {"big": big}, within=1.5).limit == TIMEOUT


# ------------------------------------------------------------ a run's trip


def test_after_a_trip_every_render_fails_at_once() -> None:
    tripped: list[RenderLimitError] = []
    limits = RenderLimits(max_chars=100, trip=RenderTrip(tripped.append))
    with using_limits(limits):
        with pytest.raises(RenderLimitError):
            render_string("{{ 'x' * 1000 }}", {})
        with pytest.raises(RenderLimitError, match="earlier render"):
            render_string("{{ a }}", {"a": 1})
        with pytest.raises(RenderLimitError):
            render_string("{{ 'x' * 1000 }}", {})
    assert len(tripped) == 1  # called once, with the first error
    assert render_string("{{ a }}", {"a": 1}) == "1"  # outside that run, renders go on


def test_naming_test_names_the_test_of_a_caller_that_does_not() -> None:
    with naming_test("case 9"), pytest.raises(RenderLimitError, match=r"\(test: case 9\)"):
        render_string('{{ "x" * 300000000 }}', {})


# ------------------------------------------------------------ ordinary templates are unchanged


@pytest.mark.parametrize(
    ("template", "vars", "expected"),
    [
        ("{% for i in items %}{{ i }},{% endfor %}", {"items": [1, 2, 3]}, "1,2,3,"),
        ("{% for k, v in obj %}{{ k }}={{ v }};{% endfor %}", {"obj": {"a": 1}}, "a=1;"),
        ("{% for i in range(3) %}{{ loop.index }}/{{ loop.length }} {% endfor %}", {},
         "1/3 2/3 3/3 "),
        ("{% for i in big %}{% endfor %}{{ big|length }}", {"big": list(range(5000))}, "5000"),
        ("{{ a ~ '-' ~ b }}", {"a": 1, "b": "x"}, "1-x"),
        ("{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) }}{{ m('y') }}", {}, "<1><y>"),
        ("{% set s %}a{{ 1 + 1 }}{% endset %}{{ s|upper }}", {}, "A2"),
        ("{{ '%05.1f' % 3.14159 }} {{ '{:>4}'.format(7) }}", {}, "003.1    7"),
        ("{{ 'ab' * 2 }}{{ [1] * 2 }}{{ 2 ** 10 }}", {}, "abab1,11024"),
        ("{{ x|center(7) }}|{{ x|indent(2, true) }}", {"x": "ab"}, "  ab   |  ab"),
        ("{{ x|replace('a', 'bb') }}{{ [1, 2]|join('+') }}", {"x": "aa"}, "bbbb1+2"),
        ("{% for i in items if i > 1 %}{{ i }}{% else %}none{% endfor %}", {"items": [1]},
         "none"),
    ],
)  # fmt: skip
def test_ordinary_templates_render_as_before(
    template: str, vars: dict[str, Any], expected: str
) -> None:
    assert render_string(template, vars) == expected


def test_undefined_loop_variable_still_names_it() -> None:
    with pytest.raises(TemplateError, match="undefined variable 'items'"):
        render_string("{% for i in items %}{{ i }}{% endfor %}", {})


def test_compiling_does_not_run_a_constant_attack() -> None:
    # Jinja folds constant expressions while compiling; the limits apply there too.
    t0 = time.monotonic()
    check_syntax('{{ "x"|center(10000000000) }}{{ ("ab" ~ "c") * 300000000 }}')
    assert time.monotonic() - t0 < 1.0
