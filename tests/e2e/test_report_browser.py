"""The HTML report, opened from disk in headless Chromium (Debian's, through Playwright).

Reports come from real `promptyard eval -o report.html` runs (the python provider, so no
network) and, for size, from the report writer fed 10,000 trials. Every page is checked for
console and page errors, dialogs and requests other than its own file, and screenshotted into
docs/screenshots/ (report-*.png, overwritten on each run, not committed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.e2e.browser import PHONE, Watched, watch
from tests.e2e.clitools import run_cli
from tests.unit.reports.sample_runs import make_run, many_trials

from promptyard.reports.html import write_html

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

MODEL = """\
HOSTILE = "<img src=x onerror=alert('xss-output')></script><script>alert('xss-2')</script>"


def answer(prompt, options, context):
    word = context["vars"]["word"]
    if word == "boom":
        return {"error": "model overloaded (HTTP 529)"}
    if word == "hostile":
        return HOSTILE
    return f"{prompt} => {word.upper()}"
"""

CONFIG = """\
description: Browser check
prompts:
  - {id: v1, label: v1 (answer), raw: "Answer: {{ word }}"}
  - {id: v2, label: v2 (reply), raw: "Reply v2: {{ word }}"}
providers:
  - {id: "python:model.py:answer", label: model.py}
tests:
  - description: alpha passes
    vars: {word: alpha}
    assert: [{type: contains, value: alpha}]
  - vars: {word: beta}
    assert: [{type: contains, value: beta}]
  - description: gamma fails
    vars: {word: gamma}
    assert: [{type: contains, value: gamma}, {type: equals, value: nope}]
  - description: delta fails on v2
    vars: {word: delta}
    assert: [{type: not-contains, value: v2}]
  - description: boom errors
    vars: {word: boom}
    assert: [{type: contains, value: boom}]
  - description: epsilon passes
    vars: {word: epsilon}
    assert: [{type: icontains, value: EPSILON}]
"""
# What the run above gives, row by row (cases) and column by column (v1, v2).
STATUSES = [
    ["PASS", "PASS"],
    ["PASS", "PASS"],
    ["FAIL", "FAIL"],
    ["PASS", "FAIL"],
    ["ERROR", "ERROR"],
    ["PASS", "PASS"],
]
CASES = ["alpha passes", "case 1", "gamma fails", "delta fails on v2", "boom errors"]
CASES.append("epsilon passes")

# Hostile text everywhere a user can put it: title, prompt label, provider label, description,
# vars and the output. Two providers share an id and differ by label: two columns.
HOSTILE_CONFIG = """\
description: "<img src=x onerror=alert('xss-title')> report"
prompts:
  - {id: p, label: "<b onmouseover=alert(1)>bold</b> prompt", raw: "Say {{ word }}"}
providers:
  - {id: "python:model.py:answer", label: "<i>italic</i> provider"}
  - {id: "python:model.py:answer", label: plain provider}
tests:
  - description: "</script><script>alert('xss-desc')</script>"
    vars: {word: hostile, note: "<svg onload=alert('xss-var')>"}
    assert: [{type: equals, value: "<img src=y onerror=alert('xss-reason')>"}]
"""


def _eval(root: Path, config: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.py").write_text(MODEL, encoding="utf-8")
    (root / "promptyard.yaml").write_text(config, encoding="utf-8")
    result = run_cli("eval", "--no-progress", "-o", "report.html", "-o", "report.json", cwd=root)
    assert result.returncode == 100, str(result)  # some tests fail, on purpose
    return root / "report.html"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _eval(tmp_path_factory.mktemp("report"), CONFIG)


@pytest.fixture
def opened(browser: Browser, report: Path) -> Iterator[Watched]:
    with watch(browser, report) as watched:
        yield watched
        watched.assert_clean()


def _rows(page: Page) -> Locator:
    return page.locator("#matrix tbody tr")


def _names(page: Page) -> Locator:
    return _rows(page).locator("td.case > div:first-child")


def _row_names(page: Page) -> list[str]:
    return [n.strip() for n in _names(page).all_text_contents()]


def _info(page: Page) -> str:
    return page.locator("#f-info").inner_text()


def _search(page: Page, text: str, names: list[str]) -> None:
    """Type into the text filter and wait for exactly these rows (it waits 150 ms after the
    last key before filtering)."""
    from playwright.sync_api import expect

    page.locator("#f-search").fill(text)
    if names:
        expect(_names(page)).to_have_text(names)
    else:
        expect(_rows(page)).to_have_count(0)


# --- a real run -----------------------------------------------------------------------------


def test_summary_cards_show_the_runs_numbers(opened: Watched, report: Path) -> None:
    page = opened.page
    summary = json.loads((report.parent / "report.json").read_text(encoding="utf-8"))["summary"]
    assert (summary["total"], summary["passed"], summary["failed"], summary["errors"]) == (
        12,
        7,
        3,
        2,
    )
    assert page.locator("h1").inner_text() == "Browser check"
    assert "7/12 passed (58.3%), 3 failed, 2 errors" in page.locator(".meta").inner_text()
    cards = page.locator(".card")
    assert cards.count() == 2
    for card, (label, rate, passed) in zip(
        cards.all(),
        [("v1 (answer)", "66.7%", "4/6, 1 errors"), ("v2 (reply)", "50.0%", "3/6, 1 errors")],
        strict=True,
    ):
        assert card.locator("h2").inner_text() == label
        assert card.locator(".provider").inner_text() == "model.py"
        stats = dict(
            zip(
                card.locator("dt").all_inner_texts(),
                card.locator("dd").all_inner_texts(),
                strict=True,
            )
        )
        assert stats["pass rate"].startswith(rate + " (95% CI ")
        assert stats["passed"] == passed
        assert card.locator(".bar span").get_attribute("style") == f"width:{rate}"
    opened.screenshot("report-summary.png")


def test_matrix_shows_outputs_statuses_and_assertion_reasons(opened: Watched) -> None:
    page = opened.page
    heads = page.locator("#matrix thead th").all_inner_texts()
    assert [h.replace("\n", " | ") for h in heads] == [
        "case",
        "v1 (answer) | model.py",
        "v2 (reply) | model.py",
    ]
    assert _row_names(page) == CASES
    badges = [row.locator(".badge").all_inner_texts() for row in _rows(page).all()]
    assert badges == STATUSES
    assert _info(page) == "1–6 of 6 cases (6 in all), page 1/1"

    gamma = _rows(page).nth(2).locator("td.cell").first
    assert gamma.locator("summary").inner_text() == "Answer: gamma => GAMMA"
    gamma.locator("summary").click()
    assert gamma.locator("pre").first.inner_text() == "Answer: gamma => GAMMA"
    reasons = gamma.locator("ul.asserts li").all_inner_texts()
    assert reasons == [
        '✓ contains (1.00) Output does contain "gamma"',
        '✗ equals (0.00) Expected output "Answer: gamma => GAMMA" to equal "nope"',
    ]
    boom = _rows(page).nth(4).locator("td.cell").nth(1)
    boom.locator("summary").click()
    error = boom.locator("pre").first.inner_text()
    assert error == "python:model.py:answer: model overloaded (HTTP 529)"
    opened.screenshot("report-details.png", full_page=True)


def test_filters_change_the_visible_rows(opened: Watched) -> None:
    page = opened.page
    status = page.locator("#f-status")
    status.select_option("fail")
    assert _row_names(page) == ["gamma fails", "delta fails on v2"]
    assert _info(page) == "1–2 of 2 cases (6 in all), page 1/1"
    opened.screenshot("report-failures.png")
    status.select_option("error")
    assert _row_names(page) == ["boom errors"]
    status.select_option("pass")
    assert _row_names(page) == ["alpha passes", "case 1", "delta fails on v2", "epsilon passes"]

    status.select_option("all")
    _search(page, "EPSILON", ["epsilon passes"])  # case-insensitive, over outputs too
    _search(page, 'to equal "nope"', ["gamma fails"])  # a failed assertion's reason
    _search(page, '"word":"beta"', ["case 1"])  # the vars
    _search(page, "no such text anywhere", [])
    assert _info(page) == "no case matches (6 in all)"
    _search(page, "fails", ["gamma fails", "delta fails on v2"])
    status.select_option("fail")  # both filters at once
    _search(page, "delta", ["delta fails on v2"])
    _search(page, "", ["gamma fails", "delta fails on v2"])
    status.select_option("all")
    assert _row_names(page) == CASES


def test_phone_sized_viewport_keeps_the_page_within_the_screen(
    browser: Browser, report: Path
) -> None:
    with watch(browser, report, viewport=PHONE) as opened:
        page = opened.page
        width = PHONE["width"]
        # The page never scrolls sideways; only the matrix does, inside its own box.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for selector in (".card", "#f-status", "#f-search", "#f-next", ".scroll", "h1"):
            for box in [el.bounding_box() for el in page.locator(selector).all()]:
                assert box is not None and box["x"] >= 0, selector
                assert box["x"] + box["width"] <= width, selector
        scroll = page.locator(".scroll")
        assert scroll.evaluate("e => e.scrollWidth > e.clientWidth")  # two columns: it scrolls
        badge = _rows(page).first.locator(".num").first
        one_line = badge.evaluate("e => e.getClientRects().length")
        assert one_line == 1  # "score 1.00" never breaks inside
        _rows(page).nth(2).locator("summary").first.click()
        opened.screenshot("report-phone.png", full_page=True)
        opened.assert_clean()


# --- hostile text -----------------------------------------------------------------------


def test_hostile_text_is_shown_as_text_and_runs_nothing(browser: Browser, tmp_path: Path) -> None:
    report = _eval(tmp_path / "hostile", HOSTILE_CONFIG)
    with watch(browser, report) as opened:
        page = opened.page
        assert page.locator("h1").inner_text() == "<img src=x onerror=alert('xss-title')> report"
        assert (
            page.locator(".card h2").first.inner_text() == "<b onmouseover=alert(1)>bold</b> prompt"
        )
        heads = page.locator("#matrix thead th .provider").all_inner_texts()
        assert heads == ["<i>italic</i> provider", "plain provider"]  # one column each
        row = _rows(page).first
        assert row.locator("td.case > div").first.inner_text() == (
            "</script><script>alert('xss-desc')</script>"
        )
        assert "<svg onload=alert('xss-var')>" in row.locator(".vars").inner_text()
        for cell in row.locator("td.cell").all():
            assert cell.locator(".badge").inner_text() == "FAIL"
            cell.locator("summary").click()
            output = cell.locator("pre").first.inner_text()
            assert output.startswith("<img src=x onerror=alert('xss-output')></script>")
            assert "to equal \"<img src=y onerror=alert('xss-reason')>\"" in (
                cell.locator("ul.asserts").inner_text()
            )
        page.locator("#matrix").hover()
        page.wait_for_timeout(300)  # let any injected handler fire (none may)
        # No element came from the text: ours only, and our two script blocks.
        assert page.evaluate("document.querySelectorAll('img, svg, b, i').length") == 0
        assert page.locator("script").count() == 2
        opened.screenshot("report-xss.png", full_page=True)
        opened.assert_clean()  # no dialog, and no request for `x` or `y`


# --- a big report -----------------------------------------------------------------------


def test_ten_thousand_trials_open_on_the_first_page_and_page_through(
    browser: Browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    trials = list(many_trials(10_000))  # 2,500 cases x 4 columns
    target = tmp_path / "big.html"
    with target.open("w", encoding="utf-8") as out:
        write_html(make_run(trials), iter(trials), out)
    with watch(browser, target) as opened:
        page = opened.page
        assert page.locator("#matrix thead th").count() == 5
        assert _rows(page).count() == 200
        assert _info(page) == "1–200 of 2500 cases (2500 in all), page 1/13"
        assert _row_names(page)[0] == "case 0 about topic 0"
        expect(page.locator("#f-prev")).to_be_disabled()
        opened.screenshot("report-10k.png")

        page.locator("#f-next").click()
        assert _info(page) == "201–400 of 2500 cases (2500 in all), page 2/13"
        assert _row_names(page)[0] == "case 200 about topic 5"
        for _ in range(11):
            page.locator("#f-next").click()
        assert _info(page) == "2401–2500 of 2500 cases (2500 in all), page 13/13"
        assert _rows(page).count() == 100
        expect(page.locator("#f-next")).to_be_disabled()
        page.locator("#f-prev").click()
        assert _info(page).startswith("2201–2400 ")

        page.locator("#f-status").select_option("error")  # one trial in 50: 200 cases
        assert _info(page) == "1–200 of 200 cases (2500 in all), page 1/1"
        expect(page.locator("#f-next")).to_be_disabled()
        _search(page, "case 2499", ["case 2499 about topic 3"])
        opened.assert_clean()
