"""Jobs in the UI against a real server and the LLM stub: start an evaluation from the form and
watch it live, reload mid-job and resume without duplicates, cancel, start an optimization
from the form (the scripted task model and proposer, reached through server profiles), read
its tree and decisions, deploy the winner; the jobs list filters, pages and refreshes itself."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from bench.stub_server import StubServer
from bench.task_model import DEFAULT_PROMPT, install, make_cases
from tests.ui.uitools import UiPage, ui_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Request

# Profiles name the key's env var (they cannot hold it); the operator allows that variable,
# and the stub's host for it (the server reads and sends no other key).
ENV = {"STUB_KEY": "sk-test", "PROMPTYARD_KEY_ENVS": "STUB_KEY",
       "PROMPTYARD_KEY_HOSTS": "STUB_KEY=127.0.0.1"}  # fmt: skip
HOSTILE = "<img src=x onerror=alert(1)>"
JOB_URL = re.compile(r"/jobs/[0-9a-f-]{36}$")


def post(server: ServerProcess, path: str, body: dict[str, Any], status: int = 201) -> Any:
    resp = httpx.post(server.api + path, json=body, timeout=10)
    assert resp.status_code == status, resp.text
    return resp.json()


def get(server: ServerProcess, path: str, **params: Any) -> Any:
    resp = httpx.get(server.api + path, params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, _stub_server_session: StubServer
) -> Iterator[ServerProcess]:
    """A server with profiles for the stub's scripted models, a prompt and two datasets."""
    stub = _stub_server_session
    with running_server(tmp_path_factory.mktemp("ui-jobs"), env=ENV) as srv:
        for name, model in (("task", "task-model"), ("proposer", "proposer-model")):
            config = {"apiBaseUrl": stub.base_url, "apiKeyEnvar": "STUB_KEY",
                      "cost": {"input": 0.5, "output": 1.5}}  # fmt: skip
            post(srv, "/profiles", {"name": name, "provider_id": f"openai:chat:{model}",
                                    "config": config})  # fmt: skip
        post(srv, "/prompts", {"name": "code-word", "template": DEFAULT_PROMPT})
        post(srv, "/datasets", {"name": "words-40", "rows": make_cases(40)})
        post(srv, "/datasets", {"name": "words-300", "rows": make_cases(300)})
        post(srv, "/prompts", {"name": "hostile", "template": "Say {{ q }}"})
        check = [{"type": "contains", "value": "x"}]
        rows = [{"vars": {"q": HOSTILE}, "assert": check}, {"vars": {"q": "hi"}, "assert": check}]
        post(srv, "/datasets", {"name": "hostile", "rows": rows})
        yield srv


def start_eval(server: ServerProcess, dataset: str = "words-40", concurrency: int = 1) -> str:
    body = {"prompt": "code-word@1", "providers": ["task"], "dataset": dataset,
            "options": {"max_concurrency": concurrency, "cache": False}}  # fmt: skip
    job_id: str = post(server, "/evaluate", body, status=202)["job_id"]
    return job_id


def wait_done(server: ServerProcess, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = get(server, f"/jobs/{job_id}")["job"]
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def trial_rows(ui: UiPage) -> int:
    return ui.page.locator("#trials tbody tr").count()


def wait_rows(ui: UiPage, n: int) -> None:
    ui.page.locator("#trials tbody tr").nth(n - 1).wait_for(state="attached")


def wait_status(ui: UiPage, status: str, timeout: float = 60_000) -> None:
    ui.page.wait_for_selector(f"#status[data-status={status}]", timeout=timeout)


def test_evaluate_from_the_form_and_watch_it_live(
    browser: Browser, server: ServerProcess, stub_server: StubServer
) -> None:
    install(stub_server)
    stub_server.set_latency(150)  # 40 trials, 2 at a time: about 3 s
    with ui_page(browser, server.url) as ui:
        ui.goto("/jobs/new")
        ui.page.wait_for_selector("#start")
        ui.page.select_option("#project", "")
        ui.page.select_option("#prompt", "code-word")
        ui.page.select_option("#version", "code-word@1")
        ui.page.select_option("#dataset", "words-40")
        suggested = ui.page.eval_on_selector_all("#provider-options option",
                                                 "els => els.map(e => e.value)")  # fmt: skip
        assert {"task", "proposer", "openai:", "anthropic:"} <= set(suggested)
        ui.page.fill("input.provider", "task")
        ui.page.fill("#eval-max_concurrency", "2")
        ui.page.fill("#eval-repeat", "1")
        ui.page.uncheck("#eval-cache")  # answers cached by another test would come at once
        ui.page.click("#start")
        ui.page.wait_for_url(JOB_URL)
        job_id = ui.page.url.rsplit("/", 1)[1]

        wait_rows(ui, 3)
        # Live: trials arrive while the job runs.
        assert ui.page.get_attribute("#status", "data-status") == "running"
        assert 3 <= trial_rows(ui) < 40
        assert int(ui.page.get_attribute("#progress", "value") or 0) < 40
        ui.screenshot("job-live")

        wait_status(ui, "succeeded")
        assert trial_rows(ui) == 40
        assert ui.page.get_attribute("#progress", "value") == "40"
        assert ui.page.get_attribute("#progress", "max") == "40"
        assert "40 / 40 trials · 100%" in ui.page.inner_text("#progress-text")
        passed = int(ui.page.inner_text("#count-passed"))
        failed = int(ui.page.inner_text("#count-failed"))
        assert passed + failed == 40 and passed > 0 and failed > 0
        assert ui.page.locator("#cancel").is_hidden()
        assert ui.page.locator("#run-link").count() == 1
        ui.assert_clean()
    job = get(server, f"/jobs/{job_id}")
    assert job["job"]["status"] == "succeeded"
    options = job["manifest"]["request"]["options"]
    assert options == {"max_concurrency": 2, "repeat": 1, "cache": False}
    assert sum(e["type"] == "trial" for e in job["events"]) == 40


def test_a_reload_mid_job_resumes_without_duplicates(
    browser: Browser, server: ServerProcess, stub_server: StubServer
) -> None:
    install(stub_server)
    stub_server.set_latency(100)  # 40 trials one at a time: about 4 s
    job_id = start_eval(server)
    resumed_from: list[str | None] = []

    def on_request(request: Request) -> None:
        if request.url.endswith(f"/api/jobs/{job_id}/events"):
            resumed_from.append(request.headers.get("last-event-id"))

    with ui_page(browser, server.url) as ui:
        ui.goto(f"/jobs/{job_id}")
        wait_rows(ui, 5)
        seen = int(ui.page.evaluate(f"sessionStorage.getItem('promptyard.job.{job_id}.seq')"))
        assert seen >= 6  # the `step` event and at least five trials
        ui.page.on("request", on_request)
        ui.page.reload(wait_until="domcontentloaded")
        wait_status(ui, "succeeded")
        assert trial_rows(ui) == 40
        indexes = ui.page.eval_on_selector_all(
            "#trials tbody tr", "rs => rs.map(r => r.dataset.index)"
        )
        assert sorted(int(i) for i in indexes) == list(range(40))
        assert ui.page.inner_text("#count-trials") == "40"
        ui.assert_clean()
    end_seq = max(e["seq"] for e in get(server, f"/jobs/{job_id}")["events"])
    # The reloaded page streamed from where it had got to: mid-job, not from the start.
    assert len(resumed_from) == 1 and resumed_from[0] is not None
    assert seen <= int(resumed_from[0]) < end_seq


def test_cancel_a_running_job_from_its_page(
    browser: Browser, server: ServerProcess, stub_server: StubServer
) -> None:
    install(stub_server)
    stub_server.set_latency(300)  # 40 trials one at a time: 12 s unless cancelled
    job_id = start_eval(server)
    with ui_page(browser, server.url) as ui:
        ui.goto(f"/jobs/{job_id}")
        wait_rows(ui, 1)
        ui.page.click("#cancel")
        wait_status(ui, "cancelled", timeout=10_000)
        assert ui.page.locator("#cancel").is_hidden()
        assert 1 <= trial_rows(ui) < 40
        ui.assert_clean()
    assert wait_done(server, job_id)["status"] == "cancelled"


def test_untrusted_text_and_errors_render_as_text(
    browser: Browser, server: ServerProcess, stub_server: StubServer
) -> None:
    install(stub_server)
    # The server withholds upstream error bodies (docs/security.md), so the hostile text in
    # the error comes from the config instead: a model name.
    config = {"apiBaseUrl": stub_server.base_url, "apiKeyEnvar": "STUB_KEY"}
    profile = {"name": "hostile-model", "provider_id": "openai:chat:<b>bad</b>", "config": config}
    httpx.post(server.api + "/profiles", json=profile)
    stub_server.script({"status": 400, "body": {"error": {"message": "<b>bad</b> request"}}})
    body = {"prompt": "hostile", "providers": ["echo", "hostile-model"], "dataset": "hostile"}
    job_id = post(server, "/evaluate", body, status=202)["job_id"]
    wait_done(server, job_id)
    with ui_page(browser, server.url) as ui:
        ui.goto(f"/jobs/{job_id}")
        wait_status(ui, "succeeded")
        assert trial_rows(ui) == 4
        assert HOSTILE in ui.page.inner_text("#trials")
        assert ui.page.locator("#trials img").count() == 0
        errors = ui.page.inner_text("#errors")
        assert "openai:chat:<b>bad</b>: request refused" in errors
        assert ui.page.locator("#errors b").count() == 0
        assert ui.page.inner_text("#count-errors") == "1"
        ui.assert_clean()


def test_optimize_from_the_form_then_deploy_the_winner(
    browser: Browser, server: ServerProcess, stub_server: StubServer
) -> None:
    install(stub_server, signal=True, seed=0)
    stub_server.set_latency(2)  # slow enough to watch it run
    with ui_page(browser, server.url) as ui:
        ui.goto("/jobs/new?kind=optimize")
        ui.page.wait_for_selector("#hp-candidates")
        assert ui.page.locator("#evaluate-fields").is_hidden()
        # The hyperparameter form follows the chosen optimizer's schema.
        ui.page.select_option("#optimizer", "gepa")
        assert ui.page.get_attribute("#hp-use_merge", "type") == "checkbox"
        strategies = ui.page.eval_on_selector_all("#hp-candidate_selection_strategy option",
                                                  "os => os.map(o => o.value)")  # fmt: skip
        assert strategies == ["pareto", "current_best"]
        ui.page.select_option("#optimizer", "fewshot")
        assert ui.page.is_disabled("#proposer")  # fewshot needs no proposer
        assert ui.page.get_attribute("#hp-max_demos", "max") == "16"
        ui.page.select_option("#optimizer", "instruct")
        assert ui.page.locator("#hp-use_merge").count() == 0

        ui.page.select_option("#project", "")
        ui.page.select_option("#prompt", "code-word")
        ui.page.select_option("#dataset", "words-300")
        ui.page.fill("#model", "task")
        ui.page.fill("#proposer", "proposer")
        ui.page.fill("#hp-candidates", "2")
        ui.page.fill("#option-max_cycles", "4")
        ui.page.fill("#option-patience", "3")
        ui.page.fill("#option-train_split_ratio", "0.4")
        # Each decision at 5%: on 300 cases the scripted gain passes that, not a run-wide 5%.
        ui.page.select_option("#option-correction", "none")
        ui.page.fill("#budget-max_cost_usd", "5")
        ui.screenshot("new-job")
        ui.page.click("#start")
        ui.page.wait_for_url(JOB_URL)
        job_id = ui.page.url.rsplit("/", 1)[1]
        ui.page.locator("#proposals tbody tr").first.wait_for(state="attached")
        ui.page.click("#optimization-link")
        ui.page.wait_for_selector("#tree")
        # Still running: the page follows the job's events and redraws until it ends.
        assert ui.page.get_attribute("#status", "data-status") == "running"
        wait_status(ui, "succeeded", timeout=120_000)
        ui.page.wait_for_selector("#best-diff")

        opt = get(server, f"/optimizations/{job_id}")
        result = opt["result"]
        its = get(server, f"/optimizations/{job_id}/iterations")
        assert result["best_step"] > 0, "the scripted task should reward an edit"
        sent = get(server, f"/jobs/{job_id}")["manifest"]["request"]
        assert sent["hyperparameters"] == {"candidates": 2}  # typed, from the schema form
        assert sent["budgets"] == {"max_cost_usd": 5.0}
        assert sent["options"] == {"max_cycles": 4, "candidates_per_cycle": 3, "patience": 3,
                                   "metric": "score", "alpha": 0.05, "correction": "none",
                                   "train_split_ratio": 0.4, "seed": 0}  # fmt: skip
        assert (sent["model"], sent["proposer_model"]["id"]) == (
            "task",
            "openai:chat:proposer-model",
        )
        decisions = ui.page.eval_on_selector_all(
            "#tree li", "lis => lis.map(li => [Number(li.dataset.step), li.dataset.decision])"
        )
        expected = [[i["step"], "seed" if i["parent"] is None else
                     "accepted" if i["accepted"] else "rejected"] for i in its]  # fmt: skip
        assert sorted(decisions) == sorted(expected)
        assert {"accepted", "rejected"} <= {d for _, d in decisions}
        assert any(i["parent"] not in (None, 0) for i in its), "a grandchild of the seed"
        # Parent to child: every candidate sits under its parent's node.
        for it in its[1:]:
            nested = f"#tree li[data-step='{it['parent']}'] > ul > li[data-step='{it['step']}']"
            assert ui.page.locator(nested).count() == 1, nested
        assert ui.page.locator("#tree .stats").count() == len(its) - 1
        assert ui.page.locator("svg.chart circle[data-series=train]").count() == len(its)
        assert ui.page.locator("svg.chart circle[data-series=test]").count() == 2  # seed, best
        seed_lines = set(result["seed_prompt"].split("\n"))
        added = [t.removeprefix("+ ") for t in ui.page.locator("#best-diff .add").all_inner_texts()]
        assert added and set(added) == set(result["best_prompt"].split("\n")) - seed_lines
        ui.screenshot("optimization")

        assert ui.page.input_value("#save-name") == "code-word"
        # A rejected candidate saved as a version: no label moves.
        rejected = next(i for i in its if i["parent"] is not None and not i["accepted"])
        ui.page.select_option("#save-step", str(rejected["step"]))
        ui.page.click("#save")
        ui.page.wait_for_selector("#saved a")
        assert f"Saved step {rejected['step']} as code-word v2." == ui.page.inner_text("#saved")
        assert get(server, "/prompts/code-word/versions/2")["template"] == rejected["prompt"]
        assert "production" not in get(server, "/prompts/code-word")["labels"]
        ui.page.select_option("#save-step", "")  # the best
        ui.page.click("#deploy")
        ui.page.wait_for_function(
            "() => document.getElementById('saved').textContent.includes('production')"
        )
        assert "as code-word v3; production now points at it." in ui.page.inner_text("#saved")
        ui.assert_clean()
        # The job's own page, now a replay of a finished job: every proposal and the test.
        ui.goto(f"/jobs/{job_id}")
        wait_status(ui, "succeeded")
        assert ui.page.locator("#proposals tbody tr").count() == len(its) - 1
        assert ui.page.locator("#steps li[data-phase=test]").count() == 1
        assert ui.page.get_attribute("#progress", "value") == ui.page.get_attribute(
            "#progress", "max"
        )
        ui.assert_clean()
    deployed = get(server, "/prompts/code-word", label="production")
    assert deployed["template"] == result["best_prompt"] != result["seed_prompt"]


def test_the_jobs_list_filters_pages_and_refreshes_itself(
    browser: Browser, server: ServerProcess, stub_server: StubServer
) -> None:
    install(stub_server)
    run = post(server, "/run", {"prompt": "hostile", "providers": ["echo"], "dataset": "hostile"},
               status=202)  # fmt: skip
    assert wait_done(server, run["job_id"])["status"] == "succeeded"
    wait_done(server, start_eval(server))
    stub_server.set_latency(100)
    slow = start_eval(server)  # about 4 s
    with ui_page(browser, server.url) as ui:
        ui.goto("/jobs?limit=2")
        row = f"#jobs tr[data-job='{slow}']"
        ui.page.wait_for_selector(f"{row}[data-status=running]")
        assert ui.page.locator("#jobs tbody tr").count() == 2
        assert "refreshes itself" in ui.page.inner_text("#refresh-note")
        total = get(server, "/jobs")["total"]
        assert ui.page.inner_text("#range") == f"1–2 of {total}"
        # No reload: the list polls while a job on it runs.
        ui.page.wait_for_selector(f"{row}[data-status=succeeded]", timeout=30_000)
        ui.page.wait_for_function("() => !document.getElementById('refresh-note').textContent")

        ui.page.click("#next")
        ui.page.wait_for_function(
            f"() => document.getElementById('range').textContent === '3–4 of {total}'"
        )
        second = [j["id"] for j in get(server, "/jobs", limit=2, offset=2)["items"]]
        shown = ui.page.eval_on_selector_all("#jobs tbody tr", "rs => rs.map(r => r.dataset.job)")
        assert shown == second
        assert "offset=2" in ui.page.url

        ui.page.select_option("#kind", "run")
        ui.page.wait_for_function(
            "() => document.getElementById('range').textContent.startsWith('1–')"
        )
        runs = get(server, "/jobs", kind="run")
        kinds = ui.page.eval_on_selector_all("#jobs tbody tr td:nth-child(2)",
                                             "tds => tds.map(td => td.textContent)")  # fmt: skip
        assert kinds == ["run"] * min(2, runs["total"])
        assert ui.page.inner_text("#range").endswith(f"of {runs['total']}")
        ui.assert_clean()
    with ui_page(browser, server.url) as ui:
        ui.goto("/jobs")
        ui.page.wait_for_selector("#jobs tbody tr")
        ui.screenshot("jobs")
        ui.assert_clean()
