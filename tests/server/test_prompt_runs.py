"""GET /api/prompts/{name}/runs over real HTTP: the runs of a prompt's versions with their pass
rate and cost, newest first, paginated, and no runs of another prompt or project."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from tests.pgtools import backend_url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("prompt_runs")
    with backend_url(request.param, tmp, "prompt_runs") as url, running_server(tmp, db=url) as s:
        yield s


def evaluate(api: str, **body: Any) -> str:
    """Run an evaluate job with the echo provider to its end; the run's id."""
    resp = httpx.post(f"{api}/evaluate", json={"providers": ["echo"], **body})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    for _ in range(400):
        detail = httpx.get(f"{api}/jobs/{job_id}").json()
        if detail["job"]["status"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert detail["job"]["status"] == "succeeded", detail
    run_id: str = detail["job"]["run_id"]
    return run_id


def test_runs_of_a_prompt(server: ServerProcess) -> None:
    api = server.api
    assert httpx.post(f"{api}/prompts", json={"name": "a_b", "template": "A {{q}}"}).is_success
    httpx.post(f"{api}/prompts/a_b/versions", json={"template": "B {{q}}"})
    # `_` is a LIKE wildcard: runs of axb must not count as runs of a_b.
    httpx.post(f"{api}/prompts", json={"name": "axb", "template": "X {{q}}"})
    # The label's characters inside another prompt's text must not count either.
    httpx.post(f"{api}/prompts", json={"name": "quoter", "template": 'say "a_b@1" {{q}}'})
    httpx.post(f"{api}/prompts", json={"name": "a_b", "template": "P {{q}}",
                                       "project": "quickstart"})  # fmt: skip
    httpx.post(f"{api}/datasets", json={"name": "qs", "rows": [
        {"vars": {"q": "one"}, "assert": [{"type": "contains", "value": "one"}]},
        {"vars": {"q": "two"}, "assert": [{"type": "contains", "value": "nope"}]},
        {"vars": {"q": "three"}, "assert": [{"type": "contains", "value": "B"}]}]})  # fmt: skip

    first = evaluate(api, prompt="a_b@1", dataset="qs")
    evaluate(api, prompt="axb", dataset="qs")
    evaluate(api, prompt="quoter", dataset="qs")
    second = evaluate(api, prompt="a_b", dataset="qs")
    evaluate(api, prompt="a_b", project="quickstart", inject_vars={"q": "x"})

    page = httpx.get(f"{api}/prompts/a_b/runs").json()
    assert [r["id"] for r in page["items"]] == [second, first] and page["total"] == 2
    latest, oldest = page["items"]
    assert latest["versions"] == [2] and oldest["versions"] == [1]
    # v1 ("A one" ...) passes only "one"; v2 ("B ...") passes "one" and "three".
    assert (oldest["total"], oldest["passed"]) == (3, 1)
    assert latest["pass_rate"] == pytest.approx(2 / 3)
    assert latest["cost"] == 0.0 and latest["status"] == "succeeded"

    second_page = httpx.get(f"{api}/prompts/a_b/runs", params={"limit": 1, "offset": 1}).json()
    assert [r["id"] for r in second_page["items"]] == [first] and second_page["total"] == 2
    in_project = httpx.get(f"{api}/prompts/a_b/runs", params={"project": "quickstart"}).json()
    assert in_project["total"] == 1 and in_project["items"][0]["project"] == "quickstart"
    assert httpx.get(f"{api}/prompts/axb/runs").json()["total"] == 1
    assert httpx.get(f"{api}/prompts/missing/runs").status_code == 404


def test_diff_keeps_lines_apart_without_a_final_newline(server: ServerProcess) -> None:
    api = server.api
    httpx.post(f"{api}/prompts", json={"name": "nl", "template": "one\ntwo"})
    httpx.post(f"{api}/prompts/nl/versions", json={"template": "one\nthree"})
    diff = httpx.get(f"{api}/prompts/nl/diff", params={"a": 1, "b": 2}).json()["diff"]
    assert diff.splitlines()[-2:] == ["-two", "+three"]
