"""The Run page in Debian's Chromium against a real server: summary cards, the results
matrix (pages, filters and order kept in the URL, keyboard), the trial dialog, exports,
empty states and errors, on a laptop and a phone, with model output kept as text."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from bench.ui_bench import build_run
from tests.e2e.browser import PHONE
from tests.ui.uitools import UiPage, ui_page

from promptyard.store import Store

if TYPE_CHECKING:
    from playwright.sync_api import Browser

HOSTILE = "<img src=x onerror=alert(1)>"
ROWS = "#matrix tbody tr[data-row]"


@pytest.fixture(scope="module")
def runs(ui_server: ServerProcess) -> dict[str, str]:
    """A 400-trial run (100 cases x 4 columns: two pages of 50) and one without trials."""
    big = build_run(ui_server.db, 400, "Four hundred results")
    with Store.open(ui_server.db) as store:
        store.create_run(run_id="00000000-0000-4000-8000-000000000000", description="nothing",
                         config={}, created_at="2026-12-01T00:00:00+00:00", prompts=[],
                         providers=[])  # fmt: skip
    return {"big": big, "empty": "00000000-0000-4000-8000-000000000000"}


@pytest.fixture(scope="module")
def hostile_run(ui_server: ServerProcess) -> str:
    """A run made through the API whose output is markup (the echo provider repeats it)."""
    config = {"description": "hostile", "prompts": ["Say {{word}}"], "providers": ["echo"],
              "tests": [{"vars": {"word": HOSTILE},
                         "assert": [{"type": "equals", "value": "no"}]}]}  # fmt: skip
    job_id = httpx.post(f"{ui_server.api}/evaluate", json={"config": config}).json()["job_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = httpx.get(f"{ui_server.api}/jobs/{job_id}").json()["job"]
        if job["status"] == "succeeded":
            return str(job["run_id"])
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def laptop(browser: Browser, ui_server: ServerProcess) -> Iterator[UiPage]:
    with ui_page(browser, ui_server.url) as ui:
        yield ui


def query(ui: UiPage) -> dict[str, list[str]]:
    return parse_qs(urlsplit(ui.page.url).query)


def rows(ui: UiPage) -> list[str]:
    """The row labels of the page shown."""
    return ui.page.locator(f"{ROWS} th div:first-child").all_inner_texts()


def info_is(ui: UiPage, pattern: str) -> None:
    """Wait for the matrix's info line. (Playwright's wait_for_function evaluates strings,
    which the page's CSP forbids; its assertions do not.)"""
    from playwright.sync_api import expect

    expect(ui.page.locator("#m-info")).to_have_text(re.compile(pattern))


def url_has(ui: UiPage, pattern: str) -> None:
    from playwright.sync_api import expect

    expect(ui.page).to_have_url(re.compile(pattern))


def idle(ui: UiPage) -> None:
    """Wait until no matrix page is loading."""
    from playwright.sync_api import expect

    expect(ui.page.locator("#matrix")).not_to_have_attribute("aria-busy", "true")
    ui.page.wait_for_selector(ROWS)


def is_focused(ui: UiPage, row: int, col: int) -> None:
    from playwright.sync_api import expect

    expect(ui.page.locator(f'td[data-row="{row}"][data-col="{col}"]')).to_be_focused()


def focused(ui: UiPage) -> tuple[int, int]:
    pos: list[int] = ui.page.evaluate(
        "[Number(document.activeElement.dataset.row), Number(document.activeElement.dataset.col)]"
    )
    return pos[0], pos[1]


def test_cards_and_first_page(laptop: UiPage, runs: dict[str, str]) -> None:
    ui = laptop.goto(f"/runs/{runs['big']}")
    ui.page.wait_for_selector(ROWS)
    assert ui.page.inner_text("#title") == "Four hundred results"
    cards = ui.page.locator("#cards article.card")
    assert cards.count() == 4
    first = cards.nth(0).inner_text()
    assert "short answer" in first and "gpt-4.1-mini" in first
    for fact in ("pass rate", "95% CI", "mean score", "cost", "tokens", "latency p50/p95"):
        assert fact in first
    assert "85.0%" in first and "76.7–90.7%" in first  # 85 of 100, Wilson 95%
    assert ui.page.locator(ROWS).count() == 50
    assert ui.page.locator(f"{ROWS} td[role=gridcell]").count() == 200
    assert ui.page.inner_text("#m-info") == "Cases 1–50 of 100"
    assert rows(ui)[:2] == ["case 0: topic 0", "case 1: topic 1"]
    cell = ui.page.locator('td[data-row="0"][data-col="0"]')
    assert "cell-fail" in (cell.get_attribute("class") or "")  # trial 0 fails (1 in 7)
    assert "FAIL" in cell.inner_text() and "score 0.50" in cell.inner_text()
    assert ui.page.locator("#exports button").all_inner_texts() == [
        "HTML", "JSON", "Markdown", "CSV", "JUnit XML", "JSONL"]  # fmt: skip
    ui.screenshot("run-laptop", full_page=False)
    ui.assert_clean()


def test_pages_filters_and_order_live_in_the_url(laptop: UiPage, runs: dict[str, str]) -> None:
    ui = laptop.goto(f"/runs/{runs['big']}")
    ui.page.wait_for_selector(ROWS)
    ui.page.click("#p-next")
    info_is(ui, r"^Cases 51–100 of 100$")
    assert query(ui) == {"offset": ["50"]} and rows(ui)[0] == "case 50: topic 16"
    ui.page.go_back()
    info_is(ui, r"^Cases 1–50 of 100$")
    assert rows(ui)[0] == "case 0: topic 0"

    ui.page.select_option("#f-status", "error")
    url_has(ui, r"status=error")
    info_is(ui, r"^Cases 1–8 of 8 matching \(100 in all\)$")
    for r in range(8):  # every row shown has an error cell, and only those are coloured
        assert ui.page.locator(f'tr[data-row="{r}"] td.cell-error').count() == 1
        assert ui.page.locator(f'tr[data-row="{r}"] td.other').count() == 3
    ui.page.select_option("#f-sort", "-latency")
    url_has(ui, r"sort=-latency")
    idle(ui)
    assert query(ui) == {"status": ["error"], "sort": ["-latency"]}
    shown = rows(ui)
    ui.page.reload()
    ui.page.wait_for_selector(ROWS)
    assert rows(ui) == shown  # a reload keeps filter and order
    assert ui.page.input_value("#f-status") == "error"
    assert ui.page.input_value("#f-sort") == "-latency"

    # The failed-assertion choices come from the run's verdicts.
    ui.page.locator("#f-assertion option", has_text="regex (56 failed)").wait_for(state="attached")
    ui.page.select_option("#f-status", "")
    ui.page.select_option("#f-assertion", "regex")
    url_has(ui, r"assertion=regex")
    info_is(ui, r"^Cases 1–50 of 56 matching \(100 in all\)$")
    assert ui.page.locator('tr[data-row="0"] td.cell-fail').count() == 1
    ui.page.select_option("#f-assertion", "")
    ui.page.select_option("#f-status", "error")
    info_is(ui, r"^Cases 1–8 of 8 matching")

    ui.page.fill("#f-q", "case 7:")
    ui.page.press("#f-q", "Enter")
    url_has(ui, r"q=case")
    info_is(ui, r"^No cases$")
    assert "No case matches these filters" in ui.page.inner_text("#m-empty")
    ui.page.click("#m-empty button")
    url_has(ui, r"^[^?]*\?sort=-latency$")
    idle(ui)
    assert query(ui) == {"sort": ["-latency"]}
    ui.assert_clean()


def test_keyboard_moves_opens_and_closes(laptop: UiPage, runs: dict[str, str]) -> None:
    ui = laptop.goto(f"/runs/{runs['big']}")
    ui.page.wait_for_selector(ROWS)
    ui.page.focus('td[data-row="0"][data-col="0"]')
    ui.page.keyboard.press("ArrowRight")
    ui.page.keyboard.press("ArrowDown")
    ui.page.keyboard.press("ArrowDown")
    assert focused(ui) == (2, 1)
    ui.page.keyboard.press("End")
    assert focused(ui) == (2, 3)
    ui.page.keyboard.press("Enter")
    dialog = ui.page.locator("dialog#trial")
    ui.page.wait_for_selector("#trial-body pre")
    text = dialog.inner_text()
    assert "case 2: topic 2 · step by step × haiku" in text
    for part in ("Output", "Assertions", "Rendered prompt", "Raw response"):
        assert part in text
    assert "Réponse 11 (step by step): the word is w2." in text  # trial 2 * 4 + 3
    assert "Answer in one line (step by step). Topic 2. Say w2." in text
    assert "Output contains 'w2'" in text and "regex" in text
    ui.screenshot("run-dialog", full_page=False)
    ui.page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    assert focused(ui) == (2, 3)  # back on the cell that opened it
    ui.page.keyboard.press("PageDown")
    url_has(ui, r"offset=50")
    is_focused(ui, 0, 3)
    assert focused(ui) == (0, 3) and rows(ui)[0] == "case 50: topic 16"
    ui.page.keyboard.press("ArrowUp")  # above the first row: the previous page's last
    url_has(ui, r"/runs/[^?]*$")
    is_focused(ui, 49, 3)
    assert focused(ui) == (49, 3)
    ui.assert_clean()


def test_model_output_is_text_never_markup(browser: Browser, ui_server: ServerProcess,
                                           hostile_run: str) -> None:  # fmt: skip
    with ui_page(browser, ui_server.url) as ui:
        dialogs: list[str] = []
        fetched: list[str] = []
        ui.page.on("dialog", lambda d: dialogs.append(d.message))
        ui.page.on("request", lambda r: fetched.append(r.url))
        ui.goto(f"/runs/{hostile_run}")
        ui.page.wait_for_selector(ROWS)
        cell = ui.page.locator('td[data-row="0"][data-col="0"]')
        assert HOSTILE in cell.inner_text()
        cell.click()
        ui.page.wait_for_selector("#trial-body pre")
        assert f"Say {HOSTILE}" in ui.page.inner_text("#trial-body")
        ui.page.click("#trial-body details summary")  # the raw response, opened
        assert ui.page.locator("main img, dialog img").count() == 0
        assert dialogs == []
        assert not [u for u in fetched if urlsplit(u).path.endswith("/x")]
        ui.assert_clean()


def test_phone_dark_scrolls_the_matrix_not_the_page(browser: Browser, ui_server: ServerProcess,
                                                     runs: dict[str, str]) -> None:  # fmt: skip
    with ui_page(browser, ui_server.url, viewport=PHONE, color_scheme="dark") as ui:
        ui.goto(f"/runs/{runs['big']}")
        ui.page.wait_for_selector(ROWS)
        sizes: dict[str, Any] = ui.page.evaluate(
            "({page: document.documentElement.scrollWidth, view: innerWidth,"
            " box: document.getElementById('m-scroll').scrollWidth,"
            " boxView: document.getElementById('m-scroll').clientWidth})"
        )
        assert sizes["page"] <= sizes["view"]  # nothing sticks out of the screen
        assert sizes["box"] > sizes["boxView"]  # the wide matrix scrolls in its own box
        assert ui.page.locator(f"{ROWS} .hide-narrow").first.is_hidden()
        # The cards start folded on a phone, so the matrix is near the top.
        assert ui.page.locator("#cards").is_hidden()
        assert ui.page.locator(ROWS).first.bounding_box()["y"] < PHONE["height"]  # type: ignore[index]
        ui.screenshot("run-phone", full_page=False)
        ui.page.click("#summary-title")
        assert ui.page.locator("#cards article.card").count() == 4
        assert ui.page.locator("#cards article.card").first.is_visible()
        ui.page.click('td[data-row="0"][data-col="1"]')
        ui.page.wait_for_selector("#trial-body pre")
        box = ui.page.locator("dialog#trial").bounding_box()
        assert box is not None and box["width"] <= PHONE["width"]
        ui.screenshot("run-phone-dialog", full_page=False)
        ui.assert_clean()


def test_empty_states_and_a_missing_run(
    browser: Browser, ui_server: ServerProcess, laptop: UiPage, runs: dict[str, str]
) -> None:
    ui = laptop.goto(f"/runs/{runs['empty']}")
    ui.page.wait_for_selector("#m-empty .empty")
    assert "no results yet" in ui.page.inner_text("#m-empty")
    assert ui.page.locator(ROWS).count() == 0 and ui.page.is_hidden("#m-scroll")
    ui.assert_clean()
    with ui_page(browser, ui_server.url, expected_errors=("404",)) as missing:
        missing.goto("/runs/no-such-run")
        missing.page.wait_for_selector("#banner:not([hidden])")
        assert "no run matches" in missing.page.inner_text("#banner")
        assert "No run here" in missing.page.inner_text("#run-meta")
        assert missing.page.is_hidden("#results")
        missing.assert_clean()


def test_a_bad_page_in_the_url_still_opens(
    browser: Browser, ui_server: ServerProcess, laptop: UiPage, runs: dict[str, str]
) -> None:
    with ui_page(browser, ui_server.url, expected_errors=("400",)) as odd:
        odd.goto(f"/runs/{runs['big']}?sort=score&column=9")  # the run has 4 columns
        odd.page.wait_for_selector(ROWS)
        assert "column 9 does not exist" in odd.page.inner_text("#banner")
        assert odd.page.locator(ROWS).count() == 50 and query(odd) == {}
        odd.assert_clean()
    ui = laptop.goto(f"/runs/{runs['big']}?offset=5000&status=nope&limit=7")
    ui.page.wait_for_selector("#m-empty .empty")
    assert "past the last case" in ui.page.inner_text("#m-empty")
    ui.page.click("#m-empty button")
    ui.page.wait_for_selector(ROWS)
    assert rows(ui)[0] == "case 0: topic 0"
    ui.assert_clean()


def test_exports_download_every_format_with_the_token(browser: Browser, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'auth.db'}"
    with running_server(tmp_path, db=db, env={"PROMPTYARD_AUTH": "true"}) as server:
        run_id = build_run(db, 8, "with auth")
        with Store.open(db) as store:
            _, secret = store.tokens.create("ui", scopes=["read"])
        with ui_page(browser, server.url, token=secret) as ui:
            ui.goto(f"/runs/{run_id}")
            ui.page.wait_for_selector(ROWS)
            assert ui.page.locator(ROWS).count() == 2
            got = {}
            formats = [("html", "html", "<!DOCTYPE html>"), ("json", "json", "{"),
                       ("markdown", "md", "#"), ("csv", "csv", ""),
                       ("junit", "xml", "<?xml"), ("jsonl", "jsonl", "{")]  # fmt: skip
            for fmt, ext, start in formats:
                with ui.page.expect_download() as info:
                    ui.page.click(f'#exports button[data-format="{fmt}"]')
                download = info.value
                assert download.suggested_filename == f"run-{run_id[:8]}.{ext}"
                text = Path(download.path()).read_text(encoding="utf-8")
                assert text.startswith(start) and len(text) > 50
                got[fmt] = text
            assert "case 0: topic 0" in got["csv"] and "with auth" in got["html"]
            ui.assert_clean()
