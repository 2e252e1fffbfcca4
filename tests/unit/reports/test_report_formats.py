"""Markdown, JUnit XML and HTML reports, parsed back and checked against the trials."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.unit.reports.sample_runs import (
    HOSTILE,
    FakeRun,
    make_run,
    many_trials,
    mixed_trials,
    trial,
)

from promptyard.core.types import TrialResult
from promptyard.reports.export import FORMATS, export_run, format_for_path
from promptyard.reports.html import DATA_ID, write_html
from promptyard.reports.junit import write_junit
from promptyard.reports.markdown import MAX_FAILURES, write_markdown


def _render(writer: Callable[..., None], run: FakeRun, trials: Iterable[TrialResult]) -> str:
    out = io.StringIO()
    writer(run, trials, out)
    return out.getvalue()


# --- format selection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("r.md", "md"),
        ("R.MARKDOWN", "md"),
        ("r.html", "html"),
        ("r.htm", "html"),
        ("ci/junit.xml", "junit"),
        ("r.json", "json"),
    ],
)
def test_format_for_path_maps_extensions(name: str, fmt: str) -> None:
    assert format_for_path(name) == fmt
    assert fmt in FORMATS


def test_format_for_path_rejects_junit_as_an_extension() -> None:
    with pytest.raises(ValueError, match=r"r\.junit.*\.xml"):
        format_for_path("r.junit")


# --- markdown ---------------------------------------------------------------------------


def test_markdown_has_summary_numbers_and_failure_reasons() -> None:
    trials = mixed_trials()
    text = _render(write_markdown, make_run(trials, ci=True), iter(trials))
    assert text.startswith("# Triage | checks\n")
    assert "**3/6 passed (50.0%)**, 2 failed, 1 errors" in text
    lines = text.splitlines()
    head = next(line for line in lines if line.startswith("| prompt "))
    assert "95% CI" in head and "p50 ms" in head and "p95 ms" in head
    row = next(line for line in lines if line.startswith("| label p1 "))
    # p1: 2 passed of 3, 1 error; 15 tokens; CI, p50 and p95 from the summary
    assert "| 66.7% | 12.3–87.7% | 2 | 0 | 1 | 0.750 | 15 | 0.003000 | 251 | 988 |" in row
    failures = text.split("## Failures", 1)[1]
    assert "Expected nope<br>second<br>line" in failures
    assert "error: HTTP 500 from stub" in failures
    assert "| case 1 | label p1 |" in failures  # no description: named by index
    assert "first" not in failures  # passing trials are not listed


def test_markdown_escapes_pipes_newlines_and_html_in_cells() -> None:
    trials = mixed_trials()
    text = _render(write_markdown, make_run(trials), iter(trials))
    hostile_row = next(line for line in text.splitlines() if "alert(1)" in line)
    assert "a\\|b" in hostile_row
    assert "<script>" not in text and "&lt;/script&gt;" in hostile_row
    assert not any(ch in text for ch in "\x00\x01\x1b")  # control characters dropped
    # every table row still has exactly its 4 cells (escaped pipes do not split cells)
    for line in text.split("## Failures", 1)[1].splitlines():
        if line.startswith("| ") and not line.startswith("| case |"):
            assert len(line.replace("\\|", "").split("|")) == 6, line


def test_markdown_caps_failures_with_a_count_of_the_rest() -> None:
    trials = [trial(i, case=i, passed=False) for i in range(MAX_FAILURES + 7)]
    text = _render(write_markdown, make_run(trials), iter(trials))
    assert text.count("| bad |") == MAX_FAILURES
    assert text.rstrip().endswith("... and 7 more")


def test_markdown_of_an_all_passing_run_and_without_summary() -> None:
    trials = [trial(0, case=0), trial(1, case=1)]
    run = make_run(trials)
    run.summary = None
    text = _render(write_markdown, run, iter(trials))
    assert "No summary stored" in text and "None: every trial passed." in text


# --- junit ------------------------------------------------------------------------------


def test_junit_counts_match_the_run_and_failures_carry_reasons() -> None:
    trials = mixed_trials()
    text = _render(write_junit, make_run(trials), iter(trials))
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "2", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["label p1 × stub model", "label p2 × stub model"]
    assert [(s.get("tests"), s.get("failures"), s.get("errors")) for s in suites] == [
        ("3", "0", "1"),
        ("3", "2", "0"),
    ]
    p1, p2 = ([c for c in s.findall("testcase")] for s in suites)
    assert [c.get("name") for c in p1] == ["first | case", "case 1", "case 2"]
    assert {c.get("classname") for c in p1} == {"label p1"}
    assert p1[0].get("time") == "0.250"
    error = p1[1].find("error")
    assert error is not None and error.get("message") == "HTTP 500 from stub"
    failure = p2[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "Expected nope; second\nline"
    assert failure.text == "Expected nope\nsecond\nline"
    assert p2[2].find("failure") is None and p2[2].find("error") is None
    total_time = sum(float(s.get("time") or 0) for s in suites)
    assert float(root.get("time") or 0) == pytest.approx(total_time, abs=0.002)


def test_junit_with_hostile_text_is_still_valid_xml() -> None:
    trials = mixed_trials()
    run = make_run(trials)
    run.description = 'run \x00 with <odd> & "quoted" ]]> name'
    text = _render(write_junit, run, iter(trials))
    root = ET.fromstring(text.encode("utf-8"))  # raises on any invalid character or markup
    assert root.get("name") == 'run  with <odd> & "quoted" ]]> name'
    case = root.findall("testsuite")[1].findall("testcase")[1]
    failure = case.find("failure")
    out = case.find("system-out")
    assert failure is not None and out is not None
    # C0 controls are stripped; DEL (\x7f) is legal XML 1.0 and kept
    expected = "</script><script>alert(1)</script> ]]> a|b \x7f tail"
    assert failure.get("message") == expected
    assert out.text == expected
    assert not any(ch in text for ch in "\x00\x01\x1b")


def test_junit_names_samples_when_cases_repeat() -> None:
    trials = [trial(i, case=i // 2, sample=i % 2) for i in range(4)]
    text = _render(write_junit, make_run(trials), iter(trials))
    names = [c.get("name") for c in ET.fromstring(text).iter("testcase")]
    assert names == [
        "case 0 [sample 0]",
        "case 0 [sample 1]",
        "case 1 [sample 0]",
        "case 1 [sample 1]",
    ]


def test_junit_consumes_the_trials_once_and_handles_an_empty_run() -> None:
    trials = mixed_trials()
    consumed = []

    def once() -> Iterator[TrialResult]:
        for t in trials:
            consumed.append(t.index)
            yield t

    text = _render(write_junit, make_run(trials), once())
    assert consumed == [0, 1, 2, 3, 4, 5]
    assert ET.fromstring(text).get("tests") == "6"
    empty = ET.fromstring(_render(write_junit, FakeRun(), iter([])))
    assert empty.get("tests") == "0" and empty.findall("testsuite") == []


# --- html -------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects what the tests check: script blocks, src/href values, the data blob."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.blobs: list[str] = []
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for key in ("src", "href"):
            if found.get(key):
                self.links.append(str(found[key]))
        if tag == "script":
            self.scripts.append(found)
            self._in_data = found.get("type") == "application/json"
            if self._in_data:
                self.blobs.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.blobs[-1] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def test_html_embeds_one_blob_that_round_trips_the_trials() -> None:
    trials = mixed_trials()
    text = _render(write_html, make_run(trials, ci=True), iter(trials))
    page = _parse(text)
    assert len(page.blobs) == 1
    data = json.loads(page.blobs[0])
    assert data["columns"] == [
        {"prompt": "label p1", "provider": "stub model"},
        {"prompt": "label p2", "provider": "stub model"},
    ]
    rows = data["trials"]
    assert [r["i"] for r in rows] == [t.index for t in trials]
    assert [r["k"] for r in rows] == [0, 1, 0, 1, 0, 1]
    assert [r["st"] for r in rows] == ["pass", "fail", "error", "fail", "pass", "pass"]
    assert rows[3]["o"] == HOSTILE  # the exact text survives the escaping
    assert rows[4]["o"] == '{"json": ["value"]}'
    assert rows[2]["e"] == "HTTP 500 from stub"
    assert rows[1]["p"] == "Say w0" and rows[1]["v"] == {"word": "w0"}
    assert [(a["t"], a["ok"], a["r"]) for a in rows[1]["a"]] == [
        ("contains", True, "Output contains ok"),
        ("equals", False, "Expected nope"),
        ("equals", False, "second\nline"),
    ]
    assert [r["ms"] for r in rows] == [round(t.latency_ms, 1) for t in trials]
    # summary cards, with the confidence interval
    assert "12.3–87.7%" in text and "251 / 988 ms" in text


def test_html_is_self_contained_and_escapes_hostile_text() -> None:
    trials = mixed_trials()
    run = make_run(trials)
    run.description = "<img src=x onerror=alert(2)>"
    text = _render(write_html, run, iter(trials))
    page = _parse(text)
    assert page.links == []  # no src/href at all: nothing loads from the network
    assert "http://" not in text and "https://" not in text
    # Only our two scripts exist: the hostile output did not open a third.
    assert len(page.scripts) == 2
    assert text.count("<script") == 2 and text.count("</script>") == 2
    assert "alert(1)" in text and "\\u003c/script>\\u003cscript>alert(1)" in text
    assert "<img" not in text and "&lt;img src=x" in text
    assert "prefers-color-scheme:dark" in text


def test_html_for_ten_thousand_trials_holds_every_trial(tmp_path: Path) -> None:
    trials = list(many_trials(10_000))
    run = make_run(trials)
    target = tmp_path / "big.html"
    export_run(run, iter(trials), target, "html")
    data = json.loads(_parse(target.read_text(encoding="utf-8")).blobs[0])
    assert len(data["trials"]) == 10_000 and len(data["columns"]) == 4


def test_export_run_writes_every_new_format_to_files(tmp_path: Path) -> None:
    trials = mixed_trials()
    run = make_run(trials)
    for name in ("r.md", "r.xml", "r.html"):
        export_run(run, iter(trials), tmp_path / "out" / name, format_for_path(name))
    assert ET.parse(tmp_path / "out" / "r.xml").getroot().get("tests") == "6"
    assert "## Failures" in (tmp_path / "out" / "r.md").read_text(encoding="utf-8")
    assert DATA_ID in (tmp_path / "out" / "r.html").read_text(encoding="utf-8")


def test_html_gives_providers_that_share_an_id_a_column_each() -> None:
    # One model at two settings: same provider id, two labels, as the summary counts them.
    trials = [trial(0, case=0), trial(1, case=0), trial(2, case=1), trial(3, case=1)]
    for t in trials[1::2]:
        t.provider_label = "stub hot"
    data = json.loads(_parse(_render(write_html, make_run(trials), iter(trials))).blobs[0])
    assert data["columns"] == [
        {"prompt": "label p1", "provider": "stub model"},
        {"prompt": "label p1", "provider": "stub hot"},
    ]
    assert [r["k"] for r in data["trials"]] == [0, 1, 0, 1]
