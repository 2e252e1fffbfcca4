"""Jobs that never run twice, and the job API's other edges, through real `promptyard serve`
processes over HTTP (and the SDK where it is the subject), with the stub as the LLM vendor.

Each test is the regression test of one finding of the security review (docs/security.md):
server leases (a second server on the same database leaves a live server's jobs alone, and
takes over a dead one's only once its lease has expired), atomic queue reservation and resume,
replay of resumed jobs to their last `end`, streams whose Last-Event-ID is ahead, the rate
limit on bad tokens, job options checked at submit, the runs total, and names with control
characters. Nothing here sleeps for a fixed time: tests follow event streams or poll with a
deadline that fails.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.serverctl import REPO, ServerProcess, running_server, start_server
from bench.stub_server import StubServer
from promptyard_client import AsyncClient, Client
from tests.pgtools import backend_url
from tests.server.ssetools import Sse, read_stream

LEASE = {"PROMPTYARD_JOB_LEASE_S": "2"}  # short leases: a dead server's jobs free up quickly
DEADLINE_S = 40.0


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The servers' database: a SQLite file, and PostgreSQL where one is reachable."""
    with backend_url(request.param, tmp_path, "security_jobs") as url:
        yield url


def stub_config(stub: StubServer, n: int, *, tag: str = "w") -> dict[str, Any]:
    """n cases on the stub, one call at a time (as slow as the stub's latency makes it)."""
    provider = {"id": "openai:chat:gpt-4o-mini",
                "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test"}}  # fmt: skip
    return {
        "prompts": ["Say {{word}}"],
        "providers": [provider],
        "tests": [{"vars": {"word": f"{tag}{i}"}} for i in range(n)],
        "evaluateOptions": {"maxConcurrency": 1, "cache": False},
    }


def echo_config(n: int = 2) -> dict[str, Any]:
    return {"prompts": ["Say {{word}}"], "providers": ["echo"],
            "tests": [{"vars": {"word": f"e{i}"}} for i in range(n)]}  # fmt: skip


def stub_calls(stub: StubServer) -> int:
    """Chat calls the stub has answered (or started answering), from its control API."""
    stats = httpx.get(f"{stub.root_url}/_control/stats", timeout=10).json()
    return int(stats["by_path"].get("/v1/chat/completions", 0))


def asked_words(stub: StubServer) -> list[str]:
    """The case word of each chat call the stub received, in order ("Say w3" -> "w3")."""
    out = []
    for req in stub.requests:
        if req["path"] == "/v1/chat/completions" and isinstance(req["body"], dict):
            out.append(str(req["body"]["messages"][-1]["content"]).removeprefix("Say "))
    return out


def start(server: ServerProcess, config: dict[str, Any], **extra: Any) -> str:
    resp = httpx.post(f"{server.api}/evaluate", json={"config": config, **extra}, timeout=30)
    assert resp.status_code == 202, resp.text
    job_id: str = resp.json()["job_id"]
    return job_id


def job(server: ServerProcess, job_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = httpx.get(f"{server.api}/jobs/{job_id}", timeout=30).json()
    return detail


def poll(what: str, check: Callable[[], Any], timeout: float = DEADLINE_S) -> Any:
    """check() until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_finished(server: ServerProcess, job_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        detail = job(server, job_id)
        return None if detail["job"]["status"] in ("queued", "running") else detail

    result: dict[str, Any] = poll(f"job {job_id} to finish", finished)
    return result


def first_trials(server: ServerProcess, job_id: str, k: int) -> list[Sse]:
    """Follow the job's stream until its first k trial events (the `step` comes first)."""
    return read_stream(f"{server.api}/jobs/{job_id}/events", stop_after=k + 1)


def follow(server: ServerProcess, job_id: str, **headers: str) -> list[Sse]:
    """Every event until the server closes the stream."""
    return read_stream(f"{server.api}/jobs/{job_id}/events", headers=headers, timeout=60)


def trial_count(server: ServerProcess, run_id: str) -> int:
    return int(httpx.get(f"{server.api}/runs/{run_id}", timeout=30).json()["trial_count"])


def stored_words(server: ServerProcess, run_id: str) -> set[str]:
    """The case words of the trials stored for the run (paid for, kept)."""
    page = httpx.get(f"{server.api}/runs/{run_id}/trials", params={"limit": 1000}, timeout=30)
    return {t["vars"]["word"] for t in page.json()["items"]}


# -- 6: leases: one database, two servers -----------------------------------------------------


def test_a_second_server_that_fails_to_bind_leaves_the_first_servers_job_running(
    tmp_path: Path, db: str, stub_server: StubServer
) -> None:
    """Before: the second server's start-up (which runs before uvicorn binds) marked every
    running job interrupted, so it could be resumed, and paid for, a second time."""
    stub_server.set_latency(300)  # 12 s of work: longer than a server's start-up
    with running_server(tmp_path, db=db) as first:
        job_id = start(first, stub_config(stub_server, 40))
        first_trials(first, job_id, 1)
        port = first.url.rsplit(":", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMPTYARD_", "PYTEST_"))}
        env["PYTHONPATH"] = str(REPO / "src")
        second = subprocess.run(
            [sys.executable, "-m", "promptyard.cli", "serve", "--port", port, "--db", db],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode != 0 and "address already in use" in second.stderr
        assert job(first, job_id)["job"]["status"] == "running"
        stub_server.set_latency(0)
        events = follow(first, job_id)
        assert events[-1].event == "end" and events[-1].json["payload"]["status"] == "succeeded"
        assert [e.event for e in events].count("end") == 1
    assert stub_calls(stub_server) == 40  # every trial paid once


def test_a_live_servers_job_cannot_be_resumed_elsewhere_and_a_dead_ones_is_taken_over_once(
    tmp_path: Path, db: str, stub_server: StubServer
) -> None:
    stub_server.set_latency(300)  # 12 s of work: it outlasts the second server's start-up
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_server(tmp_path / "a", db=db, env=LEASE)
    try:
        job_id = start(first, stub_config(stub_server, 40))
        first_trials(first, job_id, 2)
        with running_server(tmp_path / "b", db=db, env=LEASE) as second:
            # The first server is alive: its job stays running, and is not the second's to run.
            assert job(second, job_id)["job"]["status"] == "running"
            refused = httpx.post(f"{second.api}/jobs/{job_id}/resume", timeout=30)
            assert refused.status_code == 409, refused.text
            assert "alive" in refused.json()["detail"]
            assert job(first, job_id)["job"]["status"] == "running"

            first.kill()  # kill -9: no clean-up, its lease is left to expire
            poll("the second server to mark the job interrupted",
                 lambda: job(second, job_id)["job"]["status"] == "interrupted")  # fmt: skip
            run_id = job(second, job_id)["job"]["run_id"]
            stored = trial_count(second, run_id)
            assert 0 < stored < 40
            done_words = stored_words(second, run_id)
            assert len(done_words) == stored
            before = stub_calls(stub_server)
            seen = len(stub_server.requests)
            stub_server.set_latency(0)
            resp = httpx.post(f"{second.api}/jobs/{job_id}/resume", timeout=30)
            assert resp.status_code == 202, resp.text
            end = follow(second, job_id)[-1]
            assert end.event == "end" and end.json["payload"]["status"] == "succeeded"
            assert trial_count(second, run_id) == 40
            assert stub_calls(stub_server) - before == 40 - stored  # only the missing trials
            assert not done_words & set(asked_words(stub_server)[seen:])  # none paid twice
    finally:
        if first.proc.poll() is None:
            first.kill()


def test_a_stalled_server_loses_its_job_once_its_lease_expires_and_stops_it_on_waking(
    tmp_path: Path, db: str, stub_server: StubServer
) -> None:
    """A frozen server (SIGSTOP: its process is alive, so only the lease can tell) keeps its
    job until its lease expires; then another server marks the job interrupted, the frozen
    one stops it when it wakes (its lease is gone), and a resume elsewhere runs only the
    missing trials, once."""
    stub_server.set_latency(1000)  # a call in flight most of the time: freeze it there
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_server(tmp_path / "a", db=db, env=LEASE)
    try:
        job_id = start(first, stub_config(stub_server, 40))
        first_trials(first, job_id, 2)
        with running_server(tmp_path / "b", db=db, env=LEASE) as second:
            poll("a call in flight", lambda: stub_server.stats()["in_flight"] == 1)
            first.proc.send_signal(signal.SIGSTOP)  # between transactions: no lock held
            frozen = time.monotonic()
            poll("the second server to take the job over",
                 lambda: job(second, job_id)["job"]["status"] == "interrupted")  # fmt: skip
            assert time.monotonic() - frozen > 1.0  # not before the lease (2 s) had run out
            stub_server.set_latency(0)
            first.proc.send_signal(signal.SIGCONT)

            def stopped_by_the_first() -> bool:
                return any(e["type"] == "end" for e in job(second, job_id)["events"])

            poll("the woken server to stop its job", stopped_by_the_first)
            assert "lost its job lease" in first.output()
            detail = job(second, job_id)
            assert detail["job"]["status"] == "interrupted"
            run_id = detail["job"]["run_id"]
            stored = trial_count(second, run_id)
            done_words = stored_words(second, run_id)
            before, seen = stub_calls(stub_server), len(stub_server.requests)
            resp = httpx.post(f"{second.api}/jobs/{job_id}/resume", timeout=30)
            assert resp.status_code == 202, resp.text
            events = follow(second, job_id)
            assert events[-1].json["payload"]["status"] == "succeeded"
            assert [e.event for e in events].count("end") == 2  # interrupted, succeeded
            assert trial_count(second, run_id) == 40
            assert stub_calls(stub_server) - before == 40 - stored
            assert not done_words & set(asked_words(stub_server)[seen:])
            assert first.proc.poll() is None  # the first server lives on, serving
            assert httpx.get(f"{first.api}/health", timeout=30).status_code == 200
    finally:
        if first.proc.poll() is None:
            first.proc.send_signal(signal.SIGCONT)
            first.stop()


# -- 7: queue reservation and resume are atomic -----------------------------------------------


def fire_at_once(n: int, send: Callable[[httpx.Client], httpx.Response]) -> list[httpx.Response]:
    """n requests from n threads released together by a barrier."""
    barrier = threading.Barrier(n)
    out: list[httpx.Response | None] = [None] * n

    def worker(i: int) -> None:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            out[i] = send(http)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert all(r is not None for r in out)
    return [r for r in out if r is not None]


def test_concurrent_submissions_never_pass_the_queue_limit(
    tmp_path: Path, db: str, stub_server: StubServer
) -> None:
    """One job runs and six may wait: of 20 submissions at once, 7 are accepted."""
    stub_server.set_latency(8000)  # the first job outlasts every submission
    env = {"PROMPTYARD_QUEUE_LENGTH": "6"}
    with running_server(tmp_path, db=db, env=env) as s:
        config = stub_config(stub_server, 1)
        answers = fire_at_once(20, lambda http: http.post(f"{s.api}/evaluate",
                                                          json={"config": config}))  # fmt: skip
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] * 7 + [429] * 13, codes
        assert all("queue is full" in r.json()["detail"] for r in answers if r.status_code == 429)
        listed = httpx.get(f"{s.api}/jobs", params={"limit": 100}, timeout=30).json()
        assert listed["total"] == 7


def test_concurrent_resumes_run_the_job_once(
    tmp_path: Path, db: str, stub_server: StubServer
) -> None:
    stub_server.set_latency(200)
    with running_server(tmp_path, db=db, env={"PROMPTYARD_QUEUE_LENGTH": "4"}) as s:
        job_id = start(s, stub_config(stub_server, 10))
        first_trials(s, job_id, 2)
        assert httpx.post(f"{s.api}/jobs/{job_id}/cancel", timeout=30).status_code == 202
        detail = wait_finished(s, job_id)
        assert detail["job"]["status"] == "cancelled"
        stored = trial_count(s, detail["job"]["run_id"])
        assert 0 < stored < 10
        before = stub_calls(stub_server)
        stub_server.set_latency(50)
        answers = fire_at_once(6, lambda http: http.post(f"{s.api}/jobs/{job_id}/resume"))
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] + [409] * 5, [r.text for r in answers]
        assert follow(s, job_id)[-1].json["payload"]["status"] == "succeeded"
        done = job(s, job_id)
        assert done["job"]["status"] == "succeeded"
        assert stub_calls(stub_server) - before == 10 - stored  # once, not once per resume
        assert [e["type"] for e in done["events"]].count("end") == 2  # cancelled, succeeded
        assert trial_count(s, done["job"]["run_id"]) == 10


# -- 8: replay of a resumed job, and Last-Event-ID ahead --------------------------------------


def test_a_resumed_jobs_stream_and_replay_reach_the_final_end(
    tmp_path: Path, db: str, stub_server: StubServer
) -> None:
    """The log of a cancelled-then-resumed job holds two `end` events: the stream, live or
    replayed, and the SDK's stream_job must not stop at the first."""
    stub_server.set_latency(150)
    with running_server(tmp_path, db=db) as s:
        job_id = start(s, stub_config(stub_server, 8))
        first_trials(s, job_id, 2)
        assert httpx.post(f"{s.api}/jobs/{job_id}/cancel", timeout=30).status_code == 202
        assert wait_finished(s, job_id)["job"]["status"] == "cancelled"
        assert httpx.post(f"{s.api}/jobs/{job_id}/resume", timeout=30).status_code == 202
        live = follow(s, job_id)  # replays the first part, then follows the resumed run
        with Client(s.url) as client:
            sdk_live = list(client.stream_job(job_id))
        detail = wait_finished(s, job_id)
        assert detail["job"]["status"] == "succeeded"
        stored = [e["seq"] for e in detail["events"]]
        assert [e["type"] for e in detail["events"]].count("end") == 2
        for events in (live, follow(s, job_id)):  # live, then a replay of the finished job
            assert [int(e.id or 0) for e in events] == stored
            assert events[-1].event == "end"
            assert events[-1].json["payload"]["status"] == "succeeded"
        assert [e.seq for e in sdk_live] == stored
        with Client(s.url) as client:
            replay = list(client.stream_job(job_id))
            tail = list(client.stream_job(job_id, after=3))

        async def async_replay() -> list[int]:
            async with AsyncClient(s.url) as aclient:
                return [e.seq async for e in aclient.stream_job(job_id)]

        for seqs in ([e.seq for e in replay], asyncio.run(async_replay())):
            assert seqs == stored
        assert [e.seq for e in tail] == stored[3:]
        assert replay[-1].type == "end" and replay[-1].payload["status"] == "succeeded"


def test_a_stream_whose_last_event_id_is_ahead_closes_when_the_job_ends(
    tmp_path: Path, db: str, stub_server: StubServer
) -> None:
    stub_server.set_latency(150)
    with running_server(tmp_path, db=db) as s:
        job_id = start(s, stub_config(stub_server, 6))
        first_trials(s, job_id, 1)
        got: list[list[Sse]] = []
        reader = threading.Thread(
            target=lambda: got.append(follow(s, job_id, **{"Last-Event-ID": "1000000"})),
            daemon=True,
        )
        reader.start()
        wait_finished(s, job_id)
        reader.join(DEADLINE_S)
        assert not reader.is_alive(), "the stream stayed open after the job ended"
        assert got == [[]]  # nothing after seq 1000000, and closed
        # A finished job's stream with Last-Event-ID ahead closes at once, too.
        assert follow(s, job_id, **{"Last-Event-ID": "1000000"}) == []


# -- 10: bad tokens, options, runs total, names -----------------------------------------------


def test_bad_tokens_count_toward_the_per_client_rate_limit(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'auth.db'}"
    out = subprocess.run(
        [sys.executable, "-m", "promptyard.cli", "token", "create", "--name", "reader",
         "--scope", "read", "--db", db],
        capture_output=True, text=True, check=True, env={"PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    good = {"Authorization": f"Bearer {out.stdout.strip().splitlines()[-1]}"}
    env = {"PROMPTYARD_AUTH": "true", "PROMPTYARD_RATE_LIMIT_PER_MINUTE": "5"}
    with running_server(tmp_path, db=db, env=env) as s:
        codes = []
        for i in range(7):
            bad = {"Authorization": f"Bearer pyd_guess{i}"} if i % 2 else {}  # bad or missing
            codes.append(httpx.get(f"{s.api}/jobs", headers=bad, timeout=30).status_code)
        assert codes == [401] * 5 + [429] * 2
        limited = httpx.get(f"{s.api}/jobs", headers={"Authorization": "Bearer pyd_x"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        # The limit is on requests without a valid token: a valid one is counted on its own.
        assert httpx.get(f"{s.api}/jobs", headers=good, timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"repeat": "many"}, "options.repeat"),
        ({"max_concurrency": 0}, "options.max_concurrency"),
        ({"cache": {"on": True}}, "options.cache"),
        ({"filter_first_n": -1}, "options.filter_first_n"),
        ({"repeats": 2}, "options.repeats"),  # unknown keys are refused, not ignored
    ],
)
def test_job_options_are_checked_at_submit(
    tmp_path: Path, options: dict[str, Any], field: str
) -> None:
    with running_server(tmp_path) as s:
        for kind in ("evaluate", "run"):
            resp = httpx.post(f"{s.api}/{kind}", json={"config": echo_config(), "options": options})
            assert resp.status_code == 400, resp.text
            assert field in resp.json()["detail"]
        assert httpx.get(f"{s.api}/jobs").json()["total"] == 0  # nothing was accepted
        ok = start(s, echo_config(2), options={"repeat": 2, "max_concurrency": 1})
        assert wait_finished(s, ok)["summary"]["total"] == 4


def test_runs_total_counts_every_run(tmp_path: Path) -> None:
    with running_server(tmp_path) as s:
        for _ in range(3):
            wait_finished(s, start(s, echo_config()))
        page = httpx.get(f"{s.api}/runs", params={"limit": 1}).json()
        assert page["total"] == 3 and len(page["items"]) == 1
        page = httpx.get(f"{s.api}/runs", params={"limit": 1, "offset": 2}).json()
        assert page["total"] == 3 and len(page["items"]) == 1
        assert httpx.get(f"{s.api}/runs", params={"offset": 5}).json()["total"] == 3


BAD_NAMES = ["a\x00b", "a\x01b", "a\nb", "a\tb", "a\x1bb", "a\x7fb", "a\x85b"]


def test_names_refuse_nul_and_control_characters(tmp_path: Path, db: str) -> None:
    with running_server(tmp_path, db=db) as s:
        a = s.api
        for i, bad in enumerate(BAD_NAMES):
            answers = {
                "token": httpx.post(f"{a}/tokens", json={"name": bad, "scopes": ["read"]}),
                "prompt project": httpx.post(f"{a}/prompts", json={"name": f"p{i}",
                                             "template": "t", "project": bad}),
                "dataset project": httpx.post(f"{a}/datasets", json={"name": f"d{i}",
                                              "rows": [], "project": bad}),
                "upload project": httpx.post(f"{a}/datasets/upload", data={"name": f"u{i}",
                                             "project": bad},
                                             files={"file": ("x.csv", b"a\n1\n")}),
                "profile project": httpx.post(f"{a}/profiles", json={"name": f"f{i}",
                                              "provider_id": "echo", "project": bad}),
                "profile label": httpx.post(f"{a}/profiles", json={"name": f"g{i}",
                                            "provider_id": "echo", "label": bad}),
            }  # fmt: skip
            for what, resp in answers.items():
                assert resp.status_code in (400, 422), (what, repr(bad), resp.text)
        assert httpx.get(f"{a}/tokens").json() == []
        assert httpx.get(f"{a}/profiles").json() == []
        for kind in ("prompts", "datasets"):
            listed = httpx.get(f"{a}/{kind}", params={"limit": 500}).json()["items"]
            assert not [p for p in listed if any(unprintable(c) for c in p["project"] or "")]


def unprintable(c: str) -> bool:
    return ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0
