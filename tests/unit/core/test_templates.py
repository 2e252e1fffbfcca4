"""The sandboxed template engine: Nunjucks-compatible output, errors that say where, sandbox.

Expected strings are what Nunjucks (autoescape off, as promptfoo configures it) prints, taken
from its documented filter behaviour and JavaScript's String()/JSON.stringify rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from promptyard.core import templates
from promptyard.core.templates import js_number, render_string, template_variables
from promptyard.errors import ConfigError, TemplateError


def r(template: str, **vars: Any) -> str:
    return render_string(template, vars)


# ------------------------------------------------------------ printing values like JavaScript


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        (True, "true"),
        (False, "false"),
        (None, ""),
        (3, "3"),
        (3.0, "3"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123.456, "123.456"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (1.5e300, "1.5e+300"),
        ([1, "a", None, [2, 3]], "1,a,,2,3"),
        ([], ""),
        ({"a": 1}, "[object Object]"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_values_print_as_javascript_would(value: Any, expected: str) -> None:
    assert r("{{ v }}", v=value) == expected


def test_js_number_matches_javascript_string_conversion() -> None:
    assert js_number(100.0) == "100"
    assert js_number(1e20) == "100000000000000000000"
    assert js_number(2.5e-6) == "0.0000025"
    assert js_number(2.5e-7) == "2.5e-7"


def test_trailing_newline_of_the_template_is_kept() -> None:
    assert r("Hi {{ n }}\n", n="Bo") == "Hi Bo\n"
    assert r("no tags\n") == "no tags\n"


def test_autoescape_is_off() -> None:
    assert r("{{ x }}", x="<b>&'\"") == "<b>&'\""


# ------------------------------------------------------------ Nunjucks filters


@pytest.mark.parametrize(
    ("template", "vars", "expected"),
    [
        (
            "{{ d | dump }}",
            {"d": {"a": 1, "b": [1, 2.0, None], "c": 'x"y'}},
            '{"a":1,"b":[1,2,null],"c":"x\\"y"}',
        ),
        (
            "{{ d | dump(2) }}",
            {"d": {"a": 1, "b": [1, 2]}},
            '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}',
        ),
        ("{{ d | dump }}", {"d": "é\n"}, '"é\\n"'),
        ("{{ d | dump(2) }}", {"d": []}, "[]"),
        ("{{ x | safe }}", {"x": "<b>"}, "<b>"),
        ("{{ x | safe }}", {"x": None}, ""),
        ("{{ x | escape }}", {"x": "<a href='x'>&"}, "&lt;a href=&#39;x&#39;&gt;&amp;"),
        ("{{ xs | first }}-{{ xs | last }}", {"xs": [1, 2, 3]}, "1-3"),
        ("{{ 'abc' | first }}{{ 'abc' | last }}", {}, "ac"),
        (
            "{{ xs | length }} {{ 'abcd' | length }} {{ d | length }} {{ n | length }}",
            {"xs": [1, 2, 3], "d": {"a": 1, "b": 2}, "n": None},
            "3 4 2 0",
        ),
        ("{{ xs | join('-') }}", {"xs": [1, None, "a", True]}, "1--a-true"),
        ("{{ xs | join }}", {"xs": ["a", "b"]}, "ab"),
        ("{{ users | join(', ', 'name') }}", {"users": [{"name": "A"}, {"name": "B"}]}, "A, B"),
        ("{{ 'aaa' | replace('a', 'b', 2) }}", {}, "bba"),
        ("{{ 'abc' | replace('', '.') }}", {}, ".a.b.c."),
        ("{{ 'n1' | replace(1, 2) }}", {}, "n2"),
        ("{{ missing | default('x') }}", {}, "x"),
        ("{{ n | default('x') }}", {"n": None}, ""),
        ("{{ e | default('x', true) }}", {"e": ""}, "x"),
        ("{{ e | d('x') }}", {}, "x"),
        ("{{ 'hELLO wORLD' | capitalize }}", {}, "Hello world"),
        ("{{ 'hello-world foo' | title }}", {}, "Hello-world Foo"),
        ("{{ 'ab' | upper }}{{ 'CD' | lower }}", {}, "ABcd"),
        ("[{{ '  a b  ' | trim }}]", {}, "[a b]"),
        ("{{ 'foo bar baz' | truncate(6) }}", {}, "foo..."),
        ("{{ 'foo bar baz' | truncate(6, true) }}", {}, "foo ba..."),
        ("{{ 'foo bar baz' | truncate(6, false, '!') }}", {}, "foo!"),
        ("{{ 'short' | truncate(10) }}", {}, "short"),
        ("{{ 'a b&c/d' | urlencode }}", {}, "a%20b%26c%2Fd"),
        ('{{ "it\'s (ok)!" | urlencode }}', {}, "it's%20(ok)!"),
        ("{{ q | urlencode }}", {"q": {"a": "1 2", "b": "x"}}, "a=1%202&b=x"),
        ("{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(true) }}", {}, "1,2,3 3,2,1"),
        ("{{ ['b', 'A', 'c'] | sort }}", {}, "A,b,c"),
        ("{{ 'abc' | reverse }} {{ [1, 2, 3] | reverse }}", {}, "cba 3,2,1"),
        ("{{ 2.5 | round }} {{ 2.4 | round }} {{ -2.5 | round }}", {}, "3 2 -2"),
        (
            "{{ 3.14159 | round(2) }} {{ 3.7 | round(0, 'floor') }} {{ 3.2 | round(0, 'ceil') }}",
            {},
            "3.14 3 4",
        ),
        (
            "{{ '42abc' | int }} {{ '3.9' | int }} [{{ 'abc' | int }}] {{ 'abc' | int(7) }}",
            {},
            "42 3 [] 7",
        ),
        ("{{ '3.5x' | float }} {{ '2' | float }} {{ 'x' | float(1.5) }}", {}, "3.5 2 1.5"),
        ("{{ ([1, 2] | string) ~ '!' }}", {}, "1,2!"),
        ("{{ true | string }}", {}, "true"),
        (
            "{% for row in [1,2,3,4,5] | batch(2) %}[{{ row | join(',') }}]{% endfor %}",
            {},
            "[1,2][3,4][5]",
        ),
        (
            "{% for row in [1,2,3] | batch(2, 'x') %}[{{ row | join(',') }}]{% endfor %}",
            {},
            "[1,2][3,x]",
        ),
        (
            "{% for row in [1,2,3] | batch(2, 0) %}[{{ row | join(',') }}]{% endfor %}",
            {},
            "[1,2][3]",
        ),
        (
            "{% for k, g in items | groupby('t') %}{{ k }}:{{ g | join(',', 'n') }};{% endfor %}",
            {"items": [{"t": "a", "n": 1}, {"t": "b", "n": 2}, {"t": "a", "n": 3}]},
            "a:1,3;b:2;",
        ),
        ("{{ s | nl2br }}", {"s": "a\nb\r\nc"}, "a<br />\nb<br />\nc"),
        (
            "{{ s | striptags }}",
            {"s": "<p>Hello  <b>World</b></p>\n\n  bye<!-- c -->"},
            "Hello World bye",
        ),
        ("{{ s | striptags(true) }}", {"s": "<p>a</p>\n\n\n\n<p>b   c </p>"}, "a\n\nb c"),
        ("{{ 'Hello, wonderful world!' | wordcount }}", {}, "3"),
        ("[{{ '' | wordcount }}]", {}, "[]"),
        ("{{ s | indent(2) }}", {"s": "a\nb\n\nc"}, "a\n  b\n  \n  c"),
        ("{{ s | indent(2, true) }}", {"s": "a\nb"}, "  a\n  b"),
        ("[{{ 'ab' | center(7) }}]", {}, "[  ab   ]"),
        ("{{ 'abc' | list }}", {}, "a,b,c"),
        ("{{ (s | load).a.b }}", {"s": '{"a": {"b": 5}}'}, "5"),
        ("{{ [1, 2, 3] | select('odd') }}", {}, "1,3"),
        ("{{ [1, 2, 3] | reject('odd') | first }}", {}, "2"),
    ],
)
def test_nunjucks_filters_give_nunjucks_output(
    template: str, vars: dict[str, Any], expected: str
) -> None:
    assert render_string(template, vars) == expected


# ------------------------------------------------------------ Nunjucks syntax and JS members


def test_nunjucks_only_syntax_is_accepted() -> None:
    template = "{% if a === 1 %}one{% elseif a !== 3 %}not three{% else %}three{% endif %}"
    assert r(template, a=1) == "one"
    assert r(template, a=2) == "not three"
    assert r(template, a=3) == "three"


def test_for_key_value_iterates_an_objects_entries() -> None:
    assert r("{% for k, v in d %}{{ k }}={{ v }};{% endfor %}", d={"a": 1, "b": 2}) == "a=1;b=2;"
    pairs = [["x", 1], ["y", 2]]
    assert r("{% for k, v in p %}{{ k }}{{ v }}{% endfor %}", p=pairs) == "x1y2"


def test_raw_blocks_are_not_rewritten() -> None:
    assert r("{% raw %}{% elseif %} ==={% endraw %}") == "{% elseif %} ==="


def test_javascript_members_work_on_strings_and_lists() -> None:
    out = r(
        "{{ s.length }} {{ xs.length }} {{ s.toUpperCase() }} {{ xs.join('-') }} "
        "{{ s.includes('b') }} {{ s.indexOf('c') }} {{ xs.includes(9) }}",
        s="abc",
        xs=[1, 2],
    )
    assert out == "3 2 ABC 1-2 true 2 false"


def test_python_string_methods_still_work() -> None:
    assert r("{{ s.upper() }} {{ s.split(',') | join('|') }}", s="a,b") == "A,B a|b"


def test_env_global_is_empty_unless_the_caller_passes_env() -> None:
    with pytest.raises(TemplateError) as err:
        r("{{ env.API_KEY }}")
    assert err.value.variable == "API_KEY"
    assert r("{{ env.MODE }}", env={"MODE": "x"}) == "x"


# ------------------------------------------------------------ undefined variables and errors


def test_undefined_variable_names_variable_test_and_source() -> None:
    with pytest.raises(TemplateError) as err:
        render_string("Hello\n{{ name }}!", {}, test="greets Bob", source="prompts/hello.txt")
    exc = err.value
    assert isinstance(exc, ConfigError)
    assert exc.variable == "name"
    assert exc.test == "greets Bob"
    assert exc.line == 2
    message = str(exc)
    assert "'name'" in message
    assert "greets Bob" in message
    assert "prompts/hello.txt:2" in message


def test_undefined_in_an_unrendered_branch_is_fine() -> None:
    assert r("{% if false %}{{ missing }}{% endif %}ok") == "ok"
    assert r("{% if flag %}{{ missing }}{% else %}no{% endif %}", flag=False) == "no"


def test_undefined_is_falsy_in_conditions_as_in_nunjucks() -> None:
    assert r("{% if optional %}has{% else %}none{% endif %}") == "none"
    assert r("{% if optional is defined %}has{% endif %}.") == "."


def test_undefined_in_a_rendered_branch_raises() -> None:
    with pytest.raises(TemplateError) as err:
        r("{% if flag %}{{ missing }}{% endif %}", flag=True)
    assert err.value.variable == "missing"


def test_missing_attribute_names_the_attribute() -> None:
    with pytest.raises(TemplateError) as err:
        render_string("{{ user.age }}", {"user": {"name": "A"}}, test="t1")
    assert err.value.variable == "age"
    assert "age" in str(err.value)
    assert "t1" in str(err.value)


def test_syntax_error_names_source_and_line() -> None:
    with pytest.raises(TemplateError) as err:
        render_string("line one\n{{ foo( }}", {}, source="p.txt")
    assert err.value.line == 2
    assert str(err.value).startswith("p.txt:2: template syntax error")


def test_syntax_error_without_source_still_says_template_and_line() -> None:
    with pytest.raises(TemplateError) as err:
        render_string("a\nb\n{% if x %}", {"x": 1})
    assert "<template>:3" in str(err.value)


def test_runtime_errors_become_template_errors() -> None:
    with pytest.raises(TemplateError) as err:
        render_string("{{ 1 / n }}", {"n": 0}, source="s.txt")
    assert "ZeroDivisionError" in str(err.value)
    with pytest.raises(TemplateError, match="JSONDecodeError"):
        r("{{ s | load }}", s="not json")


# ------------------------------------------------------------ sandbox


class _Secretive:
    _private = "secret"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ xs.append(4) }}",
        "{{ d.update({'a': 1}) }}",
        "{{ d.pop('k') }}",
        "{{ obj._private }}",
        "{{ (xs | first).__class__ }}",
    ],
)
def test_sandbox_blocks_escapes_with_a_clear_error(template: str) -> None:
    with pytest.raises(TemplateError) as err:
        render_string(template, {"xs": [1], "d": {"k": 1}, "obj": _Secretive()}, source="p")
    message = str(err.value)
    assert "sandbox" in message or "unsafe" in message or "undefined" in message
    assert message.startswith("p")


def test_private_keys_of_a_mapping_are_data_not_attributes() -> None:
    assert r("{{ d._id }}", d={"_id": 7}) == "7"


def test_callables_do_not_print_their_repr() -> None:
    out = r("{{ range }}|{{ cycler }}")
    assert "0x" not in out
    assert "<" not in out


# ------------------------------------------------------------ caching and variables


def test_compiled_templates_are_cached_by_text() -> None:
    template = "cache probe {{ n }} 3f9c1d"
    before = templates._compile.cache_info()
    for n in range(50):
        assert r(template, n=n) == f"cache probe {n} 3f9c1d"
    after = templates._compile.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 49


def test_template_variables_lists_top_level_reads() -> None:
    template = (
        "{{ a }}{% for x in xs %}{{ x.y }}{% endfor %}{{ b | default('') }}{% set c = 1 %}{{ c }}"
    )
    assert template_variables(template) == {"a", "xs", "b"}
    assert template_variables("plain text") == set()
    assert template_variables("{{ env.X }} {{ range(3) }}") == set()


def test_template_variables_reports_syntax_errors() -> None:
    with pytest.raises(TemplateError, match=r"q\.txt:1"):
        template_variables("{{ x ", source="q.txt")
