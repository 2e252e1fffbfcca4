"""Optimization jobs on a real server: the catalog, iterations, saving the winner, and a
resume after the server is killed (same result, no paid call repeated beyond those in flight).
The task and proposer models are the scripted ones on the stub (bench/task_model.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from bench.serverctl import ServerProcess, running_server, start_server
from bench.stub_server import StubServer
from bench.task_model import install, make_task

# Keys by env var name: a resumed job needs them after a restart. The server reads keys only
# from the variables its operator allows, and sends each only to the hosts allowed for it.
ENV = {"STUB_KEY": "sk-test", "PROMPTYARD_KEY_ENVS": "STUB_KEY",
       "PROMPTYARD_KEY_HOSTS": "STUB_KEY=127.0.0.1"}  # fmt: skip
BODY_OPTIONS = {"max_cycles": 3, "patience": 3, "ratios": [0.4, 0.3, 0.3]}


def provider(stub: StubServer, model: str) -> dict[str, Any]:
    return {"id": f"openai:chat:{model}",
            "config": {"apiBaseUrl": stub.base_url, "apiKeyEnvar": "STUB_KEY",
                       "cost": {"input": 0.5, "output": 1.5}}}  # fmt: skip


def body(stub: StubServer, n: int = 200) -> dict[str, Any]:
    config = {**make_task(n, seed=0), "providers": [provider(stub, "task-model")],
              "evaluateOptions": {"maxConcurrency": 4}}  # fmt: skip
    return {
        "config": config,
        "optimizer": "instruct",
        "hyperparameters": {"candidates": 2},
        "proposer_model": provider(stub, "proposer-model"),
        "options": BODY_OPTIONS,
    }


def submit(server: ServerProcess, payload: dict[str, Any]) -> str:
    resp = httpx.post(f"{server.api}/optimize", json=payload, timeout=10)
    assert resp.status_code == 202, resp.text
    job_id: str = resp.json()["job_id"]
    return job_id


def wait(server: ServerProcess, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        opt: dict[str, Any] = httpx.get(f"{server.api}/optimizations/{job_id}").json()
        if opt["job"]["status"] not in ("queued", "running"):
            return opt
        time.sleep(0.1)
    raise AssertionError(f"optimization {job_id} did not finish")


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """What must not change across a resume (spend does: cached calls are free)."""
    keep = ("best_prompt", "best_step", "seed_test", "best_test", "best_val", "test", "stopped")
    its = [{k: i[k] for k in ("step", "prompt", "parent", "train_score", "val_score",
                              "test_score", "accepted")} for i in result["iterations"]]  # fmt: skip
    return {**{k: result[k] for k in keep}, "iterations": its}


def shape(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What an event log says, without what differs between two runs (ids, spend)."""
    return [(e["type"], e["step_index"], e["payload"].get("phase"), e["payload"].get("split"),
             e["payload"].get("case_id"), e["payload"].get("step")) for e in events]  # fmt: skip


def test_catalog_iterations_best_and_save(tmp_path: Path, stub_server: StubServer) -> None:
    install(stub_server, signal=True, seed=0)
    with running_server(tmp_path, env=ENV) as server:
        catalog = httpx.get(f"{server.api}/optimizers").json()
        names = {o["name"]: o for o in catalog}
        assert {"fewshot", "instruct", "mipro", "gepa"} <= set(names)
        trials = next(p for p in names["mipro"]["params"] if p["name"] == "num_trials")
        assert trials["type"] == "int" and trials["range"][0] == 1 and trials["description"]
        assert names["fewshot"]["needs_proposer"] is False

        bad = {**body(stub_server), "hyperparameters": {"num_trials": 3}}
        resp = httpx.post(f"{server.api}/optimize", json=bad)
        assert resp.status_code == 400 and "num_trials" in resp.json()["detail"]
        no_proposer = {k: v for k, v in body(stub_server).items() if k != "proposer_model"}
        assert httpx.post(f"{server.api}/optimize", json=no_proposer).status_code == 400

        job_id = submit(server, body(stub_server, n=300))
        opt = wait(server, job_id)
        assert opt["job"]["status"] == "succeeded", opt
        result = opt["result"]
        its = httpx.get(f"{server.api}/optimizations/{job_id}/iterations").json()
        assert [i["step"] for i in its] == list(range(len(its))) and its[0]["parent"] is None
        assert all(i["parent"] is not None for i in its[1:])
        by_val = httpx.get(f"{server.api}/optimizations/{job_id}/iterations",
                           params={"order": "val"}).json()  # fmt: skip
        assert [i["val_score"] for i in by_val] == sorted((i["val_score"] for i in its),
                                                          reverse=True)  # fmt: skip
        best = httpx.get(f"{server.api}/optimizations/{job_id}/best").json()
        assert best["step"] == result["best_step"] == opt["best"]["step"]
        assert best["prompt"] == result["best_prompt"] and best["test_score"] is not None

        saved = httpx.post(f"{server.api}/optimizations/{job_id}/save",
                           json={"name": "code-word", "label": "production"})  # fmt: skip
        assert saved.status_code == 201, saved.text
        deployed = httpx.get(f"{server.api}/prompts/code-word",
                             params={"label": "production"}).json()  # fmt: skip
        assert deployed["template"] == result["best_prompt"]
        assert deployed["version"] == saved.json()["version"]
        events = httpx.get(f"{server.api}/jobs/{job_id}").json()["events"]
        phases = [e["payload"].get("phase") for e in events if e["type"] == "step"]
        assert phases[:2] == ["preflight", "seed"] and phases[-1] == "test"
        kinds = {e["type"] for e in events}
        assert {"step", "proposal", "trial", "scoring", "end"} <= kinds
        # step_index is the cycle: it never goes back, and the test report comes after the last.
        indexes = [e["step_index"] for e in events if e["type"] != "end"]
        cycles = sum(1 for p in phases if p == "cycle")
        assert indexes == sorted(indexes) and indexes[-1] == cycles + 1 and cycles >= 1
        first_val = next(e for e in events if e["type"] == "scoring"
                         and e["payload"]["split"] == "val")  # fmt: skip
        trials_before = [
            e
            for e in events
            if e["type"] == "trial"
            and e["seq"] < first_val["seq"]
            and e["payload"]["split"] == "val"
        ]
        assert len(trials_before) == first_val["payload"]["n"]  # each case, then its scoring


def test_resume_after_kill_gives_the_same_result_without_repeating_calls(
    tmp_path: Path, stub_server: StubServer
) -> None:
    install(stub_server, signal=True, seed=0)
    for sub in ("ref", "run"):
        (tmp_path / sub).mkdir()
    with running_server(tmp_path / "ref", env=ENV) as ref:
        reference = wait(ref, submit(ref, body(stub_server)))
        reference_events = httpx.get(f"{ref.api}/jobs/{reference['job']['id']}").json()["events"]
    assert reference["job"]["status"] == "succeeded"
    calls_uninterrupted = stub_server.request_count

    stub_server.reset()
    install(stub_server, signal=True, seed=0)
    stub_server.set_latency(20)  # slow enough to be killed mid-way
    first = start_server(tmp_path / "run", env=ENV)
    try:
        job_id = submit(first, body(stub_server))
        deadline = time.monotonic() + 30
        while httpx.get(f"{first.api}/optimizations/{job_id}").json()["iterations"] < 2:
            assert time.monotonic() < deadline, "no iteration was stored"
            time.sleep(0.05)
    finally:
        first.kill()
    calls_before_kill = stub_server.request_count
    stub_server.set_latency(0)
    with running_server(tmp_path / "run", env=ENV, db=first.db) as second:
        assert httpx.get(f"{second.api}/jobs/{job_id}").json()["job"]["status"] == "interrupted"
        assert httpx.post(f"{second.api}/jobs/{job_id}/resume").status_code == 202
        resumed = wait(second, job_id)
        events = httpx.get(f"{second.api}/jobs/{job_id}").json()["events"]
    assert resumed["job"]["status"] == "succeeded"
    assert comparable(resumed["result"]) == comparable(reference["result"])
    calls_after = stub_server.request_count - calls_before_kill
    assert calls_after < calls_uninterrupted  # the finished part came from the cache
    # Lost at the kill, so asked again: the task calls in flight (maxConcurrency), those
    # answered while the engine's last commit was being written (at most as many), and one
    # proposer call. Everything committed before comes from the cache.
    in_flight = 2 * 4 + 1
    assert calls_before_kill + calls_after <= calls_uninterrupted + in_flight
    # The log reads as the uninterrupted job's: the same events in the same order, none twice.
    assert shape(events) == shape(reference_events)


def test_registry_prompt_profiles_and_a_project_without_a_folder(
    tmp_path: Path, stub_server: StubServer
) -> None:
    """Everything by reference: the prompt and dataset in the registry under a project that
    has no folder, the target and the proposer as profile names."""
    install(stub_server, signal=True, seed=0)
    task = make_task(60, seed=0)
    rows = [{"vars": t["vars"], "assert": t["assert"]} for t in task["tests"]]
    project = "registry-only"
    with running_server(tmp_path, env=ENV) as server:
        api = server.api
        for name, model in (("task", "task-model"), ("proposer", "proposer-model")):
            entry = provider(stub_server, model)
            made = httpx.post(f"{api}/profiles", json={"name": name, "project": project,
                                                       "provider_id": entry["id"],
                                                       "config": entry["config"]})  # fmt: skip
            assert made.status_code == 201, made.text
        prompt = {"name": "code-word", "project": project, "template": task["prompts"][0]}
        assert httpx.post(f"{api}/prompts", json=prompt).status_code == 201
        data = {"name": "cases", "project": project, "rows": rows}
        assert httpx.post(f"{api}/datasets", json=data).status_code == 201
        job_id = submit(server, {"project": project, "prompt": "code-word", "dataset": "cases",
                                 "model": "task", "proposer_model": "proposer",
                                 "options": {"max_cycles": 1}})  # fmt: skip
        opt = wait(server, job_id)
        assert opt["job"]["status"] == "succeeded", opt
        models = {r["body"].get("model") for r in stub_server.requests}
        assert {"task-model", "proposer-model"} <= models  # both profiles were called
        steps = httpx.get(f"{api}/jobs/{job_id}", params={"type": ["step"]}).json()["events"]
        assert steps and {e["type"] for e in steps} == {"step"}
        later = httpx.get(
            f"{api}/jobs/{job_id}", params={"after": steps[0]["seq"], "limit": 3}
        ).json()["events"]
        assert [e["seq"] for e in later] == [steps[0]["seq"] + i for i in (1, 2, 3)]
        bad = {
            "project": project,
            "prompt": "code-word",
            "dataset": "cases",
            "model": "task",
            "proposer_model": "nosuchprofile",
        }
        resp = httpx.post(f"{api}/optimize", json=bad)
        assert resp.status_code == 400 and "proposer_model" in resp.text
