"""Case-insensitive assertions lower-case both sides with JavaScript's toLowerCase, as promptfoo
does (`output.toLowerCase().includes(value.toLowerCase())` for icontains and its -any/-all
forms), not with Unicode case folding."""

from __future__ import annotations

import pytest
from tests.unit.scorers.helpers import grade_one

from promptyard.scorers.text import js_lower


@pytest.mark.parametrize(
    ("type_", "value", "output", "passed"),
    [
        # ß has no one-letter lower-case ss: "straße" and "strasse" differ after toLowerCase.
        ("icontains", "STRASSE", "Die Straße ist lang", False),
        ("icontains", "straße", "DIE STRASSE", False),
        ("icontains", "STRAßE", "die straße", True),
        ("icontains-any", ["STRASSE", "weg"], "Die Straße", False),
        ("icontains-all", ["straße", "DIE"], "DIE STRASSE", False),
        ("not-icontains", "STRASSE", "Die Straße", True),
        # The final-sigma rule: Σ lower-cases to ς at the end of a word, σ elsewhere.
        ("icontains", "ΟΔΟΣ", "η οδος", True),
        ("icontains", "ΟΔΟΣ", "η οδοσ", False),
        ("icontains", "ΣΟΦΙΑ", "σοφια", True),
        # Full mappings: İ lower-cases to i + combining dot above.
        ("icontains", "İstanbul", "i̇stanbul'da", True),
        ("icontains", "İstanbul", "istanbul", False),
        # Other letters that casefold would merge but toLowerCase keeps apart.
        ("icontains", "ﬁle", "FILE", False),  # the ﬁ ligature
        ("icontains", "µ", "μ", False),  # micro sign vs Greek mu
    ],
)
async def test_case_insensitive_checks_use_javascript_lower_case(
    type_: str, value: object, output: str, passed: bool
) -> None:
    result = await grade_one(type_, value, output)
    assert result.passed is passed, result.reason


@pytest.mark.parametrize(
    ("text", "lower"),
    [
        ("Straße", "straße"),
        ("ΟΔΟΣ ΚΑΙ", "οδος και"),
        ("Σ", "σ"),
        ("İ", "i\u0307"),
        ("ǅ", "ǆ"),
        ("ABC déf", "abc déf"),
    ],
)
def test_js_lower_matches_javascript(text: str, lower: str) -> None:
    # Values as JavaScript's "…".toLowerCase() gives them (ECMA-262, String.prototype.toLowerCase:
    # Unicode Default Case Conversion, SpecialCasing.txt unconditional mappings and Final_Sigma).
    assert js_lower(text) == lower
