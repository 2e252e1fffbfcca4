"""Prompt rendering follows promptfoo's renderPrompt rules."""

from __future__ import annotations

import json

import pytest

from promptyard.core.prompts import missing_variables, prepare_vars, render_prompt
from promptyard.core.types import PromptTemplate, TestCase
from promptyard.errors import TemplateError


def prompt(text: str, messages: list[dict[str, object]] | None = None) -> PromptTemplate:
    return PromptTemplate(id="p", label="p", text=text, messages=messages, source="prompt.txt")


def test_plain_text_becomes_one_user_message() -> None:
    text, messages = render_prompt(prompt("Hi {{ name }}!"), TestCase(vars={"name": "Zoë"}))
    assert text == "Hi Zoë!"
    assert messages == [{"role": "user", "content": "Hi Zoë!"}]


def test_one_trailing_newline_is_removed_from_string_vars() -> None:
    text, _ = render_prompt(prompt("[{{ a }}]"), TestCase(vars={"a": "line\n\n"}))
    assert text == "[line\n]"


def test_var_values_may_reference_other_vars() -> None:
    assert prepare_vars({"a": "x {{ b }}", "b": "y {{c}}", "c": "z"}) == {
        "a": "x y z",
        "b": "y z",
        "c": "z",
    }
    untouched = {"a": "plain"}
    assert prepare_vars(untouched) is untouched  # the common case makes no copy


def test_json_prompt_is_rendered_inside_its_strings() -> None:
    raw = '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{ q }}"}]'
    question = 'He said "hi"\nthen left'
    text, messages = render_prompt(prompt(raw), TestCase(vars={"q": question}))
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": question},
    ]
    assert text == json.dumps(messages, indent=2, ensure_ascii=False)


def test_chat_message_lists_render_each_content() -> None:
    chat = [{"role": "user", "content": "Translate {{ word }}"}]
    text, messages = render_prompt(prompt(json.dumps(chat), chat), TestCase(vars={"word": "ß"}))
    assert messages == [{"role": "user", "content": "Translate ß"}]
    assert json.loads(text) == messages


def test_prefix_and_suffix_wrap_the_template() -> None:
    test = TestCase(vars={"x": "1"}, options={"prefix": "<", "suffix": ">"})
    assert render_prompt(prompt("{{ x }}"), test)[0] == "<1>"


def test_missing_variable_names_variable_and_test() -> None:
    test = TestCase(vars={"nme": "x"}, description="greeting")
    assert missing_variables(prompt("Hi {{ name }}"), test) == {"name"}
    with pytest.raises(TemplateError) as info:
        render_prompt(prompt("Hi {{ name }}"), test)
    assert info.value.variable == "name"
    assert "greeting" in str(info.value)


def test_static_check_sees_variables_inside_json_prompts() -> None:
    raw = '{"messages": [{"role": "user", "content": "{{ q }} {{ r }}"}]}'
    assert missing_variables(prompt(raw), TestCase(vars={"q": 1})) == {"r"}
