"""promptfoo's `eval` flags and variables, as a newcomer types them: -n, --var, -v/--vars FILE,
--env-file and .env, --filter-providers, --filter-failing, --no-table, -o .yaml/.txt, the
exit-code variables; and `optimize` exits 1 on bad input as `eval` does."""

from __future__ import annotations

import yaml
from tests.e2e.clitools import Project, assert_clean_error, provider_yaml, run_id_from, word_tests

ECHO = "  - {id: echo, label: echo-bot}\n"


def test_n_is_filter_first_n(project: Project) -> None:
    project.config(word_tests("alpha", "beta", "gamma"))
    result = project.eval("-n", "1")
    assert result.returncode == 0, str(result)
    assert project.stub.request_count == 1
    assert "1/1 passed" in result.stdout


def test_var_sets_a_variable_in_every_test(project: Project) -> None:
    project.config(word_tests("alpha", "beta", expect={"alpha": "zeta", "beta": "zeta"}))
    assert project.eval().returncode == 100
    result = project.eval("--var", "word=zeta", "--var", "other=1")
    assert result.returncode == 0, str(result)
    assert "2/2 passed" in result.stdout


def test_var_without_equals_is_bad_input(project: Project) -> None:
    project.config(word_tests("alpha"))
    assert_clean_error(project.eval("--var", "word"), "--var", "KEY=VALUE")


def test_vars_file_replaces_the_tests(project: Project) -> None:
    project.config(word_tests("alpha"))
    project.write("cases.csv", "word,__expected\nred,contains:red\nblue,contains:nope\n")
    result = project.eval("-v", "cases.csv")
    assert result.returncode == 100, str(result)
    assert "1/2 passed" in result.stdout
    assert project.stub.request_count == 2  # the config's own test did not run
    assert project.eval("--vars", "cases.csv", "-n", "1").returncode == 0


def test_verbose_is_long_only(project: Project) -> None:
    project.config(word_tests("alpha"))
    result = project.eval("--verbose")
    assert result.returncode == 0, str(result)
    assert "PASS #0" in result.stdout


def test_dotenv_in_the_folder_is_loaded_without_overriding(project: Project) -> None:
    project.config(word_tests("alpha", expect={"alpha": "nope"}))
    project.write(".env", "# exit codes\nexport PROMPTFOO_FAILED_TEST_EXIT_CODE='7'\n")
    assert project.eval().returncode == 7
    # A variable already set wins over .env.
    assert project.eval(env={"PROMPTFOO_FAILED_TEST_EXIT_CODE": "9"}).returncode == 9


def test_env_file_is_loaded(project: Project) -> None:
    project.config(word_tests("alpha", expect={"alpha": "nope"}))
    project.write("ci.env", 'PROMPTFOO_FAILED_TEST_EXIT_CODE="5"  # from CI\n')
    assert project.eval("--env-file", "ci.env").returncode == 5
    assert project.eval("--env-path", "ci.env").returncode == 5
    assert_clean_error(project.eval("--env-file", "missing.env"), "missing.env")


def test_exit_code_variables(project: Project) -> None:
    project.config(word_tests("alpha", "beta", expect={"beta": "nope"}))
    assert project.eval(env={"PROMPTFOO_PASS_RATE_THRESHOLD": "50"}).returncode == 0
    assert project.eval(env={"PROMPTFOO_PASS_RATE_THRESHOLD": "60"}).returncode == 100
    twins = {"PROMPTFOO_PASS_RATE_THRESHOLD": "60", "PROMPTYARD_PASS_RATE_THRESHOLD": "40"}
    assert project.eval(env=twins).returncode == 0
    assert project.eval(env={"PROMPTYARD_FAILED_TEST_EXIT_CODE": "3"}).returncode == 3
    # The flag wins over the variables.
    flag = project.eval("--pass-rate-threshold", "40", env={"PROMPTFOO_PASS_RATE_THRESHOLD": "90"})
    assert flag.returncode == 0
    assert_clean_error(
        project.eval(env={"PROMPTFOO_FAILED_TEST_EXIT_CODE": "x"}),
        "PROMPTFOO_FAILED_TEST_EXIT_CODE must be an integer",
    )


def test_filter_providers_by_id_or_label(project: Project) -> None:
    project.config(word_tests("alpha"), providers=provider_yaml(project.stub.base_url) + ECHO)
    by_label = project.eval("--filter-providers", "^echo-b")
    assert by_label.returncode == 0, str(by_label)
    assert project.stub.request_count == 0 and "1/1 passed" in by_label.stdout
    by_id = project.eval("--filter-targets", "openai:chat")
    assert by_id.returncode == 0 and project.stub.request_count == 1
    assert "1/1 passed" in by_id.stdout
    assert_clean_error(project.eval("--filter-providers", "nothing"), "no provider matches")


def test_filter_failing_reruns_only_the_failures(project: Project) -> None:
    project.config(word_tests("alpha", "beta", "gamma", expect={"beta": "nope"}))
    first = project.eval("-o", "out.json")
    assert first.returncode == 100, str(first)
    assert project.stub.request_count == 3
    again = project.eval("--filter-failing", "out.json", "--no-cache")
    assert again.returncode == 100, str(again)
    assert project.stub.request_count == 4 and "0/1 passed" in again.stdout
    by_run = project.eval("--filter-failing", run_id_from(first), "--no-cache")
    assert by_run.returncode == 100, str(by_run)
    assert project.stub.request_count == 5 and "0/1 passed" in by_run.stdout
    assert_clean_error(project.eval("--filter-failing", "nope.json"), "--filter-failing")


def test_filter_failing_with_nothing_failed_runs_nothing(project: Project) -> None:
    project.config(word_tests("alpha"))
    assert project.eval("-o", "out.json").returncode == 0
    result = project.eval("--filter-failing", "out.json")
    assert result.returncode == 0, str(result)
    assert "nothing to run" in result.stdout and project.stub.request_count == 1


def test_no_table_hides_the_results_table(project: Project) -> None:
    project.config(word_tests("alpha"))
    shown = project.eval()
    assert "Results" in shown.stdout and "pass rate" in shown.stdout
    hidden = project.eval("--no-table")
    assert hidden.returncode == 0, str(hidden)
    assert "pass rate" not in hidden.stdout and "1/1 passed" in hidden.stdout


def test_output_yaml_and_txt(project: Project) -> None:
    project.config(word_tests("alpha", "beta", expect={"beta": "nope"}))
    result = project.eval("-o", "out.yaml", "-o", "out.txt", "-o", "out.yml")
    assert result.returncode == 100, str(result)
    doc = yaml.safe_load((project.root / "out.yaml").read_text(encoding="utf-8"))
    rows = doc["results"]["results"]
    assert [r["success"] for r in rows] == [True, False]
    assert rows[0]["vars"] == {"word": "alpha"} and doc["results"]["stats"]["failures"] == 1
    assert doc["summary"]["total"] == 2
    assert yaml.safe_load((project.root / "out.yml").read_text(encoding="utf-8")) == doc
    text = (project.root / "out.txt").read_text(encoding="utf-8")
    assert "1/2 passed" in text and "[PASS] case-alpha" in text and "[FAIL] case-beta" in text


def test_optimize_bad_input_exits_1(project: Project) -> None:
    project.config(word_tests("alpha"))
    result = project.cli("optimize", "--optimizer", "nope")
    assert_clean_error(result, "nope", code=1)
