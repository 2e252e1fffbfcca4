"""The registry pages in Chromium against a real server: home (projects, search, empty
states), a prompt (labels, deploy, tags, diff, runs chart) and a dataset (rows, filters,
pages, upload with a row error). Prompt text and dataset values hold markup that must stay
text; on a phone no page may scroll sideways."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from tests.e2e.browser import PHONE
from tests.ui.uitools import UiPage, ui_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

HOSTILE = "<img src=x onerror=alert(1)>"
PROMPT = "ui.greeter"
DATASET = "ui-people"
LONG = "ui." + "x" * 150  # one unbroken name: must not widen a phone's page
ROWS = 60  # three pages of 25


@dataclass(frozen=True)
class Seeded:
    server: ServerProcess
    runs: list[str]  # oldest first

    @property
    def api(self) -> str:
        return self.server.api


def evaluate(api: str, **body: Any) -> str:
    resp = httpx.post(f"{api}/evaluate", json={"providers": ["echo"], **body})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    for _ in range(400):
        job = httpx.get(f"{api}/jobs/{job_id}").json()["job"]
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert job["status"] == "succeeded", job
    run_id: str = job["run_id"]
    return run_id


@pytest.fixture(scope="module")
def seeded(ui_server: ServerProcess) -> Seeded:
    api = ui_server.api

    def ok(resp: httpx.Response) -> None:
        assert resp.is_success, resp.text

    ok(httpx.post(f"{api}/prompts", json={"name": PROMPT, "tags": ["support"],
                                          "template": f"Hello {{{{q}}}}\n{HOSTILE}"}))  # fmt: skip
    ok(httpx.post(f"{api}/prompts/{PROMPT}/versions", json={"template": "Hi {{q}}\nThanks"}))
    ok(httpx.post(f"{api}/prompts/{PROMPT}/versions", json={"template": "Hi {{q}}\nThanks!"}))
    ok(httpx.post(f"{api}/prompts", json={"name": LONG, "template": "x"}))
    rows = [{"vars": {"q": f"item-{i:02d}"}, "split": "test" if i % 4 == 0 else "train",
             "expected": f"Hi item-{i:02d}",
             "assert": [{"type": "contains", "value": "Hi" if i % 2 else "item-0"}]}
            for i in range(ROWS)]  # fmt: skip
    rows[5]["vars"]["q"] = HOSTILE
    ok(httpx.post(f"{api}/datasets", json={"name": DATASET, "rows": rows}))
    # v1 says "Hello", so it fails the odd rows' check for "Hi": the chart has a rise.
    runs = [evaluate(api, prompt=f"{PROMPT}@{v}", dataset=DATASET) for v in (1, 2, 3)]
    return Seeded(ui_server, runs)


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def ui(browser: Browser, seeded: Seeded, dialogs: list[str]) -> Iterator[UiPage]:
    # 400 and 404: the answers the tests provoke on purpose (a bad upload).
    with ui_page(browser, seeded.server.url, expected_errors=("status of 400",)) as page:
        page.page.on("dialog", lambda d: dialogs.append(f"{d.type}: {d.message}"))
        yield page


def assert_markup_stayed_text(ui: UiPage) -> None:
    assert ui.page.locator("main img").count() == 0
    assert HOSTILE in ui.page.inner_text("main")


def test_home_lists_projects_and_searches(ui: UiPage, seeded: Seeded) -> None:
    page = ui.goto("/").page
    page.wait_for_selector("section[data-project=quickstart]")
    quickstart = page.inner_text("section[data-project=quickstart]")
    assert "triage_v2" in quickstart and "tests" in quickstart
    mine = page.locator("section[data-project='']")
    assert mine.locator(f"a[href='/prompts/{PROMPT}']").count() == 1
    assert mine.locator(f"a[href='/datasets/{DATASET}']").count() == 1
    run_links = mine.locator("[data-kind=runs] a")
    shown = [run_links.nth(i).get_attribute("href") for i in range(run_links.count())]
    assert shown == [f"/runs/{r}" for r in reversed(seeded.runs)]
    ui.screenshot("home")

    page.fill("#search", "greeter")
    page.locator("section[data-project=quickstart]").wait_for(state="detached")
    assert page.locator("[data-kind=prompts] li").all_inner_texts()[0].startswith(PROMPT)
    assert page.locator("[data-kind=prompts] li").count() == 1
    assert page.locator("[data-kind=datasets] li").count() == 0  # ui-people has no "greeter"
    assert page.locator("[data-kind=runs] li").count() == 3  # their descriptions name it
    assert "q=greeter" in page.url

    page.fill("#search", "no-such-thing-anywhere")
    page.wait_for_selector("#results > .empty")
    assert "Nothing matches" in page.inner_text("#results")
    ui.assert_clean()


def test_home_without_anything_says_what_to_do(browser: Browser, tmp_path: Path) -> None:
    empty_root = tmp_path / "projects"
    empty_root.mkdir()
    with running_server(tmp_path, projects_root=empty_root) as server, \
            ui_page(browser, server.url) as ui:  # fmt: skip
        ui.goto("/").page.wait_for_selector("#results > .empty")
        text = ui.page.inner_text("#results")
        assert "No projects, prompts or datasets yet" in text and "promptyard push" in text
        ui.assert_clean()


def test_prompt_page_deploys_diffs_tags_and_charts(
    ui: UiPage, seeded: Seeded, dialogs: list[str]
) -> None:
    page = ui.goto(f"/prompts/{PROMPT}").page
    page.wait_for_selector("#diff-out pre.diff")
    assert page.inner_text("#title") == PROMPT
    assert page.inner_text("#template-text") == "Hi {{q}}\nThanks!"  # the latest by default
    # Runs over time: one point per run and series, a table row per run, newest first.
    assert page.locator("svg.chart circle").count() == 2 * len(seeded.runs)
    table_runs = page.locator("#runs-table tbody a")
    assert table_runs.first.get_attribute("href") == f"/runs/{seeded.runs[-1]}"
    rates = page.locator("#runs-table tbody td:nth-child(4)").all_inner_texts()
    assert rates[0] != rates[-1]  # v3 passes more than v1
    assert page.locator("#runs-table tbody tr").count() == len(seeded.runs)

    page.click("tr[data-version='1'] button:has-text('Show')")
    page.wait_for_selector("#template-body :text('Version 1')")
    assert page.inner_text("#template-text") == f"Hello {{{{q}}}}\n{HOSTILE}"
    assert_markup_stayed_text(ui)

    page.select_option("#diff-a", "1")
    page.select_option("#diff-b", "3")
    page.click("#diff-show")
    page.wait_for_selector("#diff-summary:has-text('v1 → v3')")
    assert page.locator(".diff .del").all_inner_texts() == ["-Hello {{q}}", f"-{HOSTILE}"]
    assert page.locator(".diff .add").all_inner_texts() == ["+Hi {{q}}", "+Thanks!"]
    assert "+2 −2 lines" in page.inner_text("#diff-summary")

    page.fill("#deploy-label", "production")
    page.click("tr[data-version='2'] button.deploy")
    page.wait_for_selector("#labels-body [data-label=production]")
    assert page.inner_text("#labels-body") == "production → v2"
    assert dialogs == [f'confirm: Deploy {PROMPT} version 2 to "production"?']
    deployed = httpx.get(f"{seeded.api}/prompts/{PROMPT}", params={"label": "production"})
    assert deployed.json()["version"] == 2 and deployed.json()["template"] == "Hi {{q}}\nThanks"
    assert page.inner_text("tr[data-version='2'] td:nth-child(4)") == "production"

    page.fill("#tags-input", "support, Beta ")
    page.click("#tags-save")
    page.wait_for_selector("#tag-list :text('beta')")
    assert httpx.get(f"{seeded.api}/prompts/{PROMPT}").json()["tags"] == ["support", "beta"]
    ui.screenshot("prompt")
    ui.assert_clean()


def test_prompt_page_empty_states_and_unknown_prompt(browser: Browser, seeded: Seeded) -> None:
    httpx.post(f"{seeded.api}/prompts", json={"name": "ui.lonely", "template": "just one"})
    with ui_page(browser, seeded.server.url, expected_errors=("status of 404",)) as ui:
        page = ui.goto("/prompts/ui.lonely").page
        page.wait_for_selector("#diff-body .empty")
        assert "Only one version" in page.inner_text("#diff-body")
        assert "No runs of this prompt yet" in page.inner_text("#runs-body")
        assert "No labels yet" in page.inner_text("#labels-body")
        ui.goto("/prompts/ui.missing").page.wait_for_selector("#banner:not([hidden])")
        assert "ui.missing" in page.inner_text("#banner")
        assert "Could not load prompt" in page.inner_text("#app")
        ui.assert_clean()


def test_dataset_page_pages_filters_and_uploads(ui: UiPage, seeded: Seeded) -> None:
    page = ui.goto(f"/datasets/{DATASET}").page
    page.wait_for_selector("#rows tbody tr")
    assert page.inner_text("#row-count") == f"Rows 1–25 of {ROWS}"
    first = page.locator("#rows tbody tr").first.inner_text()
    assert "item-00" in first and "Hi item-00" in first and "contains item-0" in first
    assert "test" in first  # row 0 is in the test split
    assert_markup_stayed_text(ui)

    page.click("#next")
    page.wait_for_selector(f"#row-count:has-text('Rows 26–50 of {ROWS}')")
    assert page.inner_text("#page-of") == "Page 2 of 3"
    assert "item-25" in page.locator("#rows tbody tr").first.inner_text()
    assert "page=2" in page.url
    page.click("#next")
    page.wait_for_selector(f"#row-count:has-text('Rows 51–60 of {ROWS}')")
    assert page.locator("#next").is_disabled()

    page.select_option("#split", "test")
    page.wait_for_selector("#row-count:has-text('of 15')")  # every 4th of 60
    splits = page.locator("#rows tbody td:nth-child(5)").all_inner_texts()
    assert splits and set(splits) == {"test"}

    page.select_option("#split", "")
    page.fill("#row-search", "item-4")
    page.wait_for_selector("#row-count:has-text('of 10')")  # item-40 .. item-49
    assert page.inner_text("#page-of") == "Page 1 of 1"
    page.fill("#row-search", "nothing-like-this")
    page.wait_for_selector("#rows-out .empty")
    assert "No rows match" in page.inner_text("#rows-out")
    page.fill("#row-search", "")
    page.wait_for_selector(f"#row-count:has-text('of {ROWS}')")

    bad = b"q,__split\nfine,train\nwrong,holdout\n"
    page.set_input_files("#upload-file", files=[{"name": "bad.csv", "mimeType": "text/csv",
                                                 "buffer": bad}])  # fmt: skip
    page.click("#upload-go")
    page.wait_for_selector("#upload-detail")
    detail = page.inner_text("#upload-detail")
    assert "row 3" in detail and "holdout" in detail
    assert httpx.get(f"{seeded.api}/datasets/{DATASET}").json()["latest_version"] == 1
    ui.page.emulate_media(color_scheme="dark")
    ui.screenshot("dataset")

    good = b"q,__split\nnew-a,train\nnew-b,val\n"
    page.set_input_files("#upload-file", files=[{"name": "good.csv", "mimeType": "text/csv",
                                                 "buffer": good}])  # fmt: skip
    page.click("#upload-go")
    page.wait_for_selector("#row-count:has-text('Rows 1–2 of 2')")
    assert "version 2" in page.inner_text("#banner")
    assert "new-a" in page.locator("#rows tbody tr").first.inner_text()
    assert httpx.get(f"{seeded.api}/datasets/{DATASET}").json()["latest_version"] == 2
    ui.assert_clean()


@pytest.mark.parametrize("path", ["/", f"/prompts/{PROMPT}", f"/datasets/{DATASET}",
                                  f"/prompts/{LONG}"])  # fmt: skip
def test_pages_fit_a_phone_in_the_dark(browser: Browser, seeded: Seeded, path: str) -> None:
    with ui_page(browser, seeded.server.url, viewport=PHONE, color_scheme="dark") as ui:
        page = ui.goto(path).page
        page.wait_for_selector("#app :is(section, .empty, table)")
        page.wait_for_load_state("networkidle")
        width, inner = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
        assert width <= inner, f"{path} is {width} px wide on a {inner} px phone"
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert dark == "rgb(20, 23, 27)"  # the dark theme's --bg
        ui.assert_clean()
