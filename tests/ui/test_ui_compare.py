"""The compare page on a real server: runs of the same cases with different prompts (the echo
provider, no network), flips marked against a baseline the user picks, the paired test in
words, the picker, and a run too large to show whole."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from bench.serverctl import ServerProcess
from tests.ui.uitools import ui_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CASE_LIMIT = 500  # static/js/pages/compare.js


def eval_config(template: str, cases: list[dict[str, str]], tag: str) -> dict[str, Any]:
    """One prompt labelled "p" (so runs with different templates pair), `cases` as vars, each
    asserting the echoed prompt contains "yes"."""
    return {
        "description": tag,
        "prompts": [{"raw": template, "label": "p"}],
        "providers": ["echo"],
        "tests": [{"description": f"case {i}", "vars": v,
                   "assert": [{"type": "contains", "value": "yes"}]}
                  for i, v in enumerate(cases)],
    }  # fmt: skip


def wait_job(server: ServerProcess, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail: dict[str, Any] = httpx.get(f"{server.api}/jobs/{job_id}", timeout=10).json()
        if detail["job"]["status"] not in ("queued", "running"):
            assert detail["job"]["status"] == "succeeded", detail["job"]
            return detail
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def make_run(server: ServerProcess, config: dict[str, Any]) -> tuple[str, str]:
    """(run id, job id) of a finished evaluate job."""
    resp = httpx.post(f"{server.api}/evaluate", json={"config": config}, timeout=30)
    assert resp.status_code == 202, resp.text
    job_id: str = resp.json()["job_id"]
    run_id: str = wait_job(server, job_id)["job"]["run_id"]
    return run_id, job_id


# Case i passes in A when i is odd, in B unless 3 divides i, in C always:
# B improves cases 2 and 4 and regresses case 3; C improves 0, 2 and 4.
CASES = [{"a": "yes" if i % 2 else "no", "b": "yes" if i % 3 else "no", "c": "yes"}
         for i in range(6)]  # fmt: skip


@pytest.fixture(scope="module")
def runs(ui_server: ServerProcess) -> dict[str, str]:
    templates = {"A": "{{a}}", "B": "{{b}}", "C": "{{c}}"}
    return {name: make_run(ui_server, eval_config(t, CASES, f"run {name}"))[0]
            for name, t in templates.items()}  # fmt: skip


def sentences(page: Page) -> list[str]:
    """The paired test of each run against the baseline, in words."""
    return page.locator(".verdict p:not(.muted)").all_inner_texts()


def cell(page: Page, case: int, column: int) -> dict[str, str]:
    """Class and text of the table cell for `case` in run column `column` (0: baseline)."""
    row = page.locator("#case-table tbody tr").filter(has=page.get_by_role(
        "rowheader", name=f"case {case}"))  # fmt: skip
    td = row.locator("td").nth(column)
    return {"class": td.get_attribute("class") or "", "text": td.inner_text()}


def test_flips_against_the_baseline_and_the_test_in_words(
    browser: Browser, ui_server: ServerProcess, runs: dict[str, str]
) -> None:
    with ui_page(browser, ui_server.url) as ui:
        ui.goto(f"/compare?runs={runs['A']},{runs['B']},{runs['C']}&baseline={runs['A']}")
        ui.page.wait_for_selector("#case-table")
        assert sentences(ui.page) == [
            "B is better than A on 2 of 6 cases and worse on 1; the difference is not "
            "significant, p = 1.",
            "C is better than A on 3 of 6 cases and worse on none; the difference is not "
            "significant, p = 0.25.",
        ]
        assert "regressed" in cell(ui.page, 3, 1)["class"]
        assert "▼ regressed" in cell(ui.page, 3, 1)["text"]
        assert "improved" in cell(ui.page, 2, 1)["class"]
        assert "improved" in cell(ui.page, 2, 2)["class"]
        assert "cell-pass" in cell(ui.page, 3, 0)["class"]
        assert "cell-fail" in cell(ui.page, 3, 1)["class"]
        unchanged = cell(ui.page, 5, 1)
        assert "improved" not in unchanged["class"] and "regressed" not in unchanged["class"]
        assert all("improved" not in cell(ui.page, i, 0)["class"] for i in range(6))
        assert "4 of 6 cases changed" in ui.page.inner_text("main")

        ui.page.get_by_label("Only cases that changed").check()
        visible = ui.page.locator("#case-table tbody tr:visible th").all_inner_texts()
        assert [v.split("\n")[0] for v in visible] == ["case 0", "case 2", "case 3", "case 4"]
        ui.page.get_by_label("Only cases that changed").uncheck()
        assert ui.page.locator("#case-table tbody tr:visible").count() == 6
        assert ui.page.locator("#cut").count() == 0  # nothing was cut
        ui.screenshot("compare")
        ui.assert_clean()


def test_the_baseline_is_the_users_choice(
    browser: Browser, ui_server: ServerProcess, runs: dict[str, str]
) -> None:
    with ui_page(browser, ui_server.url) as ui:
        ui.goto(f"/compare?runs={runs['A']},{runs['B']}&baseline={runs['B']}")
        ui.page.wait_for_selector("#case-table")
        first = ui.page.locator(".cards .card").first
        assert first.locator("a").get_attribute("href") == f"/runs/{runs['B']}"
        assert "baseline" in first.inner_text()
        verdict = sentences(ui.page)[0]
        assert verdict.startswith("B is worse than A on 2 of 6 cases and better on 1;")
        assert "improved" in cell(ui.page, 3, 1)["class"]  # run A fixes what B broke
        assert ui.page.locator("#baseline").input_value() == runs["B"]
        ui.assert_clean()


def test_the_picker_builds_the_comparison(
    browser: Browser, ui_server: ServerProcess, runs: dict[str, str]
) -> None:
    with ui_page(browser, ui_server.url) as ui:
        ui.goto("/compare")
        ui.page.wait_for_selector("#pick")
        assert ui.page.locator("details").first.get_attribute("open") is not None
        assert "Choose two or more runs" in ui.page.inner_text("main")
        compare = ui.page.locator("#pick button[type=submit]")
        assert compare.is_disabled()
        ui.page.check(f"input[name=run][value='{runs['A']}']")
        assert compare.is_disabled()  # one run is not a comparison
        ui.page.check(f"input[name=run][value='{runs['C']}']")
        assert compare.is_enabled()
        ui.page.select_option("#baseline", runs["C"])
        compare.click()
        ui.page.wait_for_selector("#case-table")
        assert f"baseline={runs['C']}" in ui.page.url
        verdict = sentences(ui.page)[0]
        assert verdict.startswith("B is worse than A on 3 of 6 cases and better on none;")
        ui.assert_clean()


def test_a_large_run_shows_its_first_cases_and_says_so(
    browser: Browser, ui_server: ServerProcess
) -> None:
    cases = [{"a": "yes", "b": "no" if i == 0 else "yes"} for i in range(CASE_LIMIT + 20)]
    big_a, _ = make_run(ui_server, eval_config("{{a}}", cases, "big A"))
    big_b, _ = make_run(ui_server, eval_config("{{b}}", cases, "big B"))
    with ui_page(browser, ui_server.url) as ui:
        ui.goto(f"/compare?runs={big_a},{big_b}")
        ui.page.wait_for_selector("#case-table", timeout=20000)
        note = ui.page.inner_text("#cut")
        assert f"Run A has {CASE_LIMIT + 20} trials" in note and f"first {CASE_LIMIT}" in note
        assert ui.page.locator("#case-table tbody tr").count() == CASE_LIMIT
        # The paired test counts every case, not only those shown.
        verdict = sentences(ui.page)[0]
        assert verdict.startswith(f"B is worse than A on 1 of {CASE_LIMIT + 20} cases")
        ui.assert_clean()


def test_an_unknown_run_is_named_in_the_banner(
    browser: Browser, ui_server: ServerProcess, runs: dict[str, str]
) -> None:
    with ui_page(browser, ui_server.url, expected_errors=("404",)) as ui:
        ui.goto(f"/compare?runs={runs['A']},no-such-run")
        ui.page.wait_for_selector("#banner:not([hidden])")
        assert "no-such-run" in ui.page.inner_text("#banner")
        ui.assert_clean()


def relabel(config: dict[str, Any], *prompts: tuple[str, str]) -> dict[str, Any]:
    """`config` with these (template, label) prompts instead of its one prompt."""
    return {**config, "prompts": [{"raw": raw, "label": label} for raw, label in prompts]}


def test_runs_that_differ_by_their_prompt_pair_by_case(
    browser: Browser, ui_server: ServerProcess
) -> None:
    # The main use: "did my prompt change help?". The labels differ, the cases are the same.
    run_a, _ = make_run(ui_server, relabel(eval_config("", CASES, "old"), ("{{a}}", "old")))
    run_b, _ = make_run(ui_server, relabel(eval_config("", CASES, "new"), ("{{b}}", "new")))
    with ui_page(browser, ui_server.url) as ui:
        ui.goto(f"/compare?runs={run_a},{run_b}")
        ui.page.wait_for_selector("#case-table")
        assert sentences(ui.page) == [
            "B is better than A on 2 of 6 cases and worse on 1; the difference is not "
            "significant, p = 1.",
        ]
        assert ui.page.locator("#case-table tbody tr").count() == 6
        assert "regressed" in cell(ui.page, 3, 1)["class"]
        assert "improved" in cell(ui.page, 2, 1)["class"]
        ui.assert_clean()


def test_two_prompts_of_one_run_side_by_side(
    browser: Browser, ui_server: ServerProcess, runs: dict[str, str]
) -> None:
    both = relabel(eval_config("", CASES, "two prompts"), ("{{a}}", "pa"), ("{{b}}", "pb"))
    run, _ = make_run(ui_server, both)
    with ui_page(browser, ui_server.url) as ui:
        # Against a run of one prompt, nothing pairs until a prompt is chosen: the page says so.
        ui.goto(f"/compare?runs={runs['C']},{run}")
        ui.page.wait_for_selector("#case-table")
        assert sentences(ui.page)[0].startswith("B and A share no case to compare")
        assert "choose one of each" in ui.page.inner_text(".verdict .hint")
        ui.page.select_option("#prompt-1", "pa")
        ui.page.wait_for_url("**prompt.1=pa**")
        ui.page.wait_for_selector("#case-table")
        assert sentences(ui.page)[0].startswith("B is worse than A on 3 of 6 cases")
        # One run, its two prompts as two columns.
        ui.goto(f"/compare?runs={run}")
        ui.page.wait_for_selector("#pick")
        ui.page.get_by_role("button", name="Compare its prompts").click()
        ui.page.wait_for_selector("#case-table")
        assert "prompt.0=pa" in ui.page.url and "prompt.1=pb" in ui.page.url
        assert sentences(ui.page) == [
            "B is better than A on 2 of 6 cases and worse on 1; the difference is not "
            "significant, p = 1.",
        ]
        assert ui.page.locator("#case-table tbody tr").count() == 6
        ui.assert_clean()
