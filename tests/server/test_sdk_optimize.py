"""The SDK's optimization calls against a real `promptyard serve` subprocess.

The task is the built-in `echo` provider (the output is the rendered prompt) and every case
asserts the output contains "please", so the seed scores 0 and "Please <seed>" scores 1. The
proposer is a scripted model on the stub: it prepends "Please" when the prompt lacks it (the
winner), and otherwise answers a no-better variant (rejected on validation).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bench.serverctl import ServerProcess, running_server
from bench.stub_server import StubServer
from bench.task_model import please_proposer
from promptyard_client import (
    AsyncClient,
    Client,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from tests.server.sdktools import stop_leftover_jobs, unique

PROPOSER = "sdk-proposer"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("sdk-optimize")) as proc:
        yield proc


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_job_left(server: ServerProcess) -> Iterator[None]:
    yield
    stop_leftover_jobs(server.url)


def install_proposer(stub: StubServer) -> dict[str, Any]:
    """The scripted proposer on the stub, and the provider entry that reaches it."""
    stub.add_model(PROPOSER, please_proposer())
    return {"id": f"openai:chat:{PROPOSER}",
            "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test"}}  # fmt: skip


def seed_prompt(tag: str) -> str:
    """A seed unique to the test: nothing is answered from another test's cache."""
    return f"Answer ({tag}): {{{{q}}}}"


def rows(cases: int = 30) -> list[dict[str, Any]]:
    return [{"vars": {"q": f"q{i}"}, "assert": [{"type": "icontains", "value": "please"}]}
            for i in range(cases)]  # fmt: skip


def config(tag: str) -> dict[str, Any]:
    return {"prompts": [seed_prompt(tag)], "providers": ["echo"], "tests": rows()}


QUICK = {"max_cycles": 5, "patience": 1}  # accept the winner, reject one variant, stop


def test_list_optimizers_with_their_parameters(client: Client) -> None:
    infos = {info.name: info for info in client.list_optimizers()}
    assert {"instruct", "fewshot", "mipro", "gepa"} <= set(infos)
    assert all(info.description and info.params for info in infos.values())
    candidates = {p.name: p for p in infos["instruct"].params}["candidates"]
    assert (candidates.type, candidates.default, candidates.range) == ("int", 1, [1, 8])
    assert infos["instruct"].needs_proposer and not infos["fewshot"].needs_proposer


def test_submit_wait_iterations_best_and_save_deploys_the_winner(
    client: Client, stub_server: StubServer
) -> None:
    tag = unique("opt")
    seed, winner = seed_prompt(tag), f"Please {seed_prompt(tag)}"
    job = client.submit_optimization(config=config(tag), proposer_model=install_proposer(
        stub_server), options=QUICK)  # fmt: skip
    opt = client.wait_for_optimization(job.job_id, timeout=120, poll_interval=0.1)
    assert (opt.job.status, opt.job.kind, opt.optimizer) == ("succeeded", "optimize", "instruct")
    assert opt.result is not None
    assert (opt.result["seed_prompt"], opt.result["best_prompt"]) == (seed, winner)
    assert (opt.result["seed_test"], opt.result["best_test"]) == (0.0, 1.0)
    assert opt.result["stopped"] == "no accepted candidate in 1 cycles"
    assert opt.best is not None and (opt.best.step, opt.best.prompt) == (1, winner)

    by_step = client.list_iterations(job.job_id)
    assert [(i.step, i.parent, i.accepted) for i in by_step] == [
        (0, None, True), (1, 0, True), (2, 1, False)]  # fmt: skip
    assert opt.iterations == 3
    assert by_step[0].prompt == seed and by_step[2].prompt == f"{winner} (variant 1)"
    assert [i.val_score for i in by_step] == [0.0, 1.0, 1.0]
    assert [i.test_score for i in by_step] == [0.0, 1.0, None]  # the seed and the winner only
    assert by_step[1].decision is not None and by_step[1].decision["accepted"]
    assert by_step[2].decision is not None and not by_step[2].decision["accepted"]
    by_val = client.list_iterations(job.job_id, order="val")
    assert [i.step for i in by_val] == [1, 2, 0]  # best first; a tie keeps step order
    best = client.get_best_iteration(job.job_id)
    assert (best.step, best.prompt, best.accepted) == (1, winner, True)

    name = unique("greeting")  # the job ran a config: the prompt is new in the registry
    saved = client.save_optimization(job.job_id, name=name, label="production")
    assert (saved.name, saved.version, saved.label, saved.step) == (name, 1, "production", 1)
    assert client.get_deployed_prompt(name, ttl=0).template == winner
    again = client.save_optimization(job.job_id, name=name, step=0, label="staging",
                                     message="the seed")  # fmt: skip
    assert (again.version, again.step) == (2, 0)
    version = client.get_prompt_version(name, 2)
    assert (version.template, version.message) == (seed, "the seed")
    assert client.get_prompt(name).labels == {"production": 1, "staging": 2}
    with pytest.raises(NotFoundError):
        client.save_optimization(job.job_id, name=name, step=99)


def test_optimize_a_registry_prompt_then_deploy_it_in_place(
    client: Client, stub_server: StubServer
) -> None:
    tag = unique("reg")
    name, dataset = unique("support"), unique("cases")
    client.create_prompt(name, seed_prompt(tag))
    client.create_dataset(dataset, rows())
    job = client.submit_optimization(prompt=name, dataset=dataset, model="echo",
                                     proposer_model=install_proposer(stub_server),
                                     options=QUICK, budgets={"max_cost_usd": 5.0})  # fmt: skip
    opt = client.wait_for_optimization(job.job_id, timeout=120, poll_interval=0.1)
    assert opt.job.status == "succeeded", opt.job.error
    saved = client.save_optimization(job.job_id, label="production")  # the source prompt
    assert (saved.name, saved.version, saved.step) == (name, 2, 1)
    deployed = client.get_deployed_prompt(name, ttl=0)
    assert (deployed.version, deployed.template) == (2, f"Please {seed_prompt(tag)}")


def test_a_call_budget_stops_the_search(client: Client, stub_server: StubServer) -> None:
    job = client.submit_optimization(config=config(unique("calls")), options=QUICK,
                                     proposer_model=install_proposer(stub_server),
                                     budgets={"max_calls": 40})  # fmt: skip
    opt = client.wait_for_optimization(job.job_id, timeout=120, poll_interval=0.1)
    assert opt.job.status == "succeeded", opt.job.error
    assert opt.result is not None and opt.result["calls"] <= 40
    assert opt.result["stopped"].startswith("budget")


def test_cancel_keeps_the_best_so_far(client: Client, stub_server: StubServer) -> None:
    stub_server.set_latency(300)  # each proposal takes 0.3 s: the search is still running
    tag = unique("cancel")
    job = client.submit_optimization(config=config(tag), proposer_model=install_proposer(
        stub_server), options={"max_cycles": 200, "patience": 200})  # fmt: skip
    deadline = time.monotonic() + 60
    while (best := client.get_optimization(job.job_id).best) is None or best.step < 1:
        assert time.monotonic() < deadline, "the winner was never accepted"
        time.sleep(0.05)
    assert client.cancel_optimization(job.job_id).job_id == job.job_id
    opt = client.wait_for_optimization(job.job_id, timeout=60, poll_interval=0.1)
    assert opt.job.status == "cancelled"
    assert opt.result is not None and opt.result["stopped"] == "cancelled"
    assert opt.result["best_prompt"] == f"Please {seed_prompt(tag)}"
    assert opt.result["best_test"] is None  # a cancelled search is not scored on test
    assert opt.best is not None and opt.best.step == 1
    assert 2 <= opt.iterations < 50
    with pytest.raises(ConflictError):
        client.cancel_optimization(job.job_id)


def test_bad_requests_and_other_jobs(client: Client) -> None:
    with pytest.raises(ValidationError) as refused:  # refused before sending
        client.submit_optimization(config=config("x"), budgets={"max_calls": -1})
    assert refused.value.status_code is None
    with pytest.raises(ValidationError) as unknown:
        client.submit_optimization(config=config("x"), optimizer="nope", proposer_model="echo")
    assert unknown.value.status_code == 400 and "nope" in str(unknown.value.detail)
    with pytest.raises(ValidationError) as bad:
        client.submit_optimization(config=config("x"), proposer_model="echo",
                                   hyperparameters={"candidates": 99})  # fmt: skip
    assert bad.value.status_code == 400 and "candidates" in str(bad.value.detail)
    evaluation = client.run_manual_eval(config("x"))
    client.wait_for_job(evaluation.job_id, timeout=60, poll_interval=0.1)
    with pytest.raises(NotFoundError):
        client.get_optimization(evaluation.job_id)  # an evaluate job is no optimization
    with pytest.raises(NotFoundError):
        client.wait_for_optimization(str(uuid.uuid4()), timeout=1)


async def test_async_client_runs_the_same_flow(
    server: ServerProcess, stub_server: StubServer
) -> None:
    tag = unique("async")
    winner = f"Please {seed_prompt(tag)}"
    async with AsyncClient(server.url) as client:
        assert "gepa" in {info.name for info in await client.list_optimizers()}
        proposer = install_proposer(stub_server)
        job = await client.submit_optimization(config=config(tag), proposer_model=proposer,
                                               options=QUICK)  # fmt: skip
        opt = await client.wait_for_optimization(job.job_id, timeout=120, poll_interval=0.1)
        assert opt.job.status == "succeeded" and opt.best is not None
        assert [i.step for i in await client.list_iterations(job.job_id, order="val")] == [1, 2, 0]
        assert (await client.get_best_iteration(job.job_id)).prompt == winner
        name = unique("async-prompt")
        saved = await client.save_optimization(job.job_id, name=name, label="production")
        assert saved.version == 1
        assert (await client.get_deployed_prompt(name, ttl=0)).template == winner
        with pytest.raises(ConflictError):
            await client.cancel_optimization(job.job_id)  # it has finished
