"""What every check function receives and returns, and the metadata row that describes it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from promptyard.core.types import Assertion, GradingContext, GradingResult


@dataclass(slots=True)
class CheckInput:
    """One assertion about to be judged.

    `value` is the assertion value after templates and file:// loading; `output` is the output
    after the test's and the assertion's transforms; `text` is that output as a string, the way
    promptfoo's coerceString makes it (objects become JSON).
    """

    assertion: Assertion
    value: Any
    output: Any
    text: str
    inverse: bool
    ctx: GradingContext
    # The provider config's tool definitions ({functions, tools}, files loaded) for the types
    # that check tool calls (AssertionType.uses_tools); None when the grader knows none.
    tools: dict[str, Any] | None = None

    def result(
        self,
        passed: bool,
        reason: str,
        *,
        score: float | None = None,
    ) -> GradingResult:
        """A verdict for this assertion; the score defaults to 1 or 0 following `passed`."""
        return GradingResult(
            passed=passed,
            score=(1.0 if passed else 0.0) if score is None else score,
            reason=reason,
            assertion=self.assertion,
        )

    def verdict(self, holds: bool, what: str) -> GradingResult:
        """A yes/no check where `holds` is the un-negated outcome and `what` reads after
        "Expected output to": passes when holds != inverse, with a reason either way."""
        passed = holds != self.inverse
        if passed:
            return self.result(True, f"Output does {'not ' if self.inverse else ''}{what}")
        return self.result(False, f"Expected output to {'not ' if self.inverse else ''}{what}")


CheckFn = Callable[[CheckInput], GradingResult | Awaitable[GradingResult]]

# How `validate` checks an assertion's value before a run starts.
#   none      no value is read (a value is ignored)
#   optional  anything, including nothing
#   required  anything but nothing
#   text      a non-empty string or a number
#   texts     a string (comma-separated list) or a list of strings/numbers
#   refs      a string or a list of strings (references for bleu, rouge...)
#   number    a number or a numeric string
VALUE_KINDS = ("none", "optional", "required", "text", "texts", "refs", "number")


@dataclass(frozen=True, slots=True)
class AssertionType:
    """One row of the assertion table: the single source of truth for CLI, API, docs, grader."""

    name: str
    description: str
    check: CheckFn | None  # None: graded elsewhere (model-graded types, assert-set)
    needs_model: bool = False
    takes_threshold: bool = False
    negatable: bool = True  # whether `not-<name>` means something (promptfoo ignores it on some)
    value_kind: str = "optional"
    default_threshold: float | None = None
    needs_code: bool = False  # runs user code (javascript, python)
    uses_tools: bool = False  # reads the provider config's tool schemas (CheckInput.tools)
