"""The asynchronous SDK against a real `promptyard serve` subprocess (127.0.0.1, random port).

The same ground as test_sdk_sync.py, awaited: events streamed, replayed, two streams at once
(asyncio.gather), a stream closed and resumed, waiting, cancelling, the error mapping, and the
registry round trip to get_deployed_prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.serverctl import ServerProcess, running_server
from bench.stub_server import StubServer
from promptyard_client import (
    AsyncClient,
    AuthenticationError,
    ConflictError,
    JobEvent,
    JobTimeoutError,
    NotFoundError,
    ValidationError,
)
from tests.server.sdktools import stop_leftover_jobs, unique

SLOW = {"max_concurrency": 1, "cache": False}


def echo_config(words: list[str]) -> dict[str, Any]:
    return {
        "prompts": ["Say {{word}}"],
        "providers": ["echo"],
        "tests": [
            {"vars": {"word": w}, "assert": [{"type": "contains", "value": w}]} for w in words
        ],
    }


def stub_config(stub: StubServer, cases: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    provider = {"id": "openai:chat:gpt-4o-mini",
                "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test"}}  # fmt: skip
    return {"prompts": ["Answer {{q}}"], "providers": [provider],
            "tests": [{"vars": {"q": f"{tag}-{i}"}} for i in range(cases)]}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("sdk-async")) as proc:
        yield proc


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server.url) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_job_left(server: ServerProcess) -> Iterator[None]:
    yield
    stop_leftover_jobs(server.url)


async def collect(client: AsyncClient, job_id: str, after: int = 0) -> list[JobEvent]:
    return [event async for event in client.stream_job(job_id, after=after)]


def seqs(events: list[JobEvent]) -> list[int]:
    return [e.seq for e in events]


async def test_health_with_url_and_token_from_the_environment(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTYARD_URL", server.url)
    monkeypatch.setenv("PROMPTYARD_TOKEN", "pyd_ignored-while-auth-is-off")
    async with AsyncClient() as c:
        assert c.base_url == server.url
        assert (await c.health()).status == "ok"
        assert (await c.list_jobs()).limit == 50  # auth off: any token is fine


async def test_manual_eval_streams_every_trial_then_replays(client: AsyncClient) -> None:
    words = ["north", "south", "east", "west"]
    job = await client.run_manual_eval(echo_config(words))
    events = await collect(client, job.job_id)
    assert [e.type for e in events] == ["step"] + ["trial"] * 4 + ["end"]
    assert seqs(events) == list(range(1, 7))
    outputs = sorted(e.payload["output"] for e in events if e.type == "trial")
    assert outputs == sorted(f"Say {w}" for w in words)
    assert events[-1].payload["status"] == "succeeded"
    replay = await collect(client, job.job_id)
    assert [e.model_dump() for e in replay] == [e.model_dump() for e in events]
    assert seqs(await collect(client, job.job_id, after=5)) == [6]


async def test_two_streams_at_once(client: AsyncClient, stub_server: StubServer) -> None:
    stub_server.set_latency(150)
    job = await client.run_manual_eval(stub_config(stub_server, 6), options=SLOW)
    a, b = await asyncio.gather(collect(client, job.job_id), collect(client, job.job_id))
    assert seqs(a) == seqs(b) == list(range(1, 9))
    assert a[-1].type == "end" and a[-1].payload["status"] == "succeeded"


async def test_resume_after_the_stream_is_closed(
    client: AsyncClient, stub_server: StubServer
) -> None:
    stub_server.set_latency(120)
    job = await client.run_manual_eval(stub_config(stub_server, 6), options=SLOW)
    first: list[JobEvent] = []
    async with contextlib.aclosing(client.stream_job(job.job_id)) as stream:
        async for event in stream:
            first.append(event)
            if len(first) == 2:
                break  # aclosing closes the HTTP response now
    rest = await collect(client, job.job_id, after=first[-1].seq)
    assert seqs(first + rest) == list(range(1, 9))
    assert rest[-1].type == "end"


async def test_wait_for_job_and_run(client: AsyncClient) -> None:
    job = await client.run_manual_eval(echo_config(["a", "b"]))
    detail = await client.wait_for_job(job.job_id, timeout=60, poll_interval=0.05)
    assert detail.job.status == "succeeded" and detail.events[-1].type == "end"
    run = await client.wait_for_run(job.job_id, timeout=60, poll_interval=0.05)
    assert run.id == detail.job.run_id and run.trial_count == 2
    assert (await client.run_trials(run.id)).total == 2
    assert "<testsuite" in await client.run_report(run.id, "junit")
    assert (await client.compare_runs(run.id, run.id))["verdict"]


async def test_timeout_cancel_and_409(client: AsyncClient, stub_server: StubServer) -> None:
    stub_server.set_latency(400)
    job = await client.run_manual_eval(stub_config(stub_server, 20), options=SLOW)
    with pytest.raises(JobTimeoutError):
        await client.wait_for_job(job.job_id, timeout=0.2, poll_interval=0.05)
    with pytest.raises(ConflictError) as busy:
        await client.run_manual_eval(echo_config(["x"]))
    assert busy.value.status_code == 409 and "already running" in str(busy.value.detail)
    await client.cancel_job(job.job_id)
    detail = await client.wait_for_job(job.job_id, timeout=60, poll_interval=0.1)
    assert detail.job.status == "cancelled"
    with pytest.raises(ConflictError):
        await client.cancel_job(job.job_id)


async def test_error_mapping(client: AsyncClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        await client.get_job(str(uuid.uuid4()))
    assert missing.value.status_code == 404
    with pytest.raises(NotFoundError):
        await collect(client, str(uuid.uuid4()))
    with pytest.raises(ValidationError) as invalid:
        await client.start_job("evaluate", providers="not-a-list-of-providers", extra=True)
    assert invalid.value.status_code == 422
    with pytest.raises(ValidationError) as refused:  # no prompt reference, no config
        await client.run_eval(providers=["echo"])
    assert refused.value.status_code == 400


async def test_401_without_a_token(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"PROMPTYARD_AUTH": "true"}) as server:
        async with AsyncClient(server.url, token="") as c:
            assert (await c.health()).status == "ok"
            with pytest.raises(AuthenticationError) as info:
                await c.get_job(str(uuid.uuid4()))
            assert info.value.status_code == 401
            with pytest.raises(AuthenticationError):
                await collect(c, str(uuid.uuid4()))


async def test_registry_round_trip(client: AsyncClient, tmp_path: Path) -> None:
    name, dataset = unique("async-greet"), unique("async-words")
    await client.create_prompt(name, [{"role": "user", "content": "Echo {{word}}"}])
    await client.set_label(name, "staging", 1)
    deployed = await client.get_deployed_prompt(name, "staging")
    assert deployed.version == 1 and deployed.template[0]["content"] == "Echo {{word}}"
    assert (await client.get_prompt(name)).labels == {"staging": 1}

    path = tmp_path / "words.jsonl"
    path.write_text('{"vars": {"word": "sun"}}\n{"vars": {"word": "moon"}}\n')
    uploaded = await client.upload_dataset(path, dataset)
    assert uploaded.row_count == 2
    rows = await client.dataset_rows(dataset)
    assert [r["vars"]["word"] for r in rows.items] == ["sun", "moon"]

    job = await client.run_prompt_eval(f"{name}:staging", ["echo"], dataset)
    events = await collect(client, job.job_id)
    assert sum(e.type == "trial" for e in events) == 2
    assert events[-1].payload["status"] == "succeeded"

    await client.delete_dataset(dataset)
    with pytest.raises(NotFoundError):
        await client.get_dataset(dataset)
    assert (await client.catalog()).scorers
    profile = await client.create_profile(unique("echo-profile"), "echo")
    assert profile.name in {p.name for p in (await client.list_profiles()).items}
