"""Every way a user's eval goes wrong: a clear message naming the culprit, the documented exit
code, and never a Python traceback.

Config errors stop the run before any call (exit 1). Provider failures are recorded on their
case and the run goes on (exit 100, as for failed tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.clitools import (
    Project,
    assert_clean_error,
    provider_yaml,
    read_json,
    word_tests,
)


def _rows(project: Project, name: str = "out.json") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = read_json(Path(project.root / name))["results"]["results"]
    return rows


# -- config errors: exit 1, nothing called -----------------------------------------------------


def test_bad_yaml_names_the_line(project: Project) -> None:
    path = project.config(
        "  - vars: {word: a}\n    assert: [{type: contains, value: a}\n  - vars: {word: b}\n"
    )
    line = path.read_text().splitlines().index("  - vars: {word: b}") + 1
    result = project.eval()
    assert_clean_error(result, f"promptyard.yaml:{line}", "YAML syntax error")
    assert project.stub.request_count == 0


def test_unknown_assertion_type_suggests_the_right_one(project: Project) -> None:
    project.config("  - vars: {word: a}\n    assert:\n      - type: contians\n        value: a\n")
    result = project.eval()
    assert_clean_error(
        result, "promptyard.yaml", "tests[0].assert[0]", "'contians'", "did you mean 'contains'"
    )
    assert project.stub.request_count == 0


def test_missing_prompt_file_names_file_and_field(project: Project) -> None:
    project.config(word_tests("a"), prompts="  - file://prompts/missing.txt\n")
    result = project.eval()
    assert_clean_error(result, "promptyard.yaml:3", "prompts[0]", "missing.txt", "not found")
    assert project.stub.request_count == 0


def test_missing_tests_file_names_it(project: Project) -> None:
    project.write(
        "promptyard.yaml",
        f'prompts: ["hi {{{{ word }}}}"]\nproviders:\n{provider_yaml(project.stub.base_url)}'
        "tests: file://cases.csv\n",
    )
    result = project.eval()
    assert_clean_error(result, "cases.csv")
    assert project.stub.request_count == 0


def test_undefined_variable_in_first_test_stops_before_any_call(project: Project) -> None:
    project.config(
        "  - description: greeting\n    vars: {wrod: a}\n", prompts='  - "Say {{ word }}"\n'
    )
    result = project.eval()
    assert_clean_error(result, "undefined variable 'word'", "test: greeting", "prompts[0]")
    assert project.stub.request_count == 0


def test_undefined_variable_in_a_later_test_stops_before_any_call(project: Project) -> None:
    project.config(
        "  - description: ok\n    vars: {word: a}\n  - description: typo\n    vars: {wrod: b}\n",
        prompts='  - "Say {{ word }}"\n',
    )
    result = project.eval("-o", "out.json")
    assert_clean_error(result, "undefined variable 'word'", "(test: typo)")
    assert project.stub.request_count == 0
    assert not (project.root / "out.json").exists()


def test_wrong_types_name_line_and_field(project: Project) -> None:
    project.config(
        "  - vars: {word: a}\n    assert:\n      - type: contains\n        value: a\n"
        "        threshold: high\n"
    )
    result = project.eval()
    assert_clean_error(
        result, "promptyard.yaml:", "tests[0].assert[0].threshold", "expected a number", "'high'"
    )
    project.write("promptyard.yaml", "prompts: [hi]\nproviders: 5\ntests: []\n")
    result = project.eval()
    assert_clean_error(result, "promptyard.yaml:2", "providers", "got a number")
    project.config(
        word_tests("a"), providers=provider_yaml(project.stub.base_url, temperature="hot")
    )
    result = project.eval()
    assert_clean_error(result, "config.temperature", "must be a number", "'hot'")
    assert project.stub.request_count == 0


def test_bad_flags_are_clear_errors(project: Project) -> None:
    project.config(word_tests("a"))
    assert_clean_error(project.eval("--pass-rate-threshold", "150"), "--pass-rate-threshold")
    assert_clean_error(project.eval("--filter-pattern", "("), "--filter-pattern", "'('")
    assert_clean_error(project.eval("-j", "0"), "max_concurrency", "at least 1")
    assert_clean_error(project.eval("--repeat", "0"), "repeat", "at least 1")
    assert_clean_error(project.eval("-c", "nowhere.yaml"), "nowhere.yaml", "not found")
    assert project.stub.request_count == 0


def test_missing_api_key_names_the_variable_before_any_call(project: Project) -> None:
    project.config(
        word_tests("a", "b"),
        providers="  - id: openai:chat:stub-model\n"
        f"    config: {{apiBaseUrl: '{project.stub.base_url}', apiKeyEnvar: NOT_SET_KEY}}\n",
    )
    result = project.eval()
    assert_clean_error(result, "NOT_SET_KEY", "openai:chat:stub-model")
    assert project.stub.request_count == 0


def test_unreachable_database_is_a_clear_error(project: Project) -> None:
    project.config(word_tests("alpha"))
    url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    result = project.eval("--db", url)
    assert_clean_error(result, "127.0.0.1:1")
    listing = project.cli("runs", "list", "--db", url)
    assert_clean_error(listing, "127.0.0.1:1")


# -- provider failures: recorded per case, the run goes on --------------------------------------


def test_401_is_recorded_on_the_case_and_the_run_goes_on(project: Project) -> None:
    project.config(word_tests("alpha", "beta", "gamma"))
    project.stub.fail_first(1, 401)
    result = project.eval("-j", "1", "-o", "out.json")
    assert result.returncode == 100, str(result)
    assert "Traceback" not in result.stderr
    rows = _rows(project)
    assert [r["success"] for r in rows] == [False, True, True]
    assert "401" in rows[0]["error"] and rows[0]["failureReason"] == 2
    assert project.stub.request_count == 3  # auth errors are not retried
    assert "1 errors" in result.stdout and "case-alpha" in result.stdout
    assert "401" in result.stdout


def test_429_with_retry_after_is_retried_then_passes(project: Project) -> None:
    project.config(word_tests("alpha"))
    project.stub.fail_first(2, 429, retry_after=0.1)
    result = project.eval("-o", "out.json")
    assert result.returncode == 0, str(result)
    assert project.stub.request_count == 3
    assert _rows(project)[0]["response"]["output"] == "Repeat: alpha"


def test_500_then_success_is_retried(project: Project) -> None:
    project.config(word_tests("alpha"))
    project.stub.fail_first(1, 500)
    result = project.eval()
    assert result.returncode == 0, str(result)
    assert project.stub.request_count == 2


def test_persistent_500_fails_that_case_only(project: Project) -> None:
    project.config(
        word_tests("alpha", "beta", "gamma"),
        providers=provider_yaml(project.stub.base_url, maxRetries=1),
    )
    project.stub.script({"status": 500}, {"status": 500})  # alpha's call and its one retry
    result = project.eval("-j", "1", "-o", "out.json")
    assert result.returncode == 100, str(result)
    assert "Traceback" not in result.stderr
    rows = _rows(project)
    assert [r["success"] for r in rows] == [False, True, True]
    assert "500" in rows[0]["error"]
    assert project.stub.request_count == 4


def test_timeout_is_recorded_and_the_run_goes_on(project: Project) -> None:
    project.config(
        word_tests("alpha", "beta"),
        providers=provider_yaml(project.stub.base_url, timeoutMs=300, maxRetries=0),
    )
    project.stub.script({"delay_ms": 3000})
    result = project.eval("-j", "1", "-o", "out.json")
    assert result.returncode == 100, str(result)
    rows = _rows(project)
    assert [r["success"] for r in rows] == [False, True]
    assert "no answer within 0.3 s" in rows[0]["error"]
    assert rows[0]["latencyMs"] < 2000


def test_malformed_body_is_recorded(project: Project) -> None:
    project.config(
        word_tests("alpha", "beta"),
        providers=provider_yaml(project.stub.base_url, maxRetries=0),
    )
    project.stub.script({"malformed": True})
    result = project.eval("-j", "1", "-o", "out.json")
    assert result.returncode == 100, str(result)
    assert "Traceback" not in result.stderr
    rows = _rows(project)
    assert [r["success"] for r in rows] == [False, True]
    assert rows[0]["error"] and rows[0]["response"] is None


# -- user code limits ----------------------------------------------------------------------------

JS_TESTS = """\
  - description: loops
    vars: {word: a}
    assert:
      - type: javascript
        value: |
          while (true) {}
          return true;
  - description: bomb
    vars: {word: b}
    assert:
      - type: javascript
        value: |
          const hoard = [];
          while (true) { hoard.push(new Array(1000000).fill(7)); }
          return true;
  - description: fine
    vars: {word: c}
    assert:
      - type: javascript
        value: output.includes('c')
"""


def test_runaway_javascript_fails_its_case_and_the_run_finishes(project: Project) -> None:
    project.config(JS_TESTS)
    result = project.eval("-o", "out.json", env={"PROMPTYARD_JS_TIMEOUT_MS": "300"})
    assert result.returncode == 100, str(result)
    assert "Traceback" not in result.stderr
    loops, bomb, fine = _rows(project)
    assert loops["success"] is False and "timed out" in loops["gradingResult"]["reason"]
    assert "tests[0].assert[0]" in loops["gradingResult"]["reason"]
    assert bomb["success"] is False and "memory" in bomb["gradingResult"]["reason"]
    assert fine["success"] is True
