"""The registry over real HTTP: prompts (versions, labels, tags, diff, deployed fetch),
datasets (rows, upload with row errors, derive), profiles (no secrets), catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from tests.pgtools import backend_url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("registry")
    with (
        backend_url(request.param, tmp, "server_registry") as url,
        running_server(tmp, db=url) as s,
    ):
        yield s


def test_prompt_versions_labels_and_deployed_fetch(server: ServerProcess) -> None:
    api = server.api
    created = httpx.post(f"{api}/prompts", json={
        "name": "support.triage", "template": "Triage: {{ticket}}", "tags": ["Support"],
        "group": "inbox", "description": "routes tickets"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["latest_version"] == 1 and created.json()["team"] == "support"
    assert httpx.post(f"{api}/prompts", json={"name": "support.triage",
                                              "template": "x"}).status_code == 409  # fmt: skip
    v2 = httpx.post(
        f"{api}/prompts/support.triage/versions",
        json={"template": "Triage carefully: {{ticket}}", "message": "stricter"},
    )
    assert v2.status_code == 201 and v2.json()["version"] == 2
    same = httpx.post(
        f"{api}/prompts/support.triage/versions", json={"template": "Triage carefully: {{ticket}}"}
    )
    assert same.status_code == 200 and same.json()["version"] == 2  # unchanged content
    deploy = httpx.put(f"{api}/prompts/support.triage/labels/production", json={"version": 1})
    assert deploy.status_code == 200 and deploy.json()["labels"] == {"production": 1}
    fetched = httpx.get(f"{api}/prompts/support.triage", params={"label": "production"}).json()
    assert fetched["version"] == 1 and fetched["template"] == "Triage: {{ticket}}"
    httpx.put(f"{api}/prompts/support.triage/labels/production", json={"version": 2})
    fetched = httpx.get(f"{api}/prompts/support.triage", params={"label": "production"}).json()
    assert fetched["version"] == 2
    assert httpx.put(f"{api}/prompts/support.triage/labels/production",
                     json={"version": 9}).status_code == 404  # fmt: skip
    assert httpx.get(f"{api}/prompts/support.triage",
                     params={"label": "staging"}).status_code == 404  # fmt: skip
    versions = httpx.get(f"{api}/prompts/support.triage/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    diff = httpx.get(f"{api}/prompts/support.triage/diff", params={"a": 1, "b": 2}).json()
    assert "-Triage: {{ticket}}" in diff["diff"] and "+Triage carefully" in diff["diff"]
    listed = httpx.get(f"{api}/prompts", params={"tag": "support", "team": "support"}).json()
    assert [p["name"] for p in listed["items"]] == ["support.triage"]
    assert httpx.get(f"{api}/prompts", params={"search": "nomatch"}).json()["total"] == 0
    tags = httpx.put(f"{api}/prompts/support.triage/tags", json={"tags": ["a", "b"]})
    assert tags.json()["tags"] == ["a", "b"]
    assert httpx.delete(f"{api}/prompts/support.triage/labels/production").status_code == 204
    assert httpx.get(f"{api}/prompts/missing").status_code == 404


def test_datasets_rows_upload_and_derive(server: ServerProcess, tmp_path: Path) -> None:
    api = server.api
    rows = [{"vars": {"q": f"q{i}"}, "split": "train" if i < 3 else "test",
             "assert": [{"type": "contains", "value": f"q{i}"}]} for i in range(5)]  # fmt: skip
    created = httpx.post(f"{api}/datasets", json={"name": "questions", "rows": rows})
    assert created.status_code == 201, created.text
    assert created.json()["row_count"] == 5
    assert created.json()["splits"] == {"train": 3, "test": 2}
    bad = httpx.post(f"{api}/datasets", json={"name": "bad", "rows": [
        {"vars": "nope"}, {"vars": {}}, {"vars": {}, "split": "holdout"}]})  # fmt: skip
    assert bad.status_code == 400
    assert [e["row"] for e in bad.json()["errors"]] == [0, 2]
    page = httpx.get(f"{api}/datasets/questions/rows", params={"split": "test"}).json()
    assert page["total"] == 2 and [r["vars"]["q"] for r in page["items"]] == ["q3", "q4"]
    derived = httpx.post(f"{api}/datasets/questions/derive", json={"name": "q-train",
                                                                  "split": "train"})  # fmt: skip
    assert derived.status_code == 201 and derived.json()["row_count"] == 3
    csv = tmp_path / "cases.csv"
    csv.write_text("question,__expected\nhello,contains:hello\nbye,icontains:BYE\n")
    with csv.open("rb") as fh:
        up = httpx.post(f"{api}/datasets/upload", files={"file": ("cases.csv", fh, "text/csv")},
                        data={"name": "uploaded"})  # fmt: skip
    assert up.status_code == 201, up.text
    uploaded = httpx.get(f"{api}/datasets/uploaded/rows").json()["items"]
    assert uploaded[0]["vars"] == {"question": "hello"}
    assert uploaded[0]["assert"] == [{"type": "contains", "value": "hello"}]
    broken = tmp_path / "broken.csv"
    broken.write_text("question,__split\nfine,train\nodd,holdout\n")
    with broken.open("rb") as fh:
        refused = httpx.post(f"{api}/datasets/upload", data={"name": "broken"},
                             files={"file": ("my cases.csv", fh, "text/csv")})  # fmt: skip
    assert refused.status_code == 400 and "my cases.csv" in refused.text, refused.text
    with csv.open("rb") as fh:
        wrong = httpx.post(f"{api}/datasets/upload", files={"file": ("cases.xlsx", fh)},
                           data={"name": "x"})  # fmt: skip
    assert wrong.status_code == 400
    versions = httpx.get(f"{api}/datasets/q-train/versions").json()
    assert [(v["version"], v["row_count"]) for v in versions] == [(1, 3)]
    assert versions[0]["derived_from"]["filter"]["split"] == "train"
    assert httpx.delete(f"{api}/datasets/q-train").status_code == 204
    assert httpx.get(f"{api}/datasets/q-train").status_code == 404


def test_profiles_refuse_secrets_and_catalog_lists_everything(server: ServerProcess) -> None:
    api = server.api
    secret = httpx.post(f"{api}/profiles", json={"name": "leaky", "provider_id": "openai:gpt-4.1",
                                                 "config": {"apiKey": "sk-live-123"}})  # fmt: skip
    assert secret.status_code == 400 and "sk-live-123" not in secret.text
    ok = httpx.post(
        f"{api}/profiles",
        json={
            "name": "fast",
            "provider_id": "openai:gpt-4.1-mini",
            "config": {"api_key_env": "OPENAI_API_KEY"},
        },
    )
    assert ok.status_code == 201, ok.text
    catalog = httpx.get(f"{api}/catalog").json()
    assert {"name": "fast", "provider_id": "openai:gpt-4.1-mini"} in [
        p for project in catalog["projects"] for p in project["profiles"]
    ]
    assert any(s["name"] == "llm-rubric" and s["needs_model"] for s in catalog["scorers"])
    assert "openai" in catalog["providers"]
    assert "anthropic" in httpx.get(f"{api}/providers").json()["prefixes"]


def test_evaluate_a_deployed_prompt_on_a_dataset_with_live_vars(server: ServerProcess) -> None:
    api = server.api
    httpx.post(f"{api}/prompts", json={"name": "greet", "template": "Hi {{name}} from {{town}}"})
    httpx.put(f"{api}/prompts/greet/labels/production", json={"version": 1})
    httpx.post(f"{api}/datasets", json={"name": "people", "rows": [
        {"vars": {"name": "Ana"}, "assert": [{"type": "contains", "value": "Ana from Oslo"}]},
        {"vars": {"name": "Bo"}, "assert": [{"type": "contains", "value": "Bo"}]}]})  # fmt: skip
    resp = httpx.post(f"{api}/evaluate", json={
        "prompt": "greet:production", "providers": ["echo"], "dataset": "people",
        "inject_vars": {"town": "Oslo"}})  # fmt: skip
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    import time

    for _ in range(200):
        detail = httpx.get(f"{api}/jobs/{job_id}").json()
        if detail["job"]["status"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert detail["job"]["status"] == "succeeded", detail
    assert detail["summary"]["passed"] == 2
    outputs = sorted(e["payload"]["output"] for e in detail["events"] if e["type"] == "trial")
    assert outputs == ["Hi Ana from Oslo", "Hi Bo from Oslo"]
    bad = httpx.post(f"{api}/evaluate", json={"prompt": "greet:staging", "providers": ["echo"]})
    assert bad.status_code == 404
