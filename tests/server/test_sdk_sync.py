"""The synchronous SDK against a real `promptyard serve` subprocess (127.0.0.1, random port).

One server per module; each test leaves no job running (the queue length is 0, so a job left
behind would turn the next test's job into a 409). Registry tests use unique names because
the database is shared by the module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from bench.serverctl import REPO, ServerProcess, running_server
from bench.stub_server import StubServer
from promptyard_client import (
    AuthenticationError,
    Client,
    ConflictError,
    JobEvent,
    JobTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from promptyard_client.models import JobDetail
from tests.server.sdktools import stop_leftover_jobs, unique

SLOW = {"max_concurrency": 1, "cache": False}


def echo_config(words: list[str]) -> dict[str, Any]:
    """A config the built-in echo provider answers at once: one passing case per word."""
    return {
        "prompts": ["Say {{word}}"],
        "providers": ["echo"],
        "tests": [
            {"vars": {"word": w}, "assert": [{"type": "contains", "value": w}]} for w in words
        ],
    }


def stub_config(stub: StubServer, cases: int) -> dict[str, Any]:
    """A config on the local OpenAI-compatible stub: as slow as its latency makes it."""
    tag = uuid.uuid4().hex[:8]
    provider = {"id": "openai:chat:gpt-4o-mini",
                "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test"}}  # fmt: skip
    return {
        "prompts": ["Answer {{q}}"],
        "providers": [provider],
        "tests": [{"vars": {"q": f"{tag}-{i}"}} for i in range(cases)],
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("sdk-sync")) as proc:
        yield proc


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_job_left(server: ServerProcess) -> Iterator[None]:
    yield
    stop_leftover_jobs(server.url)


def seqs(events: list[JobEvent]) -> list[int]:
    return [e.seq for e in events]


# -- health, settings ------------------------------------------------------------------------


def test_health_with_url_from_the_environment(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTYARD_URL", server.url + "/api/")  # the API root is accepted too
    with Client() as c:
        assert c.base_url == server.url
        assert c.health().status == "ok"


# -- jobs and their events -------------------------------------------------------------------


def test_manual_eval_streams_every_trial_then_replays(client: Client) -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    job = client.run_manual_eval(echo_config(words))
    events = list(client.stream_job(job.job_id))
    assert [e.type for e in events] == ["step"] + ["trial"] * len(words) + ["end"]
    assert seqs(events) == list(range(1, len(words) + 3))
    assert all(e.job_id == job.job_id for e in events)
    trials = [e.payload for e in events if e.type == "trial"]
    assert sorted(t["output"] for t in trials) == sorted(f"Say {w}" for w in words)
    assert all(t["success"] for t in trials)
    end = events[-1].payload
    assert end["status"] == "succeeded" and end["run_id"]

    replay = list(client.stream_job(job.job_id))  # the job has finished: stored events
    assert [e.model_dump() for e in replay] == [e.model_dump() for e in events]
    tail = list(client.stream_job(job.job_id, after=3))
    assert seqs(tail) == seqs(events)[3:]


def test_two_streams_at_once(client: Client, stub_server: StubServer) -> None:
    stub_server.set_latency(150)
    job = client.run_manual_eval(stub_config(stub_server, 6), options=SLOW)
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: list(client.stream_job(job.job_id)), range(2))
    assert seqs(a) == seqs(b) == list(range(1, 9))
    assert a[-1].type == b[-1].type == "end"
    assert a[-1].payload["status"] == "succeeded"


def test_resume_after_the_connection_is_closed(client: Client, stub_server: StubServer) -> None:
    stub_server.set_latency(120)
    job = client.run_manual_eval(stub_config(stub_server, 8), options=SLOW)
    first: list[JobEvent] = []
    stream = client.stream_job(job.job_id)
    for event in stream:
        first.append(event)
        if len(first) == 3:
            break
    stream.close()  # closes the HTTP response: the server sees the client go
    rest = list(client.stream_job(job.job_id, after=first[-1].seq))
    combined = first + rest
    assert seqs(combined) == list(range(1, 11))  # every event once, in order
    assert combined[-1].type == "end"
    assert [e.model_dump() for e in combined] == [
        e.model_dump() for e in client.stream_job(job.job_id)
    ]


def test_wait_for_job_then_runs_trials_reports_and_compare(client: Client) -> None:
    first = client.run_manual_eval(echo_config(["one", "two", "three"]), description="first")
    detail = client.wait_for_job(first.job_id, timeout=60, poll_interval=0.05)
    assert isinstance(detail, JobDetail)
    assert detail.job.status == "succeeded" and detail.job.finished
    assert detail.events[-1].type == "end"
    assert detail.summary is not None and detail.summary["passed"] == 3
    run_a = client.wait_for_run(first.job_id, timeout=60, poll_interval=0.05)
    assert run_a.id == detail.job.run_id and run_a.status == "succeeded"
    assert client.wait_for_run(run_a.id, timeout=5).id == run_a.id  # a run id works too

    second = client.run_manual_eval(echo_config(["one", "two", "three"]))
    run_b = client.wait_for_run(second.job_id, timeout=60, poll_interval=0.05)

    assert client.get_run(run_a.id).trial_count == 3
    assert run_a.id in {r.id for r in client.list_runs(limit=10).items}
    trials = client.run_trials(run_a.id)
    assert trials.total == 3 and len(trials.items) == 3
    assert client.run_trials(run_a.id, status="fail").total == 0
    assert client.run_trials(run_a.id, limit=1, offset=1).items == trials.items[1:2]
    report = json.loads(client.run_report(run_a.id, "json"))
    assert report
    assert "one" in client.run_report(run_a.id, "csv")
    assert "<testsuite" in client.run_report(run_a.id, "junit")
    assert run_a.id in client.run_report(run_a.id, "markdown")
    comparison = client.compare_runs(run_a.id, run_b.id)
    assert comparison["verdict"]

    jobs = client.list_jobs(kind="evaluate", status="succeeded", limit=100)
    assert {first.job_id, second.job_id} <= {j.id for j in jobs.items}


def test_wait_for_job_times_out(client: Client, stub_server: StubServer) -> None:
    stub_server.set_latency(300)
    job = client.run_manual_eval(stub_config(stub_server, 20), options=SLOW)
    with pytest.raises(JobTimeoutError) as info:
        client.wait_for_job(job.job_id, timeout=0.3, poll_interval=0.1)
    assert info.value.job_id == job.job_id
    assert info.value.status in ("queued", "running")
    client.cancel_job(job.job_id)


def test_cancel_a_running_job(client: Client, stub_server: StubServer) -> None:
    stub_server.set_latency(300)
    job = client.run_manual_eval(stub_config(stub_server, 20), options=SLOW)
    for event in client.stream_job(job.job_id):
        if event.type == "trial":
            break
    result = client.cancel_job(job.job_id)
    assert result.job_id == job.job_id
    detail = client.wait_for_job(job.job_id, timeout=60, poll_interval=0.1)
    assert detail.job.status == "cancelled"
    events = list(client.stream_job(job.job_id))
    assert events[-1].type == "end" and events[-1].payload["status"] == "cancelled"
    assert sum(e.type == "trial" for e in events) < 20
    with pytest.raises(ConflictError) as info:
        client.cancel_job(job.job_id)
    assert info.value.status_code == 409


# -- error mapping ---------------------------------------------------------------------------


def test_second_job_while_one_runs_is_a_409(client: Client, stub_server: StubServer) -> None:
    stub_server.set_latency(500)
    job = client.run_manual_eval(stub_config(stub_server, 10), options=SLOW)
    started = time.monotonic()
    with pytest.raises(ConflictError) as info:
        client.run_manual_eval(echo_config(["x"]))
    assert time.monotonic() - started < 2.0  # a 409 on a POST is not retried
    assert info.value.status_code == 409
    assert "already running" in str(info.value.detail)
    assert "already running" in (info.value.response_text or "")
    client.cancel_job(job.job_id)


def test_unknown_things_are_404(client: Client) -> None:
    missing = str(uuid.uuid4())
    for call in (
        lambda: client.get_job(missing),
        lambda: client.get_run(missing),
        lambda: list(client.stream_job(missing)),
        lambda: client.cancel_job(missing),
        lambda: client.get_prompt(unique("nope")),
        lambda: client.get_dataset(unique("nope")),
    ):
        with pytest.raises(NotFoundError) as info:
            call()
        assert info.value.status_code == 404
        assert info.value.detail


def test_bad_requests_are_422_and_400(client: Client) -> None:
    with pytest.raises(ValidationError) as info:
        client.start_job("evaluate", bogus_field=1)  # sent as is: the server refuses it
    assert info.value.status_code == 422
    assert isinstance(info.value.detail, list)
    assert "bogus_field" in str(info.value)

    with pytest.raises(ValidationError) as info:
        client.run_eval(echo_config(["x"]), prompt="p", providers=["echo"])
    assert info.value.status_code == 400

    with pytest.raises(ValidationError) as info:  # checked before sending
        client.set_label("whatever", "production", 0)
    assert info.value.status_code is None

    with pytest.raises(ValueError, match="kind"):
        client.start_job("train")
    with pytest.raises(ValidationError, match="proposer"):
        client.start_job("optimize", config=echo_config(["x"]))  # no proposer model


# -- registry --------------------------------------------------------------------------------


def test_prompts_versions_labels_and_deploy(client: Client) -> None:
    name = unique("greet")
    prompt = client.create_prompt(name, "Hello {{name}}", tags=["greeting"], description="hi")
    assert prompt.name == name and prompt.latest_version == 1 and prompt.tags == ["greeting"]
    with pytest.raises(ConflictError):
        client.create_prompt(name, "again")
    v2 = client.create_prompt_version(name, "Hi {{name}}!", message="friendlier")
    assert v2.version == 2 and v2.name == name
    assert client.create_prompt_version(name, "Hi {{name}}!").version == 2  # same content
    versions = client.list_prompt_versions(name)
    assert [v.version for v in versions.items] == [2, 1]
    assert client.get_prompt_version(name, 1).template == "Hello {{name}}"

    assert client.set_label(name, "production", 1).labels == {"production": 1}
    deployed = client.get_deployed_prompt(name)
    assert deployed.version == 1 and deployed.template == "Hello {{name}}"
    client.set_label(name, "production", 2)
    assert client.get_deployed_prompt(name).version == 1  # cached for the TTL
    assert client.get_deployed_prompt(name, ttl=0).version == 2
    assert client.get_prompt(name).labels == {"production": 2}

    diff = client.diff_prompt_versions(name, 1, 2)
    assert "Hello" in diff["diff"] and "Hi" in diff["diff"]
    assert client.set_prompt_tags(name, ["a", "b"]).tags == ["a", "b"]
    assert name in {p.name for p in client.list_prompts(tag="a").items}
    assert name in {p.name for p in client.list_prompts(search=name).items}

    client.delete_label(name, "production")
    assert client.get_prompt(name).labels == {}
    with pytest.raises(NotFoundError):  # a 404 is an answer, not an outage: no fallback
        client.get_deployed_prompt(name, ttl=0)


def test_datasets(client: Client, tmp_path: Path) -> None:
    name = unique("cases")
    rows = [
        {"vars": {"q": "a"}, "split": "train"},
        {"vars": {"q": "b"}, "split": "train"},
        {"vars": {"q": "c"}, "split": "test", "assert": [{"type": "contains", "value": "c"}]},
    ]
    created = client.create_dataset(name, rows, description="three cases", tags=["t"])
    assert created.name == name and created.row_count == 3 and created.latest_version == 1
    with pytest.raises(ConflictError):
        client.create_dataset(name, rows)
    assert client.get_dataset(name).row_count == 3
    assert name in {d.name for d in client.list_datasets(limit=500).items}
    test_rows = client.dataset_rows(name, split="test")
    assert test_rows.total == 1 and test_rows.items[0]["vars"] == {"q": "c"}
    assert test_rows.items[0]["assert"] == [{"type": "contains", "value": "c"}]

    derived = client.derive_dataset(name, unique("train-only"), split="train")
    assert derived.row_count == 2

    csv_path = tmp_path / "questions.csv"
    csv_path.write_text("question,__expected\nWhat is 2+2?,contains:4\nCapital of France?,Paris\n")
    uploaded = client.upload_dataset(csv_path, unique("csv"))
    assert uploaded.row_count == 2
    jsonl = b'{"vars": {"q": "x"}}\n{"vars": {"q": "y"}}\n{"vars": {"q": "z"}}\n'
    from_bytes = client.upload_dataset(jsonl, unique("jsonl"))
    assert from_bytes.row_count == 3
    again = client.upload_dataset(b'{"vars": {"q": "w"}}\n', from_bytes.name)
    assert again.latest_version == 2 and again.row_count == 1  # a new version
    with pytest.raises(ValidationError) as info:
        client.upload_dataset(b"rows", unique("bad"), filename="rows.txt")
    assert info.value.status_code == 400

    client.delete_dataset(derived.name)
    with pytest.raises(NotFoundError):
        client.get_dataset(derived.name)


def test_run_prompt_eval_from_the_registry(client: Client) -> None:
    prompt, dataset = unique("echoer"), unique("words")
    client.create_prompt(prompt, "Repeat {{word}}")
    client.set_label(prompt, "production", 1)
    client.create_dataset(dataset, [
        {"vars": {"word": w}, "assert": [{"type": "contains", "value": w}]}
        for w in ("red", "green", "blue")
    ])  # fmt: skip
    job = client.run_prompt_eval(f"{prompt}:production", ["echo"], dataset)
    detail = client.wait_for_job(job.job_id, timeout=60, poll_interval=0.05)
    assert detail.job.status == "succeeded"
    assert detail.summary is not None and detail.summary["passed"] == 3

    live = client.run_prompt_eval(f"{prompt}@1", ["echo"], inject_vars={"word": "violet"})
    events = list(client.stream_job(live.job_id))
    trials = [e.payload for e in events if e.type == "trial"]
    assert [t["output"] for t in trials] == ["Repeat violet"]


def test_profiles_and_catalog(client: Client, stub_server: StubServer) -> None:
    name = unique("stub-mini")
    profile = client.create_profile(
        name, "openai:chat:gpt-4o-mini",
        config={"apiBaseUrl": stub_server.base_url, "api_key_env": "STUB_KEY"}, label="stub",
    )  # fmt: skip
    assert profile.name == name and profile.provider_id == "openai:chat:gpt-4o-mini"
    assert name in {p.name for p in client.list_profiles().items}
    with pytest.raises(ValidationError) as info:  # secrets only by env var name
        client.create_profile(unique("leaky"), "openai:gpt-4o", config={"apiKey": "sk-secret"})
    assert info.value.status_code == 400 and "apiKey" in str(info.value)

    catalog = client.catalog()
    assert {"contains", "equals"} <= {s["name"] for s in catalog.scorers}
    assert catalog.providers


# -- auth ------------------------------------------------------------------------------------


def create_token_with_cli(db: str, scope: str) -> str:
    """A token made the operator's way (the CLI on the server's database): the secret."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "promptyard.cli", "token", "create", "--name", f"{scope}-cli",
         "--scope", scope, "--db", db],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1].strip()


def test_auth_errors_and_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'auth.db'}"
    admin_secret = create_token_with_cli(db, "admin")
    with running_server(tmp_path, env={"PROMPTYARD_AUTH": "true"}, db=db) as server:
        monkeypatch.delenv("PROMPTYARD_TOKEN", raising=False)
        with Client(server.url) as anonymous:
            assert anonymous.health().status == "ok"  # health needs no token
            with pytest.raises(AuthenticationError) as info:
                anonymous.list_jobs()
            assert info.value.status_code == 401
        with (
            Client(server.url, token="pyd_not-a-real-token") as bad,
            pytest.raises(AuthenticationError),
        ):
            bad.list_runs()

        monkeypatch.setenv("PROMPTYARD_TOKEN", admin_secret)
        with Client(server.url) as admin:  # the token from the environment
            created = admin.create_token("reader", scopes=["read"], kind="service")
            assert created.secret.startswith("pyd_") and created.scopes == ["read"]
            listed = {t.id: t for t in admin.list_tokens().items}
            assert created.id in listed and "secret" not in (listed[created.id].model_extra or {})
            with Client(server.url, token=created.secret) as reader:
                assert reader.list_jobs().total == 0
                with pytest.raises(PermissionDeniedError) as denied:
                    reader.run_manual_eval(echo_config(["x"]))
                assert denied.value.status_code == 403
                assert isinstance(denied.value, AuthenticationError)
                with pytest.raises(PermissionDeniedError):
                    reader.list_tokens()
                admin.revoke_token(created.id)
                with pytest.raises(AuthenticationError) as revoked:
                    reader.list_jobs()
                assert revoked.value.status_code == 401
