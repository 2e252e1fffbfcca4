"""Assertion scorers with promptfoo's semantics: the metadata table and the test grader."""

from promptyard.scorers.base import AssertionType, CheckInput
from promptyard.scorers.grader import Grader
from promptyard.scorers.registry import (
    assertion_types,
    get_assertion_type,
    register_assertion_type,
)

__all__ = [
    "AssertionType",
    "CheckInput",
    "Grader",
    "assertion_types",
    "get_assertion_type",
    "register_assertion_type",
]
