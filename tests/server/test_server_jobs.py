"""Jobs over real HTTP: a real `promptyard serve` subprocess, the stub as the LLM vendor."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server, start_server
from bench.stub_server import StubServer
from tests.pgtools import backend_url
from tests.server.ssetools import read_stream


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The server's database: a SQLite file, and PostgreSQL where one is reachable."""
    with backend_url(request.param, tmp_path, "server_jobs") as url:
        yield url


@pytest.fixture
def server(tmp_path: Path, db: str) -> Iterator[ServerProcess]:
    with running_server(tmp_path, db=db) as s:
        yield s


def stub_provider(stub: StubServer) -> dict[str, Any]:
    return {"id": "openai:chat:gpt-4o-mini",
            "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test"}}  # fmt: skip


def eval_config(provider: Any = "echo", n: int = 3) -> dict[str, Any]:
    return {
        "description": "server job",
        "prompts": ["Say {{word}}"],
        "providers": [provider],
        "tests": [{"vars": {"word": f"w{i}"}, "assert": [{"type": "contains", "value": f"w{i}"}]}
                  for i in range(n)],
    }  # fmt: skip


def start(server: ServerProcess, config: dict[str, Any], kind: str = "evaluate") -> str:
    resp = httpx.post(f"{server.api}/{kind}", json={"config": config}, timeout=10)
    assert resp.status_code == 202, resp.text
    job_id: str = resp.json()["job_id"]
    return job_id


def wait_finished(server: ServerProcess, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail: dict[str, Any] = httpx.get(f"{server.api}/jobs/{job_id}", timeout=10).json()
        if detail["job"]["status"] not in ("queued", "running"):
            return detail
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_evaluate_job_streams_every_event_then_end(server: ServerProcess) -> None:
    job_id = start(server, eval_config(n=3))
    events = read_stream(f"{server.api}/jobs/{job_id}/events")
    types = [e.event for e in events]
    assert types == ["step", "trial", "trial", "trial", "end"]
    assert [int(e.id or 0) for e in events] == [1, 2, 3, 4, 5]
    envelope = events[1].json
    assert set(envelope) >= {"seq", "job_id", "step_index", "type", "payload"}
    assert envelope["job_id"] == job_id and envelope["type"] == "trial"
    assert {e.json["payload"]["success"] for e in events[1:4]} == {True}
    end = events[-1].json["payload"]
    assert end["status"] == "succeeded" and end["summary"]["passed"] == 3
    detail = wait_finished(server, job_id)
    assert detail["job"]["status"] == "succeeded"
    assert detail["summary"]["total"] == 3
    assert len(detail["events"]) == 5
    run_id = detail["job"]["run_id"]
    assert detail["manifest"]["request"]["config"]["description"] == "server job"
    run = httpx.get(f"{server.api}/runs/{run_id}").json()
    assert run["summary"]["passed"] == 3 and run["trial_count"] == 3


def test_finished_job_replays_and_resumes_from_last_event_id(server: ServerProcess) -> None:
    job_id = start(server, eval_config(n=2))
    wait_finished(server, job_id)
    replay = read_stream(f"{server.api}/jobs/{job_id}/events")
    assert [e.event for e in replay] == ["step", "trial", "trial", "end"]
    resumed = read_stream(f"{server.api}/jobs/{job_id}/events", headers={"Last-Event-ID": "2"})
    assert [int(e.id or 0) for e in resumed] == [3, 4]


def test_two_subscribers_and_a_reconnect_see_every_event_once(
    server: ServerProcess, stub_server: StubServer
) -> None:
    stub_server.set_latency(150)
    job_id = start(server, eval_config(stub_provider(stub_server), n=6))
    results: dict[str, list[int]] = {}

    def follow(name: str) -> None:
        results[name] = [int(e.id or 0) for e in read_stream(f"{server.api}/jobs/{job_id}/events")]

    threads = [threading.Thread(target=follow, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    first = read_stream(f"{server.api}/jobs/{job_id}/events", stop_after=2)
    last = int(first[-1].id or 0)
    rest = read_stream(f"{server.api}/jobs/{job_id}/events",
                       headers={"Last-Event-ID": str(last)})  # fmt: skip
    for t in threads:
        t.join(30)
    expected = list(range(1, 9))  # step, 6 trials, end
    assert results["a"] == expected and results["b"] == expected
    assert [int(e.id or 0) for e in first + rest] == expected


def test_second_job_is_refused_while_one_runs(
    server: ServerProcess, stub_server: StubServer
) -> None:
    stub_server.set_latency(800)
    first = start(server, eval_config(stub_provider(stub_server), n=2))
    resp = httpx.post(f"{server.api}/evaluate", json={"config": eval_config()})
    assert resp.status_code == 409
    assert resp.json() == {"detail": "another job is already running"}
    assert wait_finished(server, first)["job"]["status"] == "succeeded"


def test_cancel_keeps_what_finished(server: ServerProcess, stub_server: StubServer) -> None:
    stub_server.set_latency(300)
    config = eval_config(stub_provider(stub_server), n=40)
    config["evaluateOptions"] = {"maxConcurrency": 2}
    job_id = start(server, config)
    time.sleep(1.0)
    resp = httpx.post(f"{server.api}/jobs/{job_id}/cancel")
    assert resp.status_code == 202
    detail = wait_finished(server, job_id)
    assert detail["job"]["status"] == "cancelled"
    assert detail["events"][-1]["type"] == "end"
    trials = [e for e in detail["events"] if e["type"] == "trial"]
    assert 0 < len(trials) < 40
    again = httpx.post(f"{server.api}/jobs/{job_id}/cancel")
    assert again.status_code == 409


def test_killed_server_marks_the_job_interrupted(
    tmp_path: Path, db: str, stub_server: StubServer
) -> None:
    stub_server.set_latency(500)
    first = start_server(tmp_path, db=db)
    try:
        config = eval_config(stub_provider(stub_server), n=20)
        config["evaluateOptions"] = {"maxConcurrency": 1}
        job_id = start(first, config)
        time.sleep(1.5)
    finally:
        first.kill()
    with running_server(tmp_path, db=first.db) as second:
        detail = httpx.get(f"{second.api}/jobs/{job_id}").json()
        assert detail["job"]["status"] == "interrupted"
        assert any(e["type"] == "trial" for e in detail["events"])  # kept what finished
        listed = httpx.get(f"{second.api}/jobs", params={"status": "interrupted"}).json()
        assert [j["id"] for j in listed["items"]] == [job_id]


def test_reports_in_every_format(server: ServerProcess) -> None:
    job_id = start(server, eval_config(n=2))
    run_id = wait_finished(server, job_id)["job"]["run_id"]
    for fmt, media in [
        ("html", "text/html"),
        ("json", "application/json"),
        ("csv", "text/csv"),
        ("markdown", "text/markdown"),
        ("junit", "application/xml"),
        ("jsonl", "application/x-ndjson"),
    ]:
        resp = httpx.get(f"{server.api}/runs/{run_id}/report", params={"format": fmt})
        assert resp.status_code == 200, (fmt, resp.text)
        assert resp.headers["content-type"].startswith(media)
        assert resp.text
    assert httpx.get(f"{server.api}/runs/{run_id}/report",
                     params={"format": "pdf"}).status_code == 422  # fmt: skip


def test_run_job_generates_outputs_without_grading(server: ServerProcess) -> None:
    job_id = start(server, eval_config(n=2), kind="run")
    detail = wait_finished(server, job_id)
    trials = [e["payload"] for e in detail["events"] if e["type"] == "trial"]
    assert [t["reason"] for t in trials] == ["No assertions", "No assertions"]
    assert [t["output"] for t in trials] == ["Say w0", "Say w1"]


def test_optimize_job_streams_steps_and_proposals(
    server: ServerProcess, stub_server: StubServer
) -> None:
    config = {"prompts": ["Answer: {{q}}"], "providers": ["echo"],
              "tests": [{"vars": {"q": f"q{i}"},
                         "assert": [{"type": "icontains", "value": "please"}]}
                        for i in range(30)]}  # fmt: skip
    stub_server.script(
        {
            "body": {
                "id": "x",
                "object": "chat.completion",
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": "<prompt>Please answer: {{q}}</prompt>",
                        },
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        }
    )
    body = {"config": config, "proposer": stub_provider(stub_server),
            "options": {"max_cycles": 1, "patience": 1}}  # fmt: skip
    resp = httpx.post(f"{server.api}/optimize", json=body)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    events = read_stream(f"{server.api}/jobs/{job_id}/events")
    kinds = [e.event for e in events]
    assert kinds[0] == "step" and "proposal" in kinds and kinds[-1] == "end"
    proposal = next(e.json["payload"] for e in events if e.event == "proposal")
    assert proposal["prompt"] == "Please answer: {{q}}" and proposal["decision"]["accepted"]
    detail = wait_finished(server, job_id)
    assert detail["job"]["status"] == "succeeded" and detail["job"]["kind"] == "optimize"
    summary = detail["summary"]
    assert summary["best_prompt"] == "Please answer: {{q}}"
    assert (summary["seed_test"], summary["best_test"]) == (0.0, 1.0)
    assert "sk-test" not in httpx.get(f"{server.api}/jobs/{job_id}").text
    bad = httpx.post(f"{server.api}/optimize", json={**body, "options": {"cycles": 3}})
    assert bad.status_code == 400 and "cycles" in bad.json()["detail"]
    assert httpx.post(f"{server.api}/optimize",
                      json={"config": config}).status_code == 400  # fmt: skip


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({**eval_config(), "tests": "file:///etc/passwd"}, "need a project"),
        ({**eval_config(), "providers": ["python:model.py:call"]}, "Python providers"),
        ({**eval_config(), "providers": ["nosuch:model"]}, "unknown provider"),
    ],
)
def test_unsafe_or_bad_configs_are_400(
    server: ServerProcess, config: dict[str, Any], fragment: str
) -> None:
    resp = httpx.post(f"{server.api}/evaluate", json={"config": config})
    # Refused when accepted (400) or when run: either way nothing unsafe happens.
    if resp.status_code == 202:
        detail = wait_finished(server, resp.json()["job_id"])
        assert detail["job"]["status"] == "failed" and fragment in detail["job"]["error"]
    else:
        assert resp.status_code == 400 and fragment in resp.json()["detail"]


def test_validation_errors_name_the_field(server: ServerProcess) -> None:
    resp = httpx.post(f"{server.api}/evaluate", json={"config": {}, "bogus": 1})
    assert resp.status_code == 422
    assert any(e["loc"][-1] == "bogus" for e in resp.json()["detail"])
    assert httpx.get(f"{server.api}/jobs/nope").status_code == 404
    assert httpx.get(f"{server.api}/jobs", params={"limit": 0}).status_code == 422


def test_body_size_limit(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"PROMPTYARD_MAX_BODY_BYTES": "1000"}) as s:
        resp = httpx.post(f"{s.api}/evaluate", json={"config": {"description": "x" * 5000}})
        assert resp.status_code == 413 and "larger than 1000" in resp.json()["detail"]


def test_interrupted_job_resumes_only_the_missing_trials(
    tmp_path: Path, db: str, stub_server: StubServer
) -> None:
    stub_server.set_latency(300)
    first = start_server(tmp_path, db=db)
    config = eval_config(stub_provider(stub_server), n=12)
    config["evaluateOptions"] = {"maxConcurrency": 1}
    try:
        job_id = start(first, config)
        time.sleep(1.6)
    finally:
        first.kill()
    with running_server(tmp_path, db=first.db) as second:
        detail = httpx.get(f"{second.api}/jobs/{job_id}").json()
        run_id = detail["job"]["run_id"]
        stored = httpx.get(f"{second.api}/runs/{run_id}").json()["trial_count"]
        assert 0 < stored < 12
        before = stub_server.request_count
        stub_server.set_latency(0)
        resp = httpx.post(f"{second.api}/jobs/{job_id}/resume")
        assert resp.status_code == 202, resp.text
        done = wait_finished(second, job_id)
        assert done["job"]["status"] == "succeeded"
        assert stub_server.request_count - before == 12 - stored  # only the missing ones
        run = httpx.get(f"{second.api}/runs/{run_id}").json()
        assert run["trial_count"] == 12 and run["summary"]["passed"] == 12
        seqs = [e["seq"] for e in done["events"]]
        assert seqs == list(range(1, len(seqs) + 1))  # the stream goes on, no gaps
        assert httpx.post(f"{second.api}/jobs/{job_id}/resume").status_code == 409


def test_inline_secrets_are_used_but_never_stored_or_returned(
    server: ServerProcess, stub_server: StubServer
) -> None:
    provider = {
        "id": "openai:chat:gpt-4o-mini",
        "config": {"apiBaseUrl": stub_server.base_url, "apiKey": "sk-very-secret-42"},
    }
    job_id = start(server, eval_config(provider, n=1))
    detail = wait_finished(server, job_id)
    assert detail["job"]["status"] == "succeeded"
    assert stub_server.requests[-1]["authorization"] == "Bearer sk-very-secret-42"  # used
    run_id = detail["job"]["run_id"]
    for url in (
        f"{server.api}/jobs/{job_id}",
        f"{server.api}/jobs",
        f"{server.api}/runs/{run_id}",
        f"{server.api}/runs/{run_id}/report",
    ):
        assert "sk-very-secret-42" not in httpx.get(url).text, url
    if server.db.startswith("sqlite"):
        assert b"sk-very-secret-42" not in Path(server.db.removeprefix("sqlite:///")).read_bytes()


def test_export_job_writes_files_and_appends_only_new_events(
    server: ServerProcess, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

    from bench.serverctl import REPO

    job_id = start(server, eval_config(n=2))
    wait_finished(server, job_id)
    out = tmp_path / "export"
    cmd = [sys.executable, "-m", "promptyard.cli", "export-job", job_id, "--dir", str(out),
           "--db", server.db]  # fmt: skip
    env = {"PYTHONPATH": str(REPO / "src")}
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["id"] == job_id and manifest["status"] == "succeeded"
    assert json.loads((out / "summary.json").read_text())["passed"] == 2
    lines = (out / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4]
    subprocess.run(cmd, check=True, capture_output=True, env=env)  # nothing new to add
    assert (out / "events.jsonl").read_text().splitlines() == lines


def test_a_full_queue_answers_429(tmp_path: Path, stub_server: StubServer) -> None:
    stub_server.set_latency(700)
    with running_server(tmp_path, env={"PROMPTYARD_QUEUE_LENGTH": "1"}) as s:
        config = eval_config(stub_provider(stub_server), n=1)
        first, second = start(s, config), start(s, config)  # one runs, one waits
        third = httpx.post(f"{s.api}/evaluate", json={"config": config})
        assert third.status_code == 429 and "queue is full" in third.json()["detail"]
        assert wait_finished(s, first)["job"]["status"] == "succeeded"
        assert wait_finished(s, second)["job"]["status"] == "succeeded"


def test_errors_do_not_say_where_the_database_is(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        resp = httpx.get(f"{server.api}/runs/nosuchrun")
        assert resp.status_code == 404 and "no run matches 'nosuchrun'" in resp.json()["detail"]
        assert str(tmp_path) not in resp.text and "sqlite" not in resp.text


def test_run_lists_leave_out_the_config(server: ServerProcess) -> None:
    job_id = start(server, eval_config(n=2))
    run_id = wait_finished(server, job_id)["job"]["run_id"]
    items = httpx.get(f"{server.api}/runs").json()["items"]
    listed = next(r for r in items if r["id"] == run_id)
    assert "config" not in listed and listed["trial_count"] == 2
    assert httpx.get(f"{server.api}/runs/{run_id}").json()["config"]["prompts"]
