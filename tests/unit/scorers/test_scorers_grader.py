"""Test-level grading (promptfoo's runAssertions / AssertionsResult) and load-time validation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from tests.unit.scorers.helpers import make_ctx

from promptyard.core.types import Assertion, Completion
from promptyard.errors import ConfigError, TemplateError, UnknownAssertionError
from promptyard.scorers import Grader, assertion_types, get_assertion_type
from promptyard.trust import TrustPolicy


def a(type_: str, value: object = None, **kw: object) -> Assertion:
    return Assertion(type=type_, value=value, **kw)  # type: ignore[arg-type]


async def test_no_assertions_pass_with_score_1() -> None:
    result = await Grader().grade(make_ctx("anything"))
    assert (result.passed, result.score, result.reason) == (True, 1.0, "No assertions")


# Verdicts derived from promptfoo's AssertionsResult.addResult/testResult and runAssertion:
# (assertions, test threshold) -> (pass, score)
VERDICTS = [
    ([a("contains", "a")], None, True, 1.0),
    ([a("contains", "a"), a("contains", "z")], None, False, 0.5),
    # weights make a weighted mean
    ([a("contains", "a", weight=3), a("contains", "z")], None, False, 0.75),
    # a test threshold overrides the individual verdicts
    ([a("contains", "a", weight=3), a("contains", "z")], 0.7, True, 0.75),
    ([a("contains", "a"), a("contains", "z")], 0.6, False, 0.5),
    ([a("contains", "z")], 0.0, True, 0.0),  # threshold 0 is honoured: never fails
    # weight 0: the assertion is forced to pass and does not count towards the score
    ([a("contains", "z", weight=0), a("contains", "a")], None, True, 1.0),
    ([a("contains", "z", weight=0)], None, True, 0.0),  # total weight 0 -> score 0
    # assert-set: its own threshold, then it counts as one assertion with its weight
    (
        [a("assert-set", assertions=[a("contains", "a"), a("contains", "z")], threshold=0.5)],
        None, True, 0.5,
    ),
    (
        [a("assert-set", assertions=[a("contains", "a"), a("contains", "z")])],
        None, False, 0.5,
    ),
    (
        [
            a("contains", "z"),
            a("assert-set", assertions=[a("contains", "a"), a("contains", "b")], weight=3),
        ],
        None, False, 0.75,
    ),
    (
        [
            a("contains", "a"),
            a("assert-set", assertions=[a("contains", "z")], threshold=0.5, weight=0),
        ],
        None, False, 1.0,  # a set's weight 0 is not forced to pass (only plain assertions are)
    ),
]  # fmt: skip


@pytest.mark.parametrize(("assertions", "threshold", "passed", "score"), VERDICTS)
async def test_aggregation_verdicts(
    assertions: list[Assertion], threshold: float | None, passed: bool, score: float
) -> None:
    result = await Grader().grade(make_ctx("abc", assertions, threshold=threshold))
    assert result.passed is passed, result.reason
    assert result.score == pytest.approx(score)


async def test_threshold_reason() -> None:
    assertions = [a("contains", "a"), a("contains", "z")]
    ok = await Grader().grade(make_ctx("abc", assertions, threshold=0.5))
    assert ok.reason == "Aggregate score 0.50 ≥ 0.5 threshold"
    bad = await Grader().grade(make_ctx("abc", assertions, threshold=0.75))
    assert bad.reason == "Aggregate score 0.50 < 0.75 threshold"


async def test_failure_reason_is_the_last_failure_and_sets_come_last() -> None:
    assertions = [
        a("assert-set", assertions=[a("contains", "y")]),
        a("contains", "z"),
        a("contains", "a"),
    ]
    result = await Grader().grade(make_ctx("abc", assertions))
    assert result.reason == 'Expected output to contain "y"'
    assert (await Grader().grade(make_ctx("abc", assertions[1:]))).reason == (
        'Expected output to contain "z"'
    )


async def test_all_pass_reason_and_components_in_order() -> None:
    child1, child2 = a("contains", "b"), a("contains", "c")
    group = a("assert-set", assertions=[child1, child2])
    first = a("icontains", "A")
    result = await Grader().grade(make_ctx("abc", [group, first]))
    assert result.passed and result.reason == "All assertions passed"
    # flattened one level: the set, its children, then the next assertion
    assert [c.assertion for c in result.component_results] == [group, child1, child2, first]
    assert result.component_results[0].component_results[0].assertion is child1


async def test_named_metrics_are_weighted_means() -> None:
    assertions = [
        a("contains", "a", metric="accuracy"),
        a("contains", "z", metric="accuracy", weight=3),
        a("contains", "b", metric="format"),
        a("assert-set", assertions=[a("contains", "c"), a("contains", "z")], metric="group"),
    ]
    result = await Grader().grade(make_ctx("abc", assertions))
    assert result.named_scores == {"accuracy": 0.25, "format": 1.0, "group": 0.5}


async def test_metric_names_are_templates() -> None:
    result = await Grader().grade(
        make_ctx("abc", [a("contains", "a", metric="{{ lang }}-quality")], vars={"lang": "de"})
    )
    assert result.named_scores == {"de-quality": 1.0}


async def test_values_render_with_test_vars() -> None:
    grader = Grader()
    assertion = a("equals", "Hello {{ name }}!")
    ok = await grader.grade(make_ctx("Hello Ann!", [assertion], vars={"name": "Ann"}))
    bad = await grader.grade(make_ctx("Hello Ann!", [assertion], vars={"name": "Bob"}))
    assert ok.passed and not bad.passed  # the cached assertion re-renders per trial
    listed = a("contains-all", ["{{ x }}", "c"])
    assert (await grader.grade(make_ctx("abc", [listed], vars={"x": "b"}))).passed


async def test_undefined_template_variable_is_recorded_not_raised() -> None:
    result = await Grader().grade(make_ctx("abc", [a("contains", "{{ missing }}", where="t[0]")]))
    component = result.component_results[0]
    assert not result.passed and component.error
    assert "missing" in component.reason and component.reason.startswith("t[0]")


async def test_file_values(tmp_path: Path) -> None:
    (tmp_path / "expected.txt").write_text("  Hello there \n")
    (tmp_path / "words.yaml").write_text("- red\n- green\n")
    (tmp_path / "expected.json").write_text('{"a": [1, 2]}')
    grader = Grader(base_dir=str(tmp_path))
    result = await grader.grade(
        make_ctx("Hello there", [a("equals", "file://expected.txt")])  # .txt is trimmed
    )
    assert result.passed
    assert (
        await grader.grade(make_ctx("a green one", [a("contains-any", "file://words.yaml")]))
    ).passed
    assert (
        await grader.grade(make_ctx('{"a":[1,2]}', [a("equals", "file://expected.json")]))
    ).passed
    missing = await grader.grade(make_ctx("x", [a("equals", "file://nope.txt")]))
    assert not missing.passed and "nope.txt" in missing.component_results[0].reason
    # the context's base_dir wins over the grader's
    elsewhere = await Grader().grade(
        make_ctx("Hello there", [a("equals", "file://expected.txt")], base_dir=str(tmp_path))
    )
    assert elsewhere.passed


async def test_scorer_errors_are_recorded_on_the_assertion() -> None:
    bad = a("contains-any", {"not": "a list"}, where="tests.yaml: tests[3].assert[1]")
    good = a("contains", "a")
    result = await Grader().grade(make_ctx("abc", [bad, good]))
    first = result.component_results[0]
    assert (first.passed, first.score) == (False, 0.0)
    assert first.error and "tests[3].assert[1]" in first.reason
    assert result.component_results[1].passed
    assert result.score == 0.5


async def test_model_graded_type_without_judge_is_recorded() -> None:
    result = await Grader().grade(make_ctx("abc", [a("llm-rubric", "is polite")]))
    assert not result.passed and "grading model" in result.component_results[0].reason


async def test_weight_zero_metric_only_assertion() -> None:
    done = Completion(output="abc", latency_ms=900)
    assertions = [a("latency", threshold=100, weight=0), a("contains", "a")]
    result = await Grader().grade(make_ctx("abc", assertions, completion=done))
    assert result.passed and result.score == 1.0
    assert result.component_results[0].passed  # forced pass, score kept
    assert result.component_results[0].score == 0.0


# ---------------------------------------------------------------- validate


def test_validate_accepts_good_assertions() -> None:
    grader = Grader()
    for assertion in [
        a("contains", "x"),
        a("not-icontains-any", "a, b"),
        a("is-json", {"type": "object"}),
        a("regex", "(?i)^ok"),
        a("word-count", {"min": 1, "max": 3}),
        a("cost", threshold=0.01),
        a("latency", metric="ms"),
        a("equals", "{{ expected }}"),
        a("assert-set", assertions=[a("contains", "x"), a("not-regex", r"\d")], threshold=0.5),
        a("llm-rubric", "is concise"),
    ]:
        grader.validate(assertion)


def test_unknown_type_names_where_and_suggests() -> None:
    grader = Grader()
    with pytest.raises(UnknownAssertionError) as err:
        grader.validate(a("contians", "x", where="promptyard.yaml: tests[2].assert[0]"))
    message = str(err.value)
    assert "promptyard.yaml: tests[2].assert[0]" in message
    assert "'contians'" in message and "did you mean 'contains'?" in message
    with pytest.raises(UnknownAssertionError, match="did you mean 'not-icontains'"):
        grader.validate(a("not-icontians", "x"))
    with pytest.raises(UnknownAssertionError, match=r"unknown assertion type 'zzzzzz'$"):
        grader.validate(a("zzzzzz"))


def test_unknown_type_in_assert_set_is_found() -> None:
    with pytest.raises(UnknownAssertionError, match=r"sets\[0\].*did you mean 'equals'"):
        Grader().validate(a("assert-set", assertions=[a("equls", "x", where="sets[0]")]))


@pytest.mark.parametrize(
    ("assertion", "fragment"),
    [
        (a("contains", None), "non-empty string or a number"),
        (a("contains", ["a"]), "non-empty string or a number"),
        (a("contains-any", {"a": 1}), "list of strings"),
        (a("regex", "([a-z"), "invalid regular expression"),
        (a("is-json", {"type": "nope"}), "invalid JSON schema"),
        (a("is-json", 42), "JSON Schema"),
        (a("is-sql", {"databaseType": "Nope"}), "unknown databaseType"),
        (a("is-xml", {"foo": 1}), "xml assertion"),
        (a("word-count", {"min": 5, "max": 2}), "min (5) must be <= max (2)"),
        (a("word-count", "many"), "number or {min, max}"),
        (a("bleu", [1, 2]), "string or a list of strings"),
        (a("cost"), "set `metric`"),
        (a("not-latency"), "needs a threshold"),
        (a("not-select-best", "x"), "not- form is not supported"),
        (a("contains", "x", threshold="high"), "threshold must be a number"),
        (a("contains", "x", weight=-1), "weight must be a number >= 0"),
        (a("assert-set"), "non-empty `assert` list"),
        (
            a("assert-set", assertions=[a("assert-set", assertions=[a("contains", "x")])]),
            "cannot contain another assert-set",
        ),
        (a("contains", "x", assertions=[a("contains", "y")]), "only assert-set"),
    ],
)
def test_validate_rejects_bad_values_naming_where(assertion: Assertion, fragment: str) -> None:
    assertion.where = assertion.where or "cfg.yaml: tests[1].assert[4]"
    with pytest.raises(ConfigError) as err:
        Grader().validate(assertion)
    assert fragment in str(err.value)
    assert "cfg.yaml: tests[1].assert[4]" in str(err.value)


def test_validate_python_disabled() -> None:
    with pytest.raises(ConfigError, match="python assertions are disabled"):
        Grader(trust=TrustPolicy(allow_python=False)).validate(
            a("python", "output == 'x'", where="w")
        )


@pytest.mark.parametrize(
    "assertion",
    [
        a("javascript", "file://check.py", where="w"),
        a("equals", "file://check.py:get_assert", where="w"),
        a("contains", "x", transform="file://check.py:f", where="w"),
        a("assert-set", assertions=[a("icontains", "file://sub/check.py", where="w")], where="w"),
    ],
)
def test_validate_refuses_python_files_where_python_is_off(assertion: Assertion) -> None:
    with pytest.raises(ConfigError, match=r"w: .*check\.py.* is Python, which is disabled"):
        Grader(trust=TrustPolicy(allow_python=False)).validate(assertion)
    Grader().validate(assertion)  # the local user's policy allows it


def test_validate_test_checks_the_test_transform_and_each_judge(tmp_path: Path) -> None:
    from promptyard.core.types import TestCase

    grader = Grader(trust=TrustPolicy(allow_python=False))
    test = TestCase(options={"transform": "file://t.py"}, where="cfg.yaml: tests[2]")
    with pytest.raises(ConfigError, match=r"tests\[2\].*options.transform.*Python"):
        grader.validate_test(test)
    grader.validate_test(TestCase(options={"transform": "file://t.js"}))  # not Python


def test_confining_policy_keeps_script_files_in_the_project(tmp_path: Path) -> None:
    (tmp_path / "outside.py").write_text("def get_assert(o, c):\n    return True\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "inside.py").write_text("def get_assert(o, c):\n    return True\n")
    grader = Grader(base_dir=str(project), trust=TrustPolicy(confine_files=True))
    grader.validate(a("python", "file://inside.py", where="w"))
    for ref in ("file://../outside.py", f"file://{tmp_path / 'outside.py'}:get_assert"):
        for assertion in (a("python", ref, where="w"), a("javascript", ref, where="w"),
                          a("contains", "x", transform=ref, where="w")):  # fmt: skip
            with pytest.raises(ConfigError, match="outside the project folder"):
                grader.validate(assertion)


def test_template_error_is_a_config_error() -> None:
    assert issubclass(TemplateError, ConfigError)


# ---------------------------------------------------------------- the table


def test_table_rows() -> None:
    names = [t.name for t in assertion_types()]
    assert names == sorted(names) and len(names) == len(set(names))
    for required in (
        "equals",
        "contains",
        "icontains-all",
        "is-json",
        "contains-sql",
        "bleu",
        "meteor",
        "perplexity-score",
        "latency",
        "assert-set",
        "javascript",
    ):
        assert required in names
    assert not any(name.startswith("not-") for name in names)
    assert get_assertion_type("llm-rubric").needs_model  # type: ignore[union-attr]
    assert not get_assertion_type("contains").needs_model  # type: ignore[union-attr]
    assert get_assertion_type("rouge-n").default_threshold == 0.75  # type: ignore[union-attr]
    assert get_assertion_type("levenshtein").default_threshold == 5  # type: ignore[union-attr]
    for entry in assertion_types():
        assert entry.description
        compared = entry.name in ("assert-set", "max-score")  # graded by the grader itself
        if not entry.needs_model and not entry.needs_code and not compared:
            assert entry.check is not None, entry.name


def test_docs_table_matches_registry() -> None:
    from promptyard.scorers.docs import scorers_table

    docs = Path(__file__).resolve().parents[3] / "docs" / "scorers.md"
    assert scorers_table() in docs.read_text(encoding="utf-8"), (
        "docs/scorers.md is stale: paste in the output of `python -m promptyard.scorers.docs`"
    )


# ---------------------------------------------------------------- code-backed (scorers/code.py)

HAS_CODE = importlib.util.find_spec("promptyard.scorers.code") is not None
needs_code = pytest.mark.skipif(not HAS_CODE, reason="scorers/code.py not there yet")


@needs_code
async def test_javascript_and_not_javascript() -> None:
    grader = Grader()
    try:
        ok = await grader.grade(make_ctx("abc", [a("javascript", "output.length === 3")]))
        assert ok.passed
        inv = await grader.grade(make_ctx("abc", [a("not-javascript", "output.length === 3")]))
        assert not inv.passed
        assert inv.component_results[0].assertion.type == "not-javascript"  # type: ignore[union-attr]
        body = "const x = 1;\nthrow new Error('kaput')"  # several lines: a function body
        boom = await grader.grade(make_ctx("abc", [a("javascript", body)]))
        assert not boom.passed and "kaput" in boom.component_results[0].reason
    finally:
        grader.close()


@needs_code
async def test_transforms() -> None:
    grader = Grader()
    try:
        test_level = make_ctx(
            "hello", [a("equals", "HELLO")], options={"transform": "output.toUpperCase()"}
        )
        assert (await grader.grade(test_level)).passed
        per_assertion = make_ctx(
            "hello",
            [a("equals", "HELLO", transform="output.toUpperCase()"), a("equals", "hello")],
        )
        assert (await grader.grade(per_assertion)).passed  # the second sees the original
    finally:
        grader.close()
