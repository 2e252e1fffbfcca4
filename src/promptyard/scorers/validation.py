"""Load-time checks of an assertion's value, threshold and weight, so that a bad config stops
before a run starts with a message naming assertion.where. Values that are templates or file://
references are only known per trial, so their type is checked then."""

from __future__ import annotations

import math
import re
from typing import Any

from promptyard.core.types import Assertion
from promptyard.errors import ConfigError
from promptyard.scorers.base import AssertionType
from promptyard.scorers.registry import ASSERT_SET


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dynamic(value: Any) -> bool:
    """A value only known per trial: a template or a file reference."""
    return isinstance(value, str) and (
        value.startswith("file://") or "{{" in value or "{%" in value
    )


def check_value(
    assertion: Assertion, entry: AssertionType, inverse: bool, *, allow_python: bool
) -> None:
    where = assertion.where or None

    def fail(message: str) -> None:
        raise ConfigError(f"{assertion.type!r} assertion: {message}", field=where)

    threshold = assertion.threshold
    if threshold is not None and (not _is_number(threshold) or math.isnan(threshold)):
        fail(f"threshold must be a number, got {threshold!r}")
    if not _is_number(assertion.weight) or assertion.weight < 0:
        fail(f"weight must be a number >= 0, got {assertion.weight!r}")

    if entry.name == ASSERT_SET:
        if not assertion.assertions:
            fail("an assert-set needs a non-empty `assert` list")
        for child in assertion.assertions:
            if child.type == ASSERT_SET:
                raise ConfigError(
                    "an assert-set cannot contain another assert-set", field=child.where or where
                )
        return
    if assertion.assertions:
        fail("only assert-set takes nested `assert` entries")
    if entry.needs_code and entry.name == "python" and not allow_python:
        fail("python assertions are disabled here (allow_python is off)")
    if entry.name in ("cost", "latency") and threshold is None:
        if inverse:
            fail(f"not-{entry.name} needs a threshold")
        if not assertion.metric:
            fail("without a threshold, set `metric` to record the value as a named score")

    value = assertion.value
    if _dynamic(value):
        return
    kind = entry.value_kind
    if kind == "required" and value is None:
        fail("needs a value")
    elif kind == "text" and (
        isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == ""
    ):
        fail(f"value must be a non-empty string or a number, got {_show(value)}")
    elif kind == "texts" and not (
        # promptfoo accepts any non-empty string and any list, even an empty one
        (isinstance(value, str) and value)
        or (isinstance(value, list) and all(_scalar(v) for v in value))
    ):
        fail(f"value must be a list of strings or a comma-separated string, got {_show(value)}")
    elif kind == "refs" and not (
        isinstance(value, str)
        or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))
    ):
        fail(f"value must be a string or a list of strings, got {_show(value)}")
    _specific(entry.name, value, fail)


def _scalar(value: Any) -> bool:
    return isinstance(value, str) or _is_number(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _specific(name: str, value: Any, fail: Any) -> None:
    """Checks that need the type's own knowledge, on constant values."""
    if name == "regex" and isinstance(value, str):
        from promptyard.scorers.text import compile_regex

        try:
            compile_regex(value)
        except re.error as exc:
            fail(f"invalid regular expression {value!r}: {exc}")
    elif name in ("is-json", "contains-json") and value not in (None, ""):
        if not isinstance(value, (str, dict, bool)):
            fail(f"value must be a JSON Schema (object or YAML/JSON text), got {_show(value)}")
        from promptyard.scorers.structured import _schema_for

        try:
            _schema_for(value)
        except Exception as exc:
            fail(f"invalid JSON schema: {getattr(exc, 'message', exc)}")
    elif name in ("is-xml", "contains-xml"):
        from promptyard.scorers.structured import _required_elements

        try:
            _required_elements(value)
        except ValueError as exc:
            fail(str(exc))
    elif name in ("is-sql", "contains-sql"):
        from promptyard.scorers.structured import _sql_options

        try:
            _sql_options(value)
        except ValueError as exc:
            fail(str(exc))
    elif name == "word-count":
        if isinstance(value, dict):
            lo, hi = value.get("min"), value.get("max")
            if lo is None and hi is None:
                fail('value needs "min" and/or "max"')
            if any(v is not None and not _is_number(v) for v in (lo, hi)):
                fail("min and max must be numbers")
            if lo is not None and hi is not None and lo > hi:
                fail(f"min ({lo}) must be <= max ({hi})")
        elif not _is_number(value) and not (
            isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit()
        ):
            fail(f"value must be a number or {{min, max}}, got {_show(value)}")
