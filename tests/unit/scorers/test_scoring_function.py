"""assertScoringFunction: a JS or Python function file computes the test's score from its
named scores (promptfoo), through the sandbox and the trust policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.scorers.helpers import make_ctx

from promptyard.core.types import Assertion, GradingResult, TestCase
from promptyard.errors import ConfigError
from promptyard.scorers import Grader
from promptyard.trust import TrustPolicy

JS = """\
const overrideScoring = (namedScores, context) => {
  const min = Math.min(namedScores.a ?? 0, namedScores.b ?? 0);
  const threshold = context?.threshold ?? 0.7;
  return { pass: min >= threshold, score: min,
           reason: `min ${min} of ${context.componentResults.length}` };
};
module.exports = { overrideScoring };
"""
DEFAULT_JS = "module.exports = (s, c) => ({ pass: true, score: 0.25, reason: 'always' });\n"
PY = """\
def calculate_score(named_scores, context):
    return {"pass": named_scores.get("a", 0) >= 0.5, "score": named_scores.get("a", 0),
            "reason": f"a only, threshold {context['threshold']}"}
"""
ASSERTS = [
    Assertion(type="contains", value="x", metric="a"),
    Assertion(type="contains", value="y", metric="b"),
]


async def grade(tmp_path: Path, ref: str, output: str = "x", **kw: object) -> GradingResult:
    grader = Grader(base_dir=str(tmp_path), **kw)  # type: ignore[arg-type]
    ctx = make_ctx(output, list(ASSERTS), options={"assertScoringFunction": ref},
                   base_dir=str(tmp_path))  # fmt: skip
    grader.validate_test(ctx.test)
    try:
        return await grader.grade(ctx)
    finally:
        grader.close()


async def test_javascript_scoring_function(tmp_path: Path) -> None:
    (tmp_path / "score.js").write_text(JS)
    (tmp_path / "default.js").write_text(DEFAULT_JS)
    result = await grade(tmp_path, "file://score.js:overrideScoring", "x y")
    assert (result.passed, result.score, result.reason) == (True, 1.0, "min 1 of 2")
    result = await grade(tmp_path, "file://score.js:overrideScoring", "x")
    assert (result.passed, result.score) == (False, 0.0)
    result = await grade(tmp_path, "file://default.js", "nothing")
    assert (result.passed, result.score, result.reason) == (True, 0.25, "always")
    assert result.named_scores == {"a": 0.0, "b": 0.0}


async def test_python_scoring_function(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(PY)
    result = await grade(tmp_path, "file://score.py:calculate_score", "x")
    assert (result.passed, result.score) == (True, 1.0)
    assert result.reason == "a only, threshold None"


async def test_python_scoring_function_refused_where_python_is_off(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(PY)
    with pytest.raises(ConfigError, match="Python"):
        await grade(tmp_path, "file://score.py:calculate_score",
                    trust=TrustPolicy(allow_python=False))  # fmt: skip


async def test_a_broken_scoring_function_fails_the_test(tmp_path: Path) -> None:
    (tmp_path / "bad.js").write_text("module.exports = () => { throw new Error('boom'); };\n")
    result = await grade(tmp_path, "file://bad.js", "x y")
    assert not result.passed and "boom" in result.reason


def test_loader_keeps_the_key_with_the_options() -> None:
    from promptyard.project.cases import parse_test
    from promptyard.project.source import Source

    src = Source("cfg.yaml")
    test = parse_test({"assertScoringFunction": "file://s.js", "vars": {}}, src, ("tests", 0))
    assert isinstance(test, TestCase)
    assert test.options["assertScoringFunction"] == "file://s.js"
