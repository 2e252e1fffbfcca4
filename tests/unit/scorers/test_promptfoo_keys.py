"""promptfoo test keys that Promptyard refuses with a reason instead of ignoring them."""

from __future__ import annotations

import pytest

from promptyard.errors import ConfigError
from promptyard.project.cases import parse_test
from promptyard.project.source import Source


def test_store_output_as_must_be_a_variable_name_naming_the_field() -> None:
    src = Source("cfg.yaml")
    assert parse_test({"options": {"storeOutputAs": "answer"}}, src, ("tests", 2)).options
    with pytest.raises(ConfigError) as err:
        parse_test({"vars": {}, "options": {"storeOutputAs": "an answer"}}, src, ("tests", 2))
    assert "storeOutputAs must be a variable name" in str(err.value)
    assert "tests[2].options.storeOutputAs" in str(err.value.field)


@pytest.mark.parametrize("kind", ["webhook", "trace-span-count", "not-guardrails", "ruby"])
def test_promptfoo_types_we_do_not_run_are_refused_with_a_reason(kind: str) -> None:
    from promptyard.core.types import Assertion
    from promptyard.scorers import Grader

    with pytest.raises(ConfigError) as err:
        Grader().validate(Assertion(type=kind, where="cfg.yaml: tests[0].assert[0]"))
    assert "is not supported: " in str(err.value) and kind in str(err.value)
