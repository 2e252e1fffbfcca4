"""Load-time checks of an assertion's value, threshold and weight, so that a bad config stops
before a run starts with a message naming assertion.where. Values that are templates or file://
references are only known per trial, so their type is checked then.

User code is checked here too, against the trust policy: Python (python assertions, .py files
as values or transforms) only where it is allowed, and script files found by the one resolver
(trust/files.py), which a confining policy keeps inside the project folder."""

from __future__ import annotations

import math
import re
from typing import Any

from promptyard.core.types import Assertion
from promptyard.errors import ConfigError
from promptyard.scorers.base import AssertionType
from promptyard.scorers.registry import ASSERT_SET
from promptyard.trust import TrustPolicy

_SCRIPT_EXTS = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts", ".tsx", ".jsx", ".py")
PYTHON_OFF = "(the operator can set PROMPTYARD_ALLOW_PYTHON=true)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dynamic(value: Any) -> bool:
    """A value only known per trial: a template or a file reference."""
    return isinstance(value, str) and (
        value.startswith("file://") or "{{" in value or "{%" in value
    )


def script_path(ref: str) -> str | None:
    """The file a `file://path[:function]` script reference names; None when it names no
    script (.js, .ts, .py and kin), or is no file reference."""
    if not ref.startswith("file://"):
        return None
    path = ref[len("file://") :]
    head, colon, _ = path.rpartition(":")
    if colon and len(head) > 1 and head.lower().endswith(_SCRIPT_EXTS):
        path = head
    return path if path.lower().endswith(_SCRIPT_EXTS) else None


def check_script_ref(
    ref: Any, *, trust: TrustPolicy, base_dir: str, what: str, field: str | None
) -> None:
    """Refuse a script file reference (`value`, `transform`) that the policy does not allow:
    a .py file where Python is off; any script outside the project under confinement."""
    path = script_path(ref) if isinstance(ref, str) else None
    if path is None:
        return
    if path.lower().endswith(".py") and not trust.allow_python:
        raise ConfigError(
            f"{what} {ref!r} is Python, which is disabled here {PYTHON_OFF}", field=field
        )
    if trust.confine_files:
        from promptyard.trust.files import resolve_one

        try:
            resolve_one(trust, path, base_dir, what=what)
        except ConfigError as exc:
            raise ConfigError(str(exc), field=field) from None


def check_value(
    assertion: Assertion,
    entry: AssertionType,
    inverse: bool,
    *,
    trust: TrustPolicy,
    base_dir: str = ".",
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
    if entry.needs_code and entry.name == "python" and not trust.allow_python:
        fail(f"python assertions are disabled here {PYTHON_OFF}")
    label = f"{assertion.type!r} assertion"
    check_script_ref(assertion.transform, trust=trust, base_dir=base_dir,
                     what=f"{label}: transform", field=where)  # fmt: skip
    check_script_ref(assertion.value, trust=trust, base_dir=base_dir,
                     what=f"{label}: value", field=where)  # fmt: skip
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
