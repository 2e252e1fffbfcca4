"""Markdown, HTML and JUnit reports from a real eval against the stub, through the CLI."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from tests.e2e.clitools import Project, assert_clean_error, run_id_from

TESTS = """\
  - description: passes
    vars: {word: alpha}
    assert:
      - {type: contains, value: alpha}
  - description: fails
    vars: {word: beta}
    assert:
      - {type: contains, value: beta}
      - {type: equals, value: nope}
"""


def _check_junit(text: str) -> None:
    root = ET.fromstring(text.encode("utf-8"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    (suite,) = root.findall("testsuite")
    assert suite.get("name", "").endswith("× openai:chat:stub-model")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["passes", "fails"]
    failure = cases[1].find("failure")
    assert failure is not None and "nope" in failure.get("message", "")
    assert cases[0].find("failure") is None


def _check_markdown(text: str) -> None:
    assert "**1/2 passed (50.0%)**" in text
    assert re.search(r"\| 50\.0% \|( [^|]+ \|)? 1 \| 1 \| 0 \|", text), text
    failures = text.split("## Failures", 1)[1]
    assert "| fails |" in failures and "nope" in failures and "| passes |" not in failures


def _check_html(text: str) -> None:
    match = re.search(
        r'<script type="application/json" id="promptyard-data">(.*?)</script>', text, re.S
    )
    assert match is not None
    data = json.loads(match.group(1))
    assert [t["o"] for t in data["trials"]] == ["Repeat: alpha", "Repeat: beta"]
    assert [t["st"] for t in data["trials"]] == ["pass", "fail"]
    assert "https://" not in text and "http://" not in text


def test_eval_writes_html_junit_and_markdown(project: Project) -> None:
    project.config(TESTS)
    result = project.eval("-o", "out/r.html", "-o", "out/r.xml", "-o", "out/r.md")
    assert result.returncode == 100, str(result)
    _check_html((project.root / "out/r.html").read_text(encoding="utf-8"))
    _check_junit((project.root / "out/r.xml").read_text(encoding="utf-8"))
    _check_markdown((project.root / "out/r.md").read_text(encoding="utf-8"))


def test_export_each_report_format(project: Project) -> None:
    project.config(TESTS)
    prefix = run_id_from(project.eval())[:8]
    checks = {"html": _check_html, "junit": _check_junit, "md": _check_markdown}
    for fmt, check in checks.items():
        shown = project.cli("export", prefix, "--format", fmt)
        assert shown.returncode == 0, str(shown)
        check(shown.stdout)
    for name, check in (
        ("e.htm", _check_html),
        ("e.xml", _check_junit),
        ("e.markdown", _check_markdown),
    ):
        written = project.cli("export", prefix, "-o", name)
        assert written.returncode == 0, str(written)
        check((project.root / name).read_text(encoding="utf-8"))


def test_export_names_the_new_formats_when_one_is_unknown(project: Project) -> None:
    project.config(TESTS)
    prefix = run_id_from(project.eval())[:8]
    result = project.cli("export", prefix, "--format", "pdf")
    assert_clean_error(result, "pdf", "md, html, junit")
