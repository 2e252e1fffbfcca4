"""KPI expressions: config checks, per-trial evaluation, hostile input that must fail safely."""

from __future__ import annotations

import math
from typing import Any

import pytest

from promptyard.core.types import GradingResult, TokenUsage, TrialResult
from promptyard.errors import ConfigError
from promptyard.scorers.kpi import (
    BASE_VARIABLES,
    MAX_DEPTH,
    MAX_EXPRESSION_LENGTH,
    METRICS_KEY,
    CompiledKpi,
    Kpi,
    KpiResult,
    compile_kpis,
    metric_variable_name,
    parse_kpi_config,
    parse_kpis,
)
from promptyard.scorers.kpi_eval import build_variables, evaluate_kpis, kpi_gate, trial_variables

FILE = "promptyard.yaml"


def parse(*items: Any, known: set[str] | None = None) -> list[Kpi]:
    return parse_kpis(list(items), where=FILE, known_metrics=known)


def parse_error(*items: Any, known: set[str] | None = None, key: str = "kpis") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_kpis(list(items), where=FILE, key=key, known_metrics=known)
    return info.value


def one(expression: str, known: set[str] | None = None) -> list[CompiledKpi]:
    return compile_kpis([Kpi("k", expression)], known_metrics=known, where=FILE)


def value_of(expression: str, **values: Any) -> float | None:
    named = values.pop("named_scores", None)
    variables = build_variables(cost=values.pop("cost", 0.0005), named_scores=named, **values)
    return evaluate_kpis(one(expression), variables).values["k"]


def error_of(expression: str, variables: dict[str, Any] | None = None) -> str:
    if variables is None:
        variables = build_variables(cost=None)
    result = evaluate_kpis(one(expression), variables)
    assert result.values["k"] is None
    return result.errors["k"]


def refused(expression: str) -> str:
    """The load-time error for one expression (also asserts it names the KPI and the field)."""
    with pytest.raises(ConfigError) as info:
        parse_kpis([{"name": "hostile", "expression": expression}], where=FILE)
    err = info.value
    assert err.file == FILE
    assert err.field == "kpis[0].expression"
    assert 'KPI "hostile"' in str(err)
    return str(err)


# -- the config shape ---------------------------------------------------------------------------


def test_parse_reads_every_field_with_defaults() -> None:
    kpis = parse(
        {"name": "cheap", "description": "under a tenth of a cent", "expression": " cost < 0.001 "},
        {"name": "quality", "expression": "0.7 * score + 0.3 * helpfulness", "weight": 3},
    )
    assert kpis == [
        Kpi("cheap", "cost < 0.001", 1.0, "under a tenth of a cent"),
        Kpi("quality", "0.7 * score + 0.3 * helpfulness", 3.0, ""),
    ]
    assert kpis[1].to_dict() == {
        "name": "quality",
        "expression": "0.7 * score + 0.3 * helpfulness",
        "weight": 3.0,
    }


def test_parse_none_is_no_kpis() -> None:
    assert parse_kpis(None, where=FILE) == []
    assert parse_kpis([], where=FILE) == []


@pytest.mark.parametrize(
    ("items", "field", "message"),
    [
        ([{"expression": "1"}], "kpis[0].name", "a KPI needs a `name`"),
        ([{"name": 3, "expression": "1"}], "kpis[0].name", "expected a string, got a number"),
        ([{"name": "bad name!", "expression": "1"}], "kpis[0].name", "bad KPI name 'bad name!'"),
        ([{"name": "_x", "expression": "1"}], "kpis[0].name", "start with a letter"),
        ([{"name": "x" * 65, "expression": "1"}], "kpis[0].name", "at most 64 characters"),
        (
            [{"name": "a", "expression": "1"}, {"name": "a", "expression": "2"}],
            "kpis[1].name",
            'duplicate KPI name "a" (also kpis[0])',
        ),
        ([{"name": "a"}], "kpis[0].expression", 'KPI "a" is missing its `expression`'),
        ([{"name": "a", "expression": 1}], "kpis[0].expression", "as a string (quote it)"),
        ([{"name": "a", "expression": "  "}], "kpis[0].expression", "empty `expression`"),
        ([{"name": "a", "expression": "1", "weight": -1}], "kpis[0].weight", "finite number >= 0"),
        (
            [{"name": "a", "expression": "1", "weight": math.nan}],
            "kpis[0].weight",
            "finite number >= 0",
        ),
        ([{"name": "a", "expression": "1", "weight": True}], "kpis[0].weight", "got a boolean"),
        ([{"name": "a", "expression": "1", "weight": "3"}], "kpis[0].weight", "got a string '3'"),
        (
            [{"name": "a", "expression": "1", "description": ["x"]}],
            "kpis[0].description",
            "expected a string, got a list",
        ),
        (
            [{"name": "a", "expression": "1", "wieght": 2}],
            "kpis[0].wieght",
            'unknown key "wieght" in a KPI (did you mean "weight"?)',
        ),
        (["cost < 1"], "kpis[0]", "a KPI must be a mapping with `name` and `expression`"),
    ],
)
def test_parse_errors_name_the_field(items: list[Any], field: str, message: str) -> None:
    err = parse_error(*items)
    assert err.file == FILE
    assert err.field == field
    assert message in str(err)
    assert str(err).startswith(f"{FILE}, {field}: ")


def test_parse_rejects_a_mapping_instead_of_a_list() -> None:
    with pytest.raises(ConfigError) as info:
        parse_kpis({"name": "a", "expression": "1"}, where=FILE)
    assert info.value.field == "kpis"
    assert "expected a list of KPIs" in str(info.value)


def test_parse_uses_the_key_and_line_map_it_is_given() -> None:
    lines = {("additional_kpis",): 10, ("additional_kpis", 1): 13}
    with pytest.raises(ConfigError) as info:
        parse_kpis(
            [{"name": "a", "expression": "1"}, {"name": "b", "expression": "1 +"}],
            where=FILE,
            key="additional_kpis",
            lines=lines,
        )
    err = info.value
    assert (err.field, err.line) == ("additional_kpis[1].expression", 13)
    assert str(err).startswith(f"{FILE}:13, additional_kpis[1].expression: ")


def test_syntax_errors_name_the_kpi_and_the_position() -> None:
    err = parse_error({"name": "ok", "expression": "1"}, {"name": "q", "expression": "score 2"})
    assert err.field == "kpis[1].expression"
    assert 'KPI "q": syntax error at column 7' in str(err)
    assert "at the end" in refused("1 +")
    assert "at line 2, column" in refused("(score +\n  * 2)")


def test_invalid_escape_is_a_syntax_error_whatever_the_warning_filters() -> None:
    assert "invalid escape sequence" in refused(r'metric("a\d")')


def test_unknown_names_are_load_errors_with_a_suggestion_when_metrics_are_known() -> None:
    known = {"helpfulness", "Tone-Check"}
    err = parse_error({"name": "q", "expression": "0.7 * scroe + 0.3 * helpfulness"}, known=known)
    assert 'unknown variable "scroe" (did you mean "score"?) at column 7' in str(err)
    err = parse_error({"name": "q", "expression": "helpfulnes"}, known=known)
    assert 'did you mean "helpfulness"' in str(err)
    err = parse_error({"name": "q", "expression": "Tone_Chek"}, known=known)
    assert 'did you mean "Tone_Check"' in str(err)
    err = parse_error({"name": "q", "expression": 'metric("Tone-Chek")'}, known=known)
    assert 'unknown metric "Tone-Chek" (did you mean "Tone-Check"?) at column 8' in str(err)
    # the same names pass when they are right, and anything passes when metrics are not known
    parse(
        {"name": "q", "expression": 'Tone_Check + metric("Tone-Check") + helpfulness'}, known=known
    )
    parse({"name": "q", "expression": "anything_at_all"})


def test_unknown_functions_are_suggested() -> None:
    message = refused("lg(cost)")
    assert 'unknown function "lg" (did you mean "log"?)' in message
    assert "functions: min, max, abs, round, clamp, log, exp, sqrt, if_else, metric" in message
    assert '"cost" is a variable, not a function' in refused("cost(1)")
    assert "`max` is a function" in refused("max + 1")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("min()", "min() takes 1 or more arguments, got 0"),
        ("clamp(1, 2)", "clamp() takes 3 arguments, got 2"),
        ("round(1, 2, 3)", "round() takes 1 to 2 arguments, got 3"),
        ("max(x=1)", "max() takes no keyword arguments"),
        ("metric(cost)", 'metric() takes the metric\'s name as text: metric("Tone-Check")'),
        ("None", "None is not allowed: a KPI works with numbers"),
        ("1j", "1j is not allowed"),
        ("1e999", "the number is too large"),
        ("1 << 3", "operator `<<` is not supported"),
        ("~1", "operator `~` is not supported"),
        ("cost in 1", "`in` is not supported"),
        ("cost is 1", "`is` is not supported"),
        ("{}", "dicts are not allowed"),
        ("[1]", "lists are not allowed"),
        ("f'{cost}'", "f-strings are not allowed"),
        ("(x := 1)", "assignment (`:=`) is not allowed"),
        ("max(*cost)", "`*` unpacking is not allowed"),
        ("cost[0]", "indexing (`x[...]`) is not allowed"),
        ("__metrics__", 'names may not start with "__"'),
    ],
)
def test_refused_expressions(expression: str, message: str) -> None:
    assert message in refused(expression)


def test_kpi_config_reads_the_alias_and_the_threshold() -> None:
    kpis, threshold = parse_kpi_config(
        {"additional_kpis": [{"name": "a", "expression": "score"}], "kpi_threshold": 1},
        where=FILE,
    )
    assert kpis == [Kpi("a", "score")]
    assert threshold == 1.0
    assert parse_kpi_config({}, where=FILE) == ([], None)


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        (
            {"kpis": [], "additional_kpis": []},
            "additional_kpis",
            "give either `kpis` or `additional_kpis` (its alias), not both",
        ),
        ({"kpi_threshold": 0.5}, "kpi_threshold", "needs at least one KPI with a weight above 0"),
        (
            {"kpis": [{"name": "a", "expression": "1", "weight": 0}], "kpi_threshold": 0.5},
            "kpi_threshold",
            "needs at least one KPI with a weight above 0",
        ),
        (
            {"kpis": [{"name": "a", "expression": "1"}], "kpi_threshold": "high"},
            "kpi_threshold",
            "expected a number, got a string 'high'",
        ),
        (
            {"kpis": [{"name": "a", "expression": "1"}], "kpi_threshold": math.inf},
            "kpi_threshold",
            "expected a finite number",
        ),
        (
            {"additional_kpis": [{"name": "a", "expression": "1 +"}]},
            "additional_kpis[0].expression",
            "syntax error",
        ),
    ],
)
def test_kpi_config_errors(config: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_kpi_config(config, where=FILE)
    assert info.value.field == field
    assert message in str(info.value)


# -- evaluation ---------------------------------------------------------------------------------


def test_weighted_score_conditionals_and_named_metrics() -> None:
    kpis = compile_kpis(
        parse(
            {"name": "cheap", "expression": "1 if cost < 0.001 else 0", "weight": 1},
            {"name": "quality", "expression": "0.7 * score + 0.3 * helpfulness", "weight": 3},
        )
    )
    variables = build_variables(cost=0.0005, score=0.9, named_scores={"helpfulness": 0.5})
    result = evaluate_kpis(kpis, variables)
    assert result.values == {"cheap": 1.0, "quality": pytest.approx(0.78)}
    assert result.errors == {}
    assert result.score == pytest.approx((1 * 1.0 + 3 * 0.78) / 4)
    assert result.to_dict() == {"score": result.score, "values": result.values, "errors": {}}
    assert KpiResult.from_dict(result.to_dict()) == result


def test_no_kpis_gives_no_score_and_zero_weights_too() -> None:
    assert evaluate_kpis([], build_variables(cost=0.0)).score is None
    zero = compile_kpis([Kpi("info", "latency_ms", 0.0)])
    result = evaluate_kpis(zero, build_variables(cost=0.0, latency_ms=12.5))
    assert result.values == {"info": 12.5}
    assert result.score is None


def test_an_errored_kpi_counts_as_zero_and_keeps_its_message() -> None:
    kpis = compile_kpis([Kpi("good", "1", 1.0), Kpi("broken", "score / 0", 1.0)])
    result = evaluate_kpis(kpis, build_variables(cost=0.0, score=1.0))
    assert result.values == {"good": 1.0, "broken": None}
    assert result.errors == {"broken": 'KPI "broken": division by zero'}
    assert result.score == 0.5


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("pass", 1.0),
        ("passed", 1.0),
        ("1 if pass else 0", 1.0),
        ("pass and not error", 1.0),
        ("score > 0.5", 1.0),  # booleans count as 1/0
        ("score < 0.5", 0.0),
        ("cached", 0.0),
        ("output_length", 5.0),
        ("total_tokens", 7.0),
        ("prompt_tokens * 2 + completion_tokens", 10.0),
        ("latency_ms / 1000", 0.25),
        ("total_cost", pytest.approx(0.0007)),
        ("judge_cost", pytest.approx(0.0002)),
        ("min(score, 0.5, 2)", 0.5),
        ("max(1, 3, 2)", 3.0),
        ("abs(-2)", 2.0),
        ("round(0.456, 2)", 0.46),
        ("round(2.6)", 3.0),
        ("clamp(score * 2, 0, 1)", 1.0),
        ("clamp(-4, 0, 1)", 0.0),
        ("log(exp(2))", pytest.approx(2.0)),
        ("log(8, 2)", pytest.approx(3.0)),
        ("sqrt(16)", 4.0),
        ("if_else(score > 0.5, 10, 20)", 10.0),
        ("2 ** 10", 1024.0),
        ("7 // 2 + 7 % 2", 4.0),
        ("0 < score <= 1", 1.0),
        ("-score", -0.9),
        ("helpfulness", 0.25),
        ('metric("Tone-Check")', 0.75),
        ("Tone_Check", 0.75),
        ("my_metric", 0.5),
        ('metric("my metric")', 0.5),
        ("_1st_try", 1.0),
        ('metric("pass")', 0.125),  # a metric named "pass": only metric() reaches it
        ('metric("missing", 0.3)', 0.3),
        ("default(missing, 2)", 2.0),
        ("default(helpfulness, 2)", 0.25),
        ("True + True", 2.0),
    ],
)
def test_expressions_evaluate(expression: str, expected: Any) -> None:
    named = {"helpfulness": 0.25, "Tone-Check": 0.75, "my metric": 0.5, "1st-try": 1.0}
    named["pass"] = 0.125
    got = value_of(
        expression,
        cost=0.0005,
        judge_cost=0.0002,
        latency_ms=250.0,
        prompt_tokens=3,
        completion_tokens=4,
        output="hello",
        passed=True,
        score=0.9,
        named_scores=named,
    )
    assert got == expected


def test_pass_inside_text_is_left_alone() -> None:
    kpis = compile_kpis([Kpi("k", 'metric("pass") + pass')])
    assert kpis[0].names == {"passed"}
    assert kpis[0].metrics == {"pass"}
    # a name the user wrote that happens to be the internal stand-in is not `passed`
    assert compile_kpis([Kpi("k", "_pas")])[0].names == {"_pas"}
    assert "unknown variable" in refused_known("_pas")


def refused_known(expression: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_kpis([{"name": "k", "expression": expression}], where=FILE, known_metrics=set())
    return str(info.value)


def test_unknown_values_are_errors_not_zeros() -> None:
    assert error_of("1 if cost < 0.001 else 0") == (
        'KPI "k": "cost" is unknown for this trial (e.g. no price for the model)'
    )
    assert "total_cost" in error_of("total_cost")
    assert value_of("default(cost, 0)", cost=None) == 0.0
    judge_unknown = build_variables(cost=0.001, judge_cost=None)
    assert '"judge_cost" is unknown' in error_of("judge_cost", judge_unknown)
    assert '"total_cost" is unknown' in error_of("total_cost", judge_unknown)
    assert error_of("helpfulness") == (
        'KPI "k": "helpfulness" is not a variable or a named metric of this trial'
    )
    assert error_of('metric("Tone-Check")') == 'KPI "k": this trial has no metric "Tone-Check"'


def test_default_catches_only_unknown_values() -> None:
    assert error_of("default(1 / 0, 3)") == 'KPI "k": division by zero'


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("score / 0", "division by zero"),
        ("score // 0", "division by zero"),
        ("score % 0", "division by zero"),
        ("log(0)", "math domain error"),
        ("sqrt(-1)", "math domain error"),
        ("(-8) ** (1 / 3)", "math domain error"),
        ("exp(1000)", "the result is too large"),
        ("9 ** 9 ** 9", "the result is too large"),
        ("10 ** 1000000", "the result is too large"),
        ("1e308 * 10", "the result is not a finite number (inf)"),
        ("1e308 * 10 - 1e308 * 10", "the result is not a finite number (nan)"),
        ("clamp(1, 2, 0)", "clamp() needs low <= high"),
        ("round(1.5, 0.5)", "round() takes a whole number of digits"),
        ("1" + "0" * 400 + " * 1", "the result is too large"),
    ],
)
def test_runtime_errors_are_per_kpi(expression: str, message: str) -> None:
    variables = build_variables(cost=0.0, score=1.0)
    result = evaluate_kpis(one(expression), variables)
    assert result.values == {"k": None}
    assert result.errors["k"].startswith('KPI "k": ')
    assert message in result.errors["k"]
    assert result.score == 0.0


def test_variables_that_are_not_numbers_fail_the_kpi() -> None:
    assert "is str, not a number" in error_of("score * 1000000000", {"score": "a"})
    assert "is list, not a number" in error_of("score", {"score": [1]})
    assert '"score" is inf, not a finite number' in error_of("score > 0", {"score": math.inf})


def test_nan_is_an_unknown_value() -> None:
    variables = build_variables(cost=0.0, named_scores={"helpfulness": math.nan})
    assert '"helpfulness" is unknown' in error_of("helpfulness > 0.5", variables)
    assert evaluate_kpis(one("default(helpfulness, 0)"), variables).values["k"] == 0.0
    assert 'metric "helpfulness" is unknown' in error_of('metric("helpfulness")', variables)


def test_ambiguous_normalised_metric_names() -> None:
    variables = build_variables(cost=0.0, named_scores={"a-b": 0.1, "a b": 0.2, "x-y": 0.3})
    assert '"a_b" could mean the metrics "a-b" and "a b": use metric("...")' in error_of(
        "a_b", variables
    )
    assert evaluate_kpis(one('metric("a b")'), variables).values["k"] == 0.2
    # an exact identifier wins over a normalised name
    exact = build_variables(cost=0.0, named_scores={"x_y": 0.9, "x-y": 0.3})
    assert evaluate_kpis(one("x_y"), exact).values["k"] == 0.9


def test_base_variables_win_over_metrics_of_the_same_name() -> None:
    variables = build_variables(cost=0.0, score=0.9, named_scores={"score": 0.1})
    assert evaluate_kpis(one("score"), variables).values["k"] == 0.9
    assert evaluate_kpis(one('metric("score")'), variables).values["k"] == 0.1


def test_metric_variable_names() -> None:
    assert metric_variable_name("helpfulness") == "helpfulness"
    assert metric_variable_name("Tone-Check") == "Tone_Check"
    assert metric_variable_name("my metric") == "my_metric"
    assert metric_variable_name("1st") == "_1st"
    assert metric_variable_name("café au lait") == "caf__au_lait"
    for unreachable in ("if", "None", "score", "max", "__x", ""):
        assert metric_variable_name(unreachable) is None


def test_a_hand_built_mapping_works_without_the_metrics_key() -> None:
    variables = {"score": 0.5, "helpfulness": 0.25}
    assert METRICS_KEY not in variables
    result = evaluate_kpis(one('score + metric("helpfulness")'), variables)
    assert result.values == {"k": 0.75}


def test_trial_variables_reads_a_trial_result() -> None:
    trial = TrialResult(
        run_id="r",
        index=0,
        case_index=0,
        case_id="c",
        prompt_id="p",
        prompt_label="p",
        provider_id="echo",
        provider_label="echo",
        sample=0,
        description=None,
        vars={},
        prompt="hi",
        output={"answer": "ok"},
        grading=GradingResult(True, 0.8, "", named_scores={"Tone-Check": 0.5}),
        success=True,
        score=0.8,
        latency_ms=42.0,
        cost=0.002,
        usage=TokenUsage(prompt=10, completion=5, total=0),
        cached=True,
    )
    variables = trial_variables(trial, judge_cost=0.001)
    assert {name: variables[name] for name in BASE_VARIABLES} == {
        "cost": 0.002,
        "judge_cost": 0.001,
        "total_cost": pytest.approx(0.003),
        "latency_ms": 42.0,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,  # a missing total is the sum
        "output_length": len('{"answer":"ok"}'),
        "passed": 1,
        "score": 0.8,
        "cached": 1,
        "error": 0,
    }
    assert variables["Tone_Check"] == 0.5
    failed = TrialResult(
        "r", 1, 0, "c", "p", "p", "echo", "echo", 0, None, {}, "hi", error="HTTP 500"
    )
    variables = trial_variables(failed)
    assert (variables["error"], variables["passed"], variables["output_length"]) == (1, 0, 0)
    assert variables["cost"] is None
    assert variables["judge_cost"] == 0.0
    assert variables["total_cost"] is None


def test_gate() -> None:
    assert kpi_gate(0.8, 0.8)
    assert not kpi_gate(0.79, 0.8)
    assert not kpi_gate(None, 0.8)
    assert kpi_gate(None, None)


# -- hostile input: refused at load, or a clean per-KPI error; never a hang or a crash ----------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", 'unknown function "__import__"'),
        ("__import__('os').system('true')", "only these functions can be called"),
        ("().__class__.__bases__", "attribute access (`.__bases__`) is not allowed"),
        ("cost.__class__", "attribute access (`.__class__`) is not allowed"),
        ("open('/etc/passwd')", 'unknown function "open"'),
        ("getattr(cost, 'real')", 'unknown function "getattr"'),
        ("'a' * 10 ** 9", 'text is only allowed as the name in metric("...")'),
        ("'x'.upper()", "only these functions can be called"),
        ("lambda: 1", "lambda is not allowed"),
        ("(lambda: 1)()", "only these functions can be called"),
        ("[x for x in range(10 ** 9)]", "comprehensions are not allowed"),
        ("sum(x for x in range(10 ** 9))", 'unknown function "sum"'),
        ("max(x for x in range(10 ** 9))", "comprehensions are not allowed"),
        ("b'x'", "is not allowed: a KPI works with numbers"),
        ("...", "is not allowed: a KPI works with numbers"),
        ("metric('a').real", "attribute access (`.real`) is not allowed"),
        ("import os", "syntax error"),
        ("cost; 1", "syntax error"),
        ("cost = 1", "syntax error"),
        ("\x00", "null bytes"),
    ],
)
def test_hostile_expressions_are_refused_at_load(expression: str, message: str) -> None:
    assert message in refused(expression)


def test_deep_parentheses_are_refused_not_a_recursion_error() -> None:
    deep = "(" * 10_000 + "1" + ")" * 10_000
    assert f"the limit is {MAX_EXPRESSION_LENGTH}" in refused(deep)
    # under the length limit: the parser's own nesting limit
    assert "too many nested parentheses" in refused("(" * 300 + "1" + ")" * 300)


@pytest.mark.parametrize(
    "expression",
    [
        "-" * (MAX_EXPRESSION_LENGTH - 1) + "1",
        "not " * 400 + "1",
        "1" + " + 1" * 400,
        "(" * 150 + "1" + " + 1)" * 150,
        "max(" * 150 + "1" + ")" * 150,
    ],
)
def test_deep_trees_under_the_length_limit_are_refused(expression: str) -> None:
    assert f"nests deeper than {MAX_DEPTH} levels" in refused(expression)


def test_extremely_long_expressions_are_refused_before_parsing() -> None:
    message = refused("1 + " * 1_000_000 + "1")
    assert f"4000001 characters long; the limit is {MAX_EXPRESSION_LENGTH}" in message


def test_the_deepest_allowed_tree_evaluates() -> None:
    expression = "1" + " + 1" * (MAX_DEPTH - 1)
    assert value_of(expression) == float(MAX_DEPTH)


def test_a_forged_compiled_kpi_fails_safely() -> None:
    """evaluate_kpis is the last line of defence if someone builds a CompiledKpi by hand."""
    import ast

    node = ast.parse("cost.__class__", mode="eval").body
    forged = CompiledKpi(Kpi("forged", "cost.__class__"), node, frozenset(), frozenset())
    result = evaluate_kpis([forged], build_variables(cost=0.1))
    assert result.values == {"forged": None}
    assert "Attribute is not available" in result.errors["forged"]
