"""A promptfoo config runs with its per-test problems recorded as errored tests;
promptyard.yaml keeps failing fast on the same problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.project.conftest import WriteFile

from promptyard.errors import ConfigError
from promptyard.library import EvalRequest, check_tests, load_spec
from promptyard.project.loader import is_promptfoo_config

CONFIG = """
prompts: ["Say {{ topic }}"]
providers: [echo]
tests:
  - description: fine
    vars: {topic: cats}
    assert: [{type: contains, value: cats}]
  - description: unknown type
    vars: {topic: dogs}
    assert: [{type: is-htmlx, value: x}]
  - description: unknown key
    vars: {topic: birds}
    assert: [{type: contains, value: birds, reason: x}]
  - description: rubric without value
    vars: {topic: rubric}
    assert: [{type: llm-rubric}]
"""


def _errors(path: Path, **request: object) -> dict[str | None, str | None]:
    spec = check_tests(load_spec(path, request=EvalRequest(**request)))  # type: ignore[arg-type]
    return {t.description: t.error for t in spec.tests}


def test_a_promptfoo_config_loads_with_per_test_problems_errored(write: WriteFile) -> None:
    errors = _errors(write("promptfooconfig.yaml", CONFIG))
    assert errors["fine"] is None
    assert "unknown assertion type 'is-htmlx'" in str(errors["unknown type"])
    assert 'unknown key "reason"' in str(errors["unknown key"])
    assert "tests[2].assert[0].reason" in str(errors["unknown key"])
    assert "needs a value" in str(errors["rubric without value"])


def test_promptyard_yaml_still_fails_fast(write: WriteFile) -> None:
    path = write("promptyard.yaml", CONFIG)
    with pytest.raises(ConfigError, match='unknown key "reason"'):
        load_spec(path)


def test_the_flag_turns_the_mode_on_or_off_whatever_the_name(write: WriteFile) -> None:
    errors = _errors(write("promptyard.yaml", CONFIG), errored_tests=True)
    assert errors["fine"] is None and errors["unknown key"] is not None
    with pytest.raises(ConfigError, match="unknown key"):
        _errors(write("promptfooconfig.yaml", CONFIG), errored_tests=False)


def test_problems_outside_one_test_still_refuse_the_config(write: WriteFile) -> None:
    bad = CONFIG.replace("providers: [echo]", "providers: [echo]\nbogus: 1")
    with pytest.raises(ConfigError, match='unknown key "bogus"'):
        load_spec(write("promptfooconfig.yaml", bad))
    with pytest.raises(ConfigError, match="not supported"):  # a feature we lack, not a typo
        load_spec(write("promptfooconfig.yaml", CONFIG + "    provider: echo\n"))


def test_promptfoo_config_names() -> None:
    assert is_promptfoo_config("a/promptfooconfig.yaml")
    assert is_promptfoo_config("promptfooconfig.json")
    assert not is_promptfoo_config("promptyard.yaml")
    assert not is_promptfoo_config(None)


def test_rows_of_a_test_file_error_alone_too(write: WriteFile) -> None:
    write("cases.yaml", "- vars: {topic: a}\n- vars: {topic: b}\n  asert: []\n")
    write("rows.jsonl", '{"vars": {"topic": "c"}, "assert": [{"type": "equals", "valeu": 1}]}\n')
    path = write(
        "promptfooconfig.yaml",
        """
        prompts: ["Say {{ topic }}"]
        providers: [echo]
        tests: [file://cases.yaml, file://rows.jsonl]
        """,
    )
    tests = load_spec(path).tests
    assert [t.vars for t in tests] == [{"topic": "a"}, {"topic": "b"}, {"topic": "c"}]
    assert tests[0].error is None
    assert 'unknown key "asert"' in str(tests[1].error)
    assert 'unknown key "valeu"' in str(tests[2].error)


def test_a_wrong_value_still_stops_the_load(write: WriteFile) -> None:
    bad = CONFIG.replace("{type: contains, value: cats}", "{type: contains, threshold: high}")
    with pytest.raises(ConfigError, match="expected a number"):
        load_spec(write("promptfooconfig.yaml", bad))
