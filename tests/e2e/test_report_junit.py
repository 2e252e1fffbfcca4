"""The JUnit XML report of a real `promptyard eval`, read back by a JUnit parser (junitparser),
as a CI system would read it, and checked against the run's own summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite
from tests.e2e.clitools import CliResult, run_cli

MODEL = """\
def answer(prompt, options, context):
    word = context["vars"]["word"]
    if word == "boom":
        return {"error": "model overloaded (HTTP 529)"}
    return f"{prompt} => {word}"


def shout(prompt, options, context):
    said = answer(prompt, options, context)
    return said if isinstance(said, dict) else said.upper()
"""

CONFIG = """\
description: JUnit check
prompts:
  - {id: short, label: short, raw: "Say {{ word }}"}
  - {id: long, label: long, raw: "Please say {{ word }}"}
providers:
  - {id: "python:model.py:answer", label: plain}
  - {id: "python:model.py:shout", label: loud}
tests:
  - description: passes everywhere
    vars: {word: alpha}
    assert: [{type: icontains, value: alpha}]
  - description: fails when loud
    vars: {word: beta}
    assert: [{type: contains, value: beta}]
  - description: fails on the long prompt
    vars: {word: gamma}
    assert: [{type: icontains, value: gamma}, {type: not-icontains, value: please}]
  - description: provider error
    vars: {word: boom}
    assert: [{type: contains, value: boom}]
"""

# (prompt, provider) -> the verdict of each case, in order
EXPECTED = {
    ("short", "plain"): ["pass", "pass", "pass", "error"],
    ("short", "loud"): ["pass", "fail", "pass", "error"],
    ("long", "plain"): ["pass", "pass", "fail", "error"],
    ("long", "loud"): ["pass", "fail", "fail", "error"],
}
CASES = ["passes everywhere", "fails when loud", "fails on the long prompt", "provider error"]


def _eval(root: Path, config: str, *args: str) -> tuple[CliResult, JUnitXml, dict[str, Any]]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.py").write_text(MODEL, encoding="utf-8")
    (root / "promptyard.yaml").write_text(config, encoding="utf-8")
    result = run_cli(
        "eval", "--no-progress", "-o", "out/junit.xml", "-o", "out/run.json", *args, cwd=root
    )
    xml = JUnitXml.fromfile(str(root / "out" / "junit.xml"))
    assert isinstance(xml, JUnitXml), "the root element is <testsuites>"
    summary = json.loads((root / "out" / "run.json").read_text(encoding="utf-8"))["summary"]
    return result, xml, summary


def _verdict(case: TestCase) -> str:
    if case.is_passed:
        return "pass"
    (result,) = case.result
    return "error" if isinstance(result, Error) else "fail"


def _suites(xml: JUnitXml) -> list[TestSuite]:
    return list(xml)


def test_junit_has_one_testcase_per_case_prompt_and_provider(tmp_path: Path) -> None:
    result, xml, summary = _eval(tmp_path / "proj", CONFIG)
    assert result.returncode == 100, str(result)
    suites = _suites(xml)
    assert [s.name for s in suites] == [f"{p} × {m}" for p, m in EXPECTED]
    for suite, ((prompt, _), verdicts) in zip(suites, EXPECTED.items(), strict=True):
        cases = list(suite)
        assert [c.name for c in cases] == CASES
        assert {c.classname for c in cases} == {prompt}
        assert [_verdict(c) for c in cases] == verdicts, suite.name
    # Stated counts agree with the test cases and with the run's summary, suite by suite.
    assert (xml.tests, xml.failures, xml.errors) == (
        summary["total"],
        summary["failed"],
        summary["errors"],
    )
    assert (summary["total"], summary["failed"], summary["errors"]) == (16, 4, 4)
    pairs = {f"{p['prompt_label']} × {p['provider_label']}": p for p in summary["pairs"]}
    for suite in suites:
        cases = list(suite)
        pair = pairs[suite.name]
        assert suite.tests == len(cases) == pair["total"]
        assert suite.failures == sum(c.is_failure for c in cases) == pair["failed"]
        assert suite.errors == sum(c.is_error for c in cases) == pair["errors"]
        assert suite.skipped == 0
        assert {p.name: p.value for p in suite.properties()}["run_id"]


def test_junit_failures_carry_the_reason_and_errors_the_provider_error(tmp_path: Path) -> None:
    _, xml, _ = _eval(tmp_path / "proj", CONFIG)
    suites = {s.name: s for s in _suites(xml)}
    loud = {c.name: c for c in suites["short × loud"]}
    (failure,) = loud["fails when loud"].result
    assert isinstance(failure, Failure)
    assert failure.message == 'Expected output to contain "beta"'
    assert failure.type == "assertion"
    assert failure.text == 'Expected output to contain "beta"'
    assert loud["fails when loud"].system_out == "SAY BETA => BETA"  # what the model said

    long_plain = {c.name: c for c in suites["long × plain"]}
    (failure,) = long_plain["fails on the long prompt"].result
    assert isinstance(failure, Failure)
    assert "please" in failure.message.lower() and "gamma" not in failure.message.lower()

    for suite in suites.values():
        errored = {c.name: c for c in suite}["provider error"]
        (error,) = errored.result
        assert isinstance(error, Error)
        assert error.message is not None and "model overloaded (HTTP 529)" in error.message
        assert error.text is not None and "model overloaded (HTTP 529)" in error.text
        passed = {c.name: c for c in suite}["passes everywhere"]
        assert passed.is_passed and passed.result == []
        assert passed.time >= 0


def test_junit_names_each_sample_of_a_repeated_run(tmp_path: Path) -> None:
    result, xml, summary = _eval(tmp_path / "proj", CONFIG, "--repeat", "2")
    assert result.returncode == 100, str(result)
    assert xml.tests == summary["total"] == 32
    for suite in _suites(xml):
        names = [c.name for c in suite]
        assert names == [f"{case} [sample {n}]" for case in CASES for n in (0, 1)]


def test_junit_keeps_providers_that_share_an_id_apart(tmp_path: Path) -> None:
    config = CONFIG.replace(
        '"python:model.py:shout", label: loud', '"python:model.py:answer", label: again'
    )
    _, xml, summary = _eval(tmp_path / "proj", config)
    assert len(summary["pairs"]) == 4
    assert [s.name for s in _suites(xml)] == [
        "short × plain",
        "short × again",
        "long × plain",
        "long × again",
    ]
