"""promptfoo test keys that Promptyard refuses with a reason instead of ignoring them."""

from __future__ import annotations

import pytest

from promptyard.errors import ConfigError
from promptyard.project.cases import parse_test
from promptyard.project.source import Source


def test_store_output_as_is_refused_naming_the_field() -> None:
    src = Source("cfg.yaml")
    with pytest.raises(ConfigError) as err:
        parse_test({"vars": {}, "options": {"storeOutputAs": "answer"}}, src, ("tests", 2))
    assert "storeOutputAs" in str(err.value) and "not supported" in str(err.value)
    assert "tests[2].options.storeOutputAs" in str(err.value.field)
