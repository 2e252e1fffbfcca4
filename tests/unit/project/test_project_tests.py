"""Test cases: inline, CSV/JSONL/YAML datasets, defaultTest merging, var expansion, file vars."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from promptyard.core.types import TestCase
from promptyard.errors import ConfigError
from promptyard.project import assertion_from_string, load_config

WriteFile = Callable[[str, str], Path]

HEAD = "prompts: ['{{ q }}']\nproviders: [echo]\n"


def load_tests(write: WriteFile, body: str) -> list[TestCase]:
    return load_config(write("promptyard.yaml", HEAD + body)).tests


# ------------------------------------------------------------ inline tests and assertions


def test_inline_test_keys(write: WriteFile) -> None:
    tests = load_tests(
        write,
        """
tests:
  - description: capital
    vars: {q: "France?"}
    threshold: 0.5
    split: val
    metadata: {topic: geo}
    options: {prefix: "P: ", suffix: " :S", transform: output.trim(), provider: openai:gpt-4.1}
    assert:
      - type: icontains
        value: paris
        weight: 2
        metric: accuracy
      - type: llm-rubric
        value: is polite
        threshold: 0.8
        provider: {id: openai:gpt-4.1, config: {temperature: 0}}
        rubricPrompt: "Grade: {{ output }}"
        transform: output.toLowerCase()
        config: {strict: true}
      - type: assert-set
        threshold: 0.5
        assert:
          - type: contains
            value: a
          - type: not-contains
            value: b
""",
    )
    (case,) = tests
    assert case.description == "capital"
    assert case.label == "capital"
    assert case.vars == {"q": "France?"}
    assert case.threshold == 0.5
    assert case.split == "val"
    assert case.metadata == {"topic": "geo"}
    assert case.options["prefix"] == "P: "
    assert case.options["provider"] == "openai:gpt-4.1"
    assert case.where == "promptyard.yaml: tests[0]"
    first, rubric, group = case.assertions
    assert (first.type, first.value, first.weight, first.metric) == (
        "icontains",
        "paris",
        2.0,
        "accuracy",
    )
    assert first.where == "promptyard.yaml: tests[0].assert[0]"
    assert rubric.threshold == 0.8
    assert rubric.provider == {"id": "openai:gpt-4.1", "config": {"temperature": 0}}
    assert rubric.transform == "output.toLowerCase()"
    assert rubric.config == {"strict": True, "rubricPrompt": "Grade: {{ output }}"}
    assert group.type == "assert-set"
    assert [a.type for a in group.assertions] == ["contains", "not-contains"]
    assert group.assertions[1].where == "promptyard.yaml: tests[0].assert[2].assert[1]"


def test_unknown_assertion_types_are_left_for_the_scorer_registry(write: WriteFile) -> None:
    (case,) = load_tests(write, "tests:\n  - assert: [{type: no-such-check}]\n")
    assert case.assertions[0].type == "no-such-check"


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        ("tests: 5\n", 3, "tests", "expected a list"),
        (
            "tests:\n  - vars: {q: a}\n    assert:\n      - value: x\n",
            6,
            "tests[0].assert[0].type",
            "missing its `type`",
        ),
        (
            "tests:\n  - assert:\n      - type: contains\n        threshold: high\n",
            6,
            "tests[0].assert[0].threshold",
            "expected a number",
        ),
        ("tests:\n  - vars: [1, 2]\n", 4, "tests[0].vars[0]", "expected a mapping"),
        ("tests:\n  - varz: {q: a}\n", 4, "tests[0].varz", 'did you mean "vars"'),
        ("tests:\n  - provider: echo\n", 4, "tests[0].provider", "not supported"),
        ("tests:\n  - split: training\n", 4, "tests[0].split", "train, val, test"),
        (
            "tests:\n  - assert: [{type: contains, assert: []}]\n",
            4,
            "tests[0].assert[0].assert",
            "assert-set",
        ),
        ("defaultTest:\n  threshold: [1]\n", 4, "defaultTest.threshold", "expected a number"),
    ],
)
def test_wrong_types_name_file_line_and_field(
    write: WriteFile, body: str, line: int, field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_tests(write, body)
    message = str(err.value)
    assert message.startswith(f"promptyard.yaml:{line}, {field}:"), message
    assert words in message


# ------------------------------------------------------------ CSV datasets


@pytest.mark.parametrize(
    ("text", "kind", "value", "threshold"),
    [
        ("Paris", "equals", "Paris", None),
        ("contains:Paris", "contains", "Paris", None),
        ("contains: Paris ", "contains", "Paris", None),
        ("not-icontains: paris", "not-icontains", "paris", None),
        ("factuality:The capital is Paris", "factuality", "The capital is Paris", None),
        ("similar(0.9):Hello there", "similar", "Hello there", 0.9),
        ("similar:Hello", "similar", "Hello", 0.8),
        ("levenshtein: abc", "levenshtein", "abc", 0.75),
        ("contains-any: <b>,</span>", "contains-any", ["<b>", "</span>"], None),
        ("icontains-all:a, b ,c", "icontains-all", ["a", "b", "c"], None),
        ("is-json", "is-json", None, None),
        ('contains-json: {"a": 1}', "contains-json", ' {"a": 1}', None),
        ("javascript: output.length < 10", "javascript", "output.length < 10", None),
        ("fn: output === 'x'", "javascript", "output === 'x'", None),
        ("file://checks/grade.js", "javascript", "checks/grade.js", None),
        ("grade: is polite", "llm-rubric", " is polite", None),
        ("llm-rubric:is polite", "llm-rubric", "is polite", None),
        ("python: len(output) > 3", "python", "len(output) > 3", None),
        ("file://check.py:fn", "python", "check.py:fn", None),
        ("regex:^\\d+$", "regex", "^\\d+$", None),
        ("nonsense: text", "equals", "nonsense: text", None),
    ],
)
def test_expected_cells_parse_as_promptfoo_does(
    text: str, kind: str, value: object, threshold: float | None
) -> None:
    assertion = assertion_from_string(text)
    assert (assertion.type, assertion.value, assertion.threshold) == (kind, value, threshold)


def test_csv_special_columns(write: WriteFile) -> None:
    write(
        "tests.csv",
        "q,__expected1,__expected2,__description,__prefix,__suffix,__metric,__threshold,"
        "__metadata:topic,__metadata:tags[],__config:__expected2:threshold,__split\n"
        '"What is 2+2?","equals: 4","similar: four",sums,"P: "," :S",acc,0.7,math,'
        '"a, b\\,c",0.95,train\n'
        '"Say hi",hi,,,,,,,,,,\n',
    )
    first, second = load_tests(write, "tests: file://tests.csv\n")
    assert first.vars == {"q": "What is 2+2?"}
    assert [(a.type, a.value, a.metric) for a in first.assertions] == [
        ("equals", "4", "acc"),
        ("similar", "four", "acc"),
    ]
    assert first.assertions[1].threshold == 0.95  # __config:__expected2:threshold
    assert first.description == "sums"
    assert first.options == {"prefix": "P: ", "suffix": " :S"}
    assert first.threshold == 0.7
    assert first.metadata == {"topic": "math", "tags": ["a", "b,c"]}
    assert first.split == "train"
    assert first.where == "tests.csv: row 2"
    assert first.assertions[0].where == "tests.csv: row 2, __expected1"
    assert second.where == "tests.csv: row 3"
    assert [(a.type, a.value) for a in second.assertions] == [("equals", "hi")]
    assert second.description is None
    assert second.metadata == {}
    assert second.split is None


def test_csv_header_spaces_bom_and_blank_lines(write: WriteFile) -> None:
    path = write("t.csv", "")
    path.write_bytes("\ufeffq , __expected\r\nA,a\r\n\r\nB,b\r\n".encode())
    tests = load_tests(write, "tests: file://t.csv\n")
    assert [t.vars for t in tests] == [{"q": "A"}, {"q": "B"}]
    assert tests[1].where == "t.csv: row 3"


def test_tsv_files_use_tabs(write: WriteFile) -> None:
    write("t.tsv", "q\t__expected\nA, with comma\tcontains: A\n")
    (case,) = load_tests(write, "tests: file://t.tsv\n")
    assert case.vars == {"q": "A, with comma"}


@pytest.mark.parametrize(
    ("csv_text", "words"),
    [
        ("q,__expected\nA,a,extra\n", "t.csv:2, row 2: has 3 fields but the header has 2"),
        ("q,__threshold\nA,high\n", "t.csv:2, row 2: column __threshold: expected a number"),
        ("q,__split\nA,dev\n", "t.csv:2, row 2: column __split must be train, val or test"),
        ("q,__expectd\nA,a\n", 't.csv:1, header: unknown special column "__expectd"'),
        ("q,__config:__expected:weight\nA,1\n", "t.csv:1, header: bad column"),
        ("q,__providerOutput\nA,x\n", "not supported"),
    ],
)
def test_bad_csv_rows_name_file_and_row(write: WriteFile, csv_text: str, words: str) -> None:
    write("t.csv", csv_text)
    with pytest.raises(ConfigError) as err:
        load_tests(write, "tests: file://t.csv\n")
    assert words in str(err.value)


def test_large_csv_streams_quickly(write: WriteFile, tmp_path: Path) -> None:
    rows = 20_000
    with (tmp_path / "big.csv").open("w", encoding="utf-8") as handle:
        handle.write("question,__expected,__metadata:n\n")
        for i in range(rows):
            handle.write(f'"What is {i}?","contains: {i}",{i}\n')
    tests = load_tests(write, "defaultTest:\n  assert: [{type: is-json}]\ntests: file://big.csv\n")
    assert len(tests) == rows
    assert tests[-1].where == f"big.csv: row {rows + 1}"
    assert [a.type for a in tests[-1].assertions] == ["is-json", "contains"]


# ------------------------------------------------------------ JSONL, JSON, YAML datasets


def test_jsonl_yaml_json_and_globs_mix(write: WriteFile) -> None:
    write("data/a.jsonl", '{"vars": {"q": "j1"}}\n\n{"vars": {"q": "j2"}, "split": "test"}\n')
    write("data/b.yaml", "- vars: {q: y1}\n  assert: [{type: equals, value: y1}]\n")
    write("data/c.json", '[{"vars": {"q": "c1"}}]')
    write("more/one.yaml", "vars: {q: single}\n")
    tests = load_tests(
        write,
        """
tests:
  - vars: {q: inline}
  - file://data/a.jsonl
  - file://data/*.{json,yaml}
  - file://data/*.yaml
  - file://data/c.json
  - more/one.yaml
""",
    )
    assert [t.vars["q"] for t in tests][:3] == ["inline", "j1", "j2"]
    # the brace glob matches b.yaml and c.json (sorted); then each file again on its own
    assert [t.vars["q"] for t in tests][3:] == ["y1", "c1", "y1", "c1", "single"]
    assert tests[1].where == "data/a.jsonl: line 1"
    assert tests[2].where == "data/a.jsonl: line 3"
    assert tests[2].split == "test"
    assert tests[3].where == "data/b.yaml: [0]"
    assert tests[3].assertions[0].where == "data/b.yaml: [0].assert[0]"


def test_bad_jsonl_line_names_file_and_line(write: WriteFile) -> None:
    write("t.jsonl", '{"vars": {"q": 1}}\n{"vars": oops}\n')
    with pytest.raises(ConfigError, match=r"^t\.jsonl:2, line 2: invalid JSON"):
        load_tests(write, "tests: file://t.jsonl\n")
    write("t.jsonl", '{"vars": {"q": 1}, "assert": [{"type": "x", "weight": "heavy"}]}\n')
    with pytest.raises(ConfigError, match=r"^t\.jsonl:1, line 1: assert\[0\]\.weight"):
        load_tests(write, "tests: file://t.jsonl\n")


def test_error_inside_a_yaml_test_file_names_that_file_and_line(write: WriteFile) -> None:
    write("cases.yaml", "- vars: {q: a}\n- vars: {q: b}\n  assert:\n    - value: 1\n")
    with pytest.raises(ConfigError) as err:
        load_tests(write, "tests: file://cases.yaml\n")
    assert str(err.value).startswith("cases.yaml:4, [1].assert[0].type: assertion is missing")


def test_missing_test_file_names_field_and_path(write: WriteFile) -> None:
    with pytest.raises(ConfigError) as err:
        load_tests(write, "tests:\n  - vars: {q: a}\n  - file://missing.csv\n")
    message = str(err.value)
    assert message.startswith("promptyard.yaml:5, tests[1]:")
    assert "missing.csv" in message
    with pytest.raises(ConfigError, match=r"no files match 'none/\*\.csv'"):
        load_tests(write, "tests: file://none/*.csv\n")


def test_unsupported_test_sources(write: WriteFile) -> None:
    write("gen.js", "module.exports = () => [];\n")
    with pytest.raises(ConfigError, match="JavaScript test generators are not supported"):
        load_tests(write, "tests: file://gen.js\n")
    with pytest.raises(ConfigError, match="not supported"):
        load_tests(write, "tests:\n  - path: file://gen.js\n    config: {}\n")


# ------------------------------------------------------------ defaultTest merging


def test_default_test_merges_as_promptfoo_does(write: WriteFile) -> None:
    tests = load_tests(
        write,
        """
defaultTest:
  vars: {lang: en, q: default}
  assert: [{type: is-json}]
  options: {provider: openai:gpt-4.1, prefix: "D "}
  threshold: 0.6
  metadata: {suite: smoke, owner: a}
tests:
  - vars: {q: own}
    assert: [{type: contains, value: x}]
    options: {prefix: "T "}
    metadata: {owner: b}
  - threshold: 0.9
    options: {disableDefaultAsserts: true}
""",
    )
    first, second = tests
    assert first.vars == {"lang": "en", "q": "own"}
    assert [a.type for a in first.assertions] == ["is-json", "contains"]
    assert first.options == {"provider": "openai:gpt-4.1", "prefix": "T "}
    assert first.threshold == 0.6
    assert first.metadata == {"suite": "smoke", "owner": "b"}
    assert second.vars == {"lang": "en", "q": "default"}
    assert second.assertions == []
    assert second.threshold == 0.9
    assert second.options["disableDefaultAsserts"] is True


def test_default_test_from_a_file_applies_to_csv_rows(write: WriteFile) -> None:
    write("default.yaml", "assert:\n  - type: factuality\n    value: '{{ reference }}'\n")
    write("t.csv", "q,reference\nA,ref A\n")
    (case,) = load_tests(write, "defaultTest: file://default.yaml\ntests: file://t.csv\n")
    assert case.vars == {"q": "A", "reference": "ref A"}
    assert [(a.type, a.value) for a in case.assertions] == [("factuality", "{{ reference }}")]
    assert case.assertions[0].where == "default.yaml: assert[0]"


def test_no_tests_runs_default_test_once(write: WriteFile) -> None:
    (case,) = load_tests(write, "defaultTest:\n  vars: {q: only}\n")
    assert case.vars == {"q": "only"}


# ------------------------------------------------------------ var expansion and file vars


def test_array_vars_expand_into_a_cartesian_product(write: WriteFile) -> None:
    tests = load_tests(
        write,
        """
defaultTest:
  vars: {tone: [formal, casual]}
tests:
  - description: grid
    vars: {q: [a, b, c], nums: [1, 2], empty: []}
""",
    )
    assert [(t.vars["tone"], t.vars["q"]) for t in tests] == [
        ("formal", "a"), ("formal", "b"), ("formal", "c"),
        ("casual", "a"), ("casual", "b"), ("casual", "c"),
    ]  # fmt: skip
    # promptfoo expands only arrays of strings; others are one value
    assert all(t.vars["nums"] == [1, 2] and t.vars["empty"] == [] for t in tests)
    assert {t.description for t in tests} == {"grid"}
    assert {t.where for t in tests} == {"promptyard.yaml: tests[0]"}


def test_disable_var_expansion_keeps_arrays(write: WriteFile) -> None:
    (case,) = load_tests(
        write, "tests:\n  - vars: {q: [a, b]}\n    options: {disableVarExpansion: true}\n"
    )
    assert case.vars == {"q": ["a", "b"]}


def test_file_vars_load_as_promptfoo_does(write: WriteFile, tmp_path: Path) -> None:
    write("ctx/doc.txt", "  Some document.\n\n")
    write("ctx/data.yaml", "a: 1\nb: [x, 2.0]\n")
    write("ctx/data.json", '{"k": "v"}\n')
    (tmp_path / "ctx" / "pic.png").write_bytes(b"\x89PNG\r\n")
    (case,) = load_tests(
        write,
        """
tests:
  - vars:
      doc: file://ctx/doc.txt
      data: file://ctx/data.yaml
      raw: file://ctx/data.json
      image: file://ctx/pic.png
      plain: not a file
""",
    )
    assert case.vars["doc"] == "Some document."
    assert case.vars["data"] == '{"a":1,"b":["x",2]}'
    assert case.vars["raw"] == '{"k": "v"}'
    assert (
        case.vars["image"] == "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n").decode()
    )
    assert case.vars["plain"] == "not a file"


def test_file_var_globs_expand_into_tests(write: WriteFile) -> None:
    write("docs/a.txt", "doc A")
    write("docs/b.txt", "doc B")
    write("t.csv", "q,doc\nfirst,file://docs/*.txt\n")
    tests = load_tests(write, "tests: file://t.csv\n")
    assert [(t.vars["q"], t.vars["doc"]) for t in tests] == [
        ("first", "doc A"),
        ("first", "doc B"),
    ]


def test_array_of_file_vars_expands(write: WriteFile) -> None:
    write("a.txt", "A")
    write("b.txt", "B")
    tests = load_tests(write, "tests:\n  - vars: {doc: [file://a.txt, file://b.txt]}\n")
    assert [t.vars["doc"] for t in tests] == ["A", "B"]


def test_missing_file_var_names_the_variable_and_path(write: WriteFile) -> None:
    with pytest.raises(ConfigError) as err:
        load_tests(write, "tests:\n  - vars:\n      doc: file://nope.txt\n")
    message = str(err.value)
    assert message.startswith("promptyard.yaml:5, tests[0].vars.doc:")
    assert 'var "doc"' in message
    assert "nope.txt" in message


def test_script_file_vars_are_rejected(write: WriteFile) -> None:
    write("v.py", "print(1)\n")
    with pytest.raises(ConfigError, match='var "v" names a script'):
        load_tests(write, "tests:\n  - vars: {v: file://v.py}\n")


# ------------------------------------------------------------ scenarios


def test_scenarios_combine_config_rows_with_tests(write: WriteFile) -> None:
    tests = load_tests(
        write,
        """
scenarios:
  - description: translations
    config:
      - vars: {lang: French}
        assert: [{type: is-json}]
      - vars: {lang: German}
    tests:
      - vars: {q: Hello}
        assert: [{type: contains, value: x}]
      - vars: {q: Bye}
""",
    )
    assert [(t.vars["lang"], t.vars["q"]) for t in tests] == [
        ("French", "Hello"), ("French", "Bye"), ("German", "Hello"), ("German", "Bye"),
    ]  # fmt: skip
    assert [a.type for a in tests[0].assertions] == ["is-json", "contains"]
    assert tests[0].description == "translations"
    assert tests[3].where == "promptyard.yaml: scenarios[0].config[1] x tests[1]"
