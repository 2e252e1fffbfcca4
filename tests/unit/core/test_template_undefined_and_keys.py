"""Nunjucks semantics a promptfoo prompt relies on: a mapping's key wins over its methods, and
an undefined variable only asked about (conditions, tests, `default`) is undefined, not an
error. Printing an undefined variable stays an error (our typo check)."""

from __future__ import annotations

from typing import Any

import pytest

from promptyard.core.prompts import missing_variables, render_prompt
from promptyard.core.templates import render_string
from promptyard.core.types import PromptTemplate, TestCase
from promptyard.errors import TemplateError


def r(template: str, **variables: Any) -> str:
    return render_string(template, variables)


# ------------------------------------------------------------ a key wins over a method


@pytest.mark.parametrize("key", ["items", "keys", "values", "get", "pop", "copy", "update"])
def test_a_mapping_key_named_like_a_dict_method_reads_the_key(key: str) -> None:
    assert r(f'{{{{ obj.{key} | join(", ") }}}}', obj={key: ["a", "b"]}) == "a, b"


def test_dict_methods_still_work_when_there_is_no_such_key() -> None:
    assert r("{% for k, v in obj.items() %}{{ k }}={{ v }};{% endfor %}", obj={"a": 1}) == "a=1;"
    assert r("{{ obj.keys() | join(',') }}", obj={"a": 1, "b": 2}) == "a,b"


def test_nested_keys_named_like_methods() -> None:
    doc = {"order": {"items": [{"name": "tea"}, {"name": "milk"}]}}
    template = "{% for i in doc.order.items %}{{ i.name }} {% endfor %}{{ doc.order.items.length }}"
    assert r(template, doc=doc) == "tea milk 2"


def test_mutating_methods_stay_blocked_without_a_key() -> None:
    with pytest.raises(TemplateError, match=r"sandbox|unsafe"):
        r("{{ d.pop('k') }}", d={"k": 1})


# ------------------------------------------------------------ undefined in conditions


def test_an_undefined_variable_compared_in_a_condition_is_false() -> None:
    template = '{% if mode == "upper" %}{{ text | upper }}{% else %}{{ text }}{% endif %}'
    assert r(template, text="Hi") == "Hi"
    assert r(template, text="Hi", mode="upper") == "HI"
    assert r('{% if mode === "upper" %}U{% elseif mode !== "x" %}N{% endif %}') == "N"
    assert r('{% if mode != "upper" %}yes{% endif %}') == "yes"


def test_undefined_equals_only_undefined_and_null_as_in_javascript() -> None:
    assert r("{% if a == b %}eq{% endif %}") == "eq"
    assert r("{% if a == none %}eq{% endif %}") == "eq"
    assert r("{% if a == 0 %}eq{% else %}ne{% endif %}") == "ne"
    assert r('{% if a == "" %}eq{% else %}ne{% endif %}') == "ne"


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_undefined_orders_with_nothing(op: str) -> None:
    assert r(f"{{% if count {op} 3 %}}y{{% else %}}n{{% endif %}}") == "n"


def test_members_of_an_undefined_variable_are_undefined() -> None:
    assert r("{% if user.name %}hi{% else %}anon{% endif %}") == "anon"
    assert r("{% if user.profile['tier'] == 'gold' %}g{% else %}-{% endif %}") == "-"
    assert r("{{ user.name | default('guest') }}") == "guest"
    assert r("{{ 'y' if user.name is defined else 'n' }}") == "n"


def test_tests_and_default_on_undefined() -> None:
    assert r("{{ 'y' if mode is defined else 'n' }}{{ 'y' if mode is undefined else 'n' }}") == "ny"
    assert r("{{ mode | default('lower') }}|{{ mode | d('x') }}") == "lower|x"
    assert r("{% if not mode %}none{% endif %}") == "none"
    assert r("{{ mode or 'fallback' }}") == "fallback"
    assert r("{% if mode and mode.x %}x{% else %}-{% endif %}") == "-"


# ------------------------------------------------------------ the typo check stays


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("{{ mode }}", "mode"),
        ("{{ user.name }}", "user"),
        ("{% if x == 1 %}{% endif %}{{ nmae }}", "nmae"),
        ("{% for t in tgas %}{{ t }}{% endfor %}", "tgas"),
        ("{{ count + 1 }}", "count"),
    ],
)
def test_printing_or_using_an_undefined_variable_is_still_an_error(
    template: str, name: str
) -> None:
    with pytest.raises(TemplateError) as err:
        render_string(template, {}, test="case 1")
    assert err.value.variable == name


def test_a_missing_key_printed_still_names_it() -> None:
    with pytest.raises(TemplateError) as err:
        r("{{ user.age }}", user={"name": "A"})
    assert err.value.variable == "age"


# ------------------------------------------------------------ the static pre-check agrees


def test_the_pre_check_lists_a_condition_only_name_and_the_render_then_passes() -> None:
    text = '{% if mode == "upper" %}LOUD {% endif %}{{ text }}'
    prompt = PromptTemplate(id="p", label="p", text=text)
    test = TestCase(vars={"text": "hi"})
    assert missing_variables(prompt, test) == {"mode"}  # a candidate: the engine renders it
    assert render_prompt(prompt, test)[0] == "hi"  # ... and the render finds nothing wrong


def test_the_pre_check_render_fails_for_a_printed_missing_name() -> None:
    prompt = PromptTemplate(id="p", label="p", text="{{ greeting }} {{ text }}")
    test = TestCase(vars={"text": "hi"})
    assert missing_variables(prompt, test) == {"greeting"}
    with pytest.raises(TemplateError) as err:
        render_prompt(prompt, test)
    assert err.value.variable == "greeting"
